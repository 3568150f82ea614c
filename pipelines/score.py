"""Ray entry point: score a collection (folder, list file or shards) on a running Ray cluster.

    ray job submit --working-dir . -- python pipelines/score.py INPUT --out scores.csv
    ray submit cluster/scan.yaml pipelines/score.py -- INPUT --out scores.csv

Joins the cluster (`--address auto` by default) and calls `vidfake.scoring.collection.score_collection`:
a pool of workers (`--actors`, default one per CPU of the cluster; `--gpus` each) scans and
scores the videos, each worker holding the face detector and the model. Exit codes as
`vidfake score`: 0 all scored, 1 some videos errored, 2 bad arguments or model.
"""

from __future__ import annotations

import argparse
import os
import sys


def main(argv: list[str] | None = None) -> int:
    """Parse arguments, join Ray, score, print the summary; returns the exit code."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("input", help="folder, list file, video, or shards folder")
    parser.add_argument("--out", required=True, help="ranked CSV to write (resumed if present)")
    parser.add_argument("--model", help="checkpoint folder (default: the bundled detector)")
    parser.add_argument("--layout", default="auto")
    parser.add_argument("--aggregate", default="mean")
    parser.add_argument("--actors", type=int, help="scan-and-score workers (default: one per CPU)")
    parser.add_argument("--gpus", type=float, default=0.0, help="GPUs per worker")
    parser.add_argument("--details", help="per-window scores as Parquet")
    parser.add_argument("--address", default=os.environ.get("RAY_ADDRESS", "auto"))
    parser.add_argument("--force", action="store_true")
    args = parser.parse_args(argv)

    import ray

    from vidfake.scoring.collection import score_collection

    if not ray.is_initialized():
        ray.init(address=args.address, log_to_driver=False)
    try:
        summary = score_collection(
            args.input,
            args.out,
            args.model,
            layout=args.layout,
            aggregate=args.aggregate,
            actors=args.actors,
            gpus=args.gpus,
            details=args.details,
            force=args.force,
            progress=False,
        )
    except (ValueError, FileNotFoundError) as exc:
        print(f"score: error: {exc}", file=sys.stderr)
        return 2
    for r in summary.rows[:10]:
        print(f"{r['rank']:>4}  {r['score']:.3f}  {r['status']:<7}  {r['path']}")
    print(
        f"{summary.total} videos: {summary.scored} scored, {summary.no_face} no face, "
        f"{summary.error} error, {summary.skipped} kept; "
        f"{summary.videos_per_minute:.1f} videos/min -> {summary.out_csv}"
    )
    return 1 if summary.error else 0


if __name__ == "__main__":
    sys.exit(main())
