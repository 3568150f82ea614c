"""`vidfake eval`: a checkpoint's metrics on a labelled split of face-track shards."""

from __future__ import annotations

import argparse
import json
import math
from pathlib import Path

from vidfake.models.tta import TTA_MODES


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the `eval` subcommand."""
    p = subparsers.add_parser(
        "eval",
        help="metrics of a checkpoint on a labelled split",
        description="ROC AUC, AP, log loss, accuracy and EER at sequence and video level; "
        "ROC points and predictions are written to --out.",
    )
    p.add_argument("--model", required=True, type=Path, help="checkpoint folder (e.g. RUN/best)")
    p.add_argument("--data", required=True, type=Path, help="shards folder")
    p.add_argument("--split", default="test", help="split to evaluate (default: test)")
    p.add_argument("--out", type=Path, help="folder for metrics.json, roc_*.csv, predictions.csv")
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument(
        "--tta",
        choices=TTA_MODES,
        help="test-time augmentation (default: what the checkpoint records)",
    )
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Evaluate and print the metrics; exit 3 when the checkpoint cannot be used."""
    import sys

    from vidfake.checkpoint import CheckpointError
    from vidfake.evaluate import evaluate

    try:
        result = evaluate(
            args.model, args.data, args.split, args.out, args.batch_size, tta=args.tta
        )
    except CheckpointError as exc:
        print(f"vidfake eval: error: {exc}", file=sys.stderr)
        return 3
    clean = {k: (None if isinstance(v, float) and math.isnan(v) else v) for k, v in result.items()}
    print(json.dumps(clean, indent=2))
    return 0
