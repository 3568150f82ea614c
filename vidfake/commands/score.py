"""`vidfake score INPUT -o scores.csv`: rank a collection of videos by how likely each is fake."""

from __future__ import annotations

import argparse
import math
import sys
from typing import Any

from vidfake.exitcodes import EXIT_OK, EXIT_SOME_FAILED
from vidfake.models.tta import TTA_MODES
from vidfake.scoring.scorer import AGGREGATES


def register(subparsers: Any) -> None:
    """Add `score` to the command line."""
    p = subparsers.add_parser(
        "score",
        help="score and rank videos into a CSV",
        description=(
            "Score every video of INPUT (a folder, a CSV or text file listing videos, one video, "
            "or a shards folder) and write a CSV ranked by the probability of being fake. Every "
            "input gets one row with a status (ok, no_face, error). A rerun of the same input "
            "into the same output skips the videos already scored; an output that holds rows "
            "of another input is refused (--force replaces it). Exit code 1 when some inputs "
            "failed."
        ),
    )
    p.add_argument("input", help="folder, list file, video, or shards folder")
    p.add_argument("-o", "--out", default="scores.csv", help="ranked CSV (default: scores.csv)")
    p.add_argument(
        "--model",
        help="checkpoint folder, or a model with published weights such as meso4.df "
        "(default: the bundled default detector)",
    )
    p.add_argument("--layout", default="auto", help="dataset layout of a folder (default: auto)")
    p.add_argument(
        "--aggregate",
        default="mean",
        choices=AGGREGATES,
        help="track score from its windows (default: mean; `confident` is the DFDC winner's)",
    )
    p.add_argument(
        "--tta",
        choices=TTA_MODES,
        help="test-time augmentation: `flip` also scores each face's mirror image and averages "
        "(default: what the checkpoint records; the bundled detector: flip)",
    )
    p.add_argument("--stride", type=int, help="step between windows (default: T/2)")
    p.add_argument("--batch-size", type=int, default=32, help="sequences per model call")
    p.add_argument("--details", help="also write per-track and per-window scores to this Parquet")
    p.add_argument("--workers", type=int, help="CPUs of the local Ray started (default: all)")
    p.add_argument("--address", help="join this Ray cluster instead of starting one")
    p.add_argument("--gpus", type=float, default=0.0, help="GPUs per worker (default: 0)")
    p.add_argument(
        "--actors",
        type=int,
        help="workers on Ray, each scanning and scoring with its own model (default: one per CPU)",
    )
    p.add_argument("--local", action="store_true", help="scan and score in this process, no Ray")
    p.add_argument(
        "--force", action="store_true", help="rescore everything, replacing an existing output"
    )
    p.add_argument("--top", type=int, default=10, help="rows of the ranking to print")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.set_defaults(func=run)


def print_ranking(rows: list[dict[str, Any]], top: int) -> None:
    """The first `top` rows of a ranking as a small table."""
    print(f"{'rank':>4}  {'score':>6}  {'verdict':<7}  {'status':<7}  path")
    for r in rows[:top]:
        s = r.get("score")
        score = f"{s:6.3f}" if s is not None and not math.isnan(float(s)) else "     -"
        print(
            f"{r['rank']:>4}  {score}  {r.get('verdict') or '-':<7}  {r['status']:<7}  {r['path']}"
        )


def run(args: argparse.Namespace) -> int:
    """Score the input, print the top of the ranking and a summary; exit 1 if some failed."""
    from vidfake.api import Runtime, ScoreOptions, score

    summary = score(
        args.input,
        args.out,
        args.model,
        options=ScoreOptions(args.aggregate, args.stride, args.batch_size, args.tta),
        runtime=Runtime(args.local, args.workers, args.address, args.gpus, args.actors),
        layout=args.layout,
        details=args.details,
        force=args.force,
        progress=not args.no_progress,
    )
    print_ranking(summary.rows, args.top)
    print(
        f"{summary.total} videos: {summary.scored} scored, {summary.no_face} no face, "
        f"{summary.error} error, {summary.skipped} kept from an earlier run; "
        f"{summary.seconds:.1f} s ({summary.videos_per_minute:.1f} videos/min) -> {summary.out_csv}"
    )
    for r in summary.rows:
        if r["status"] == "error":
            print(f"  error: {r['path']}: {r['error']}", file=sys.stderr)
    if summary.bugs:
        print(
            f"{summary.bugs} of the errors are vidfake bugs, not bad media: please report them "
            "with the log's traceback",
            file=sys.stderr,
        )
    return EXIT_SOME_FAILED if summary.error else EXIT_OK
