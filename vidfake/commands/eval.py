"""`vidfake eval`: a checkpoint's metrics on a labelled split of shards, or on a devset folder."""

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path

from vidfake.exitcodes import EXIT_FAILED, EXIT_OK, EXIT_SOME_FAILED
from vidfake.models.tta import TTA_MODES


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the `eval` subcommand."""
    p = subparsers.add_parser(
        "eval",
        help="metrics of a checkpoint on a labelled split or a devset of real deepfakes",
        description="With --data: ROC AUC, AP, log loss, accuracy and EER at sequence and video "
        "level on a split of a shards folder; ROC points and predictions go to --out (a folder). "
        "With --devset: scan a labelled folder (labels.csv, or real/ and fake/) once per scan "
        "settings into cached shards, score it, and report video ROC AUC with bootstrap 95% "
        "intervals overall, per source and per dataset, and accuracy/TPR/FPR at the "
        "checkpoint's threshold; the figures go to --out (a JSON file). Exit code 1 when some "
        "devset videos could not be scanned (they count with score 0.5).",
    )
    p.add_argument(
        "--model",
        required=True,
        help="checkpoint folder, `default` (the bundled detector) or a model with published "
        "weights (e.g. meso4.df)",
    )
    data = p.add_mutually_exclusive_group(required=True)
    data.add_argument("--data", type=Path, help="shards folder")
    data.add_argument("--devset", type=Path, help="labelled folder of videos")
    p.add_argument("--split", default="test", help="split of --data to evaluate (default: test)")
    p.add_argument(
        "--out", type=Path, help="--data: folder for metrics.json and more; --devset: JSON file"
    )
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument(
        "--tta",
        choices=TTA_MODES,
        help="test-time augmentation (default: what the checkpoint records)",
    )
    p.add_argument(
        "--cache",
        type=Path,
        default=Path("runs") / "devset-shards",
        help="folder of the cached devset scans (default: runs/devset-shards)",
    )
    p.add_argument("--resamples", type=int, default=2000, help="bootstrap resamples (2000)")
    p.add_argument("--seed", type=int, default=0, help="bootstrap seed (default: 0)")
    p.add_argument("--workers", type=int, help="CPUs of the local Ray that scans (default: all)")
    p.add_argument("--rescan", action="store_true", help="rebuild the cached devset scan")
    p.add_argument("--no-progress", action="store_true", help="no progress bars")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Evaluate and print the figures; exit 3 when the checkpoint cannot be used."""
    from vidfake.checkpoint import CheckpointError

    try:
        return _devset(args) if args.devset is not None else _shards(args)
    except CheckpointError as exc:
        print(f"vidfake eval: error: {exc}", file=sys.stderr)
        return EXIT_FAILED


def _shards(args: argparse.Namespace) -> int:
    """Metrics on a split of a shards folder, printed as JSON."""
    from vidfake.devset import model_checkpoint
    from vidfake.evaluate import evaluate

    ckpt = model_checkpoint(args.model)
    result = evaluate(ckpt, args.data, args.split, args.out, args.batch_size, tta=args.tta)
    clean = {k: (None if isinstance(v, float) and math.isnan(v) else v) for k, v in result.items()}
    print(json.dumps(clean, indent=2))
    return EXIT_OK


def _devset(args: argparse.Namespace) -> int:
    """Figures on a devset folder, printed as a table; exit 1 when some videos failed."""
    from vidfake.devset import evaluate_devset, format_table

    report = evaluate_devset(
        args.devset,
        args.model,
        args.out,
        cache_dir=args.cache,
        workers=args.workers,
        batch_size=args.batch_size,
        tta=args.tta,
        resamples=args.resamples,
        seed=args.seed,
        rescan=args.rescan,
        progress=not args.no_progress,
    )
    scan = report.metrics["scan"]
    print(format_table(report.metrics))
    print(
        f"\nscan: {scan['scanned']} scanned, {scan['reused']} reused from {scan['shards']} "
        f"({scan['seconds']:.1f} s); scoring {report.metrics['score_seconds']:.1f} s"
        + (f" -> {report.out}" if report.out else "")
    )
    for row in report.metrics["videos"]:
        if row["status"] != "ok":
            print(f"  {row['status']}: {row['path']}: {row['error']}", file=sys.stderr)
    return EXIT_SOME_FAILED if report.errors else EXIT_OK
