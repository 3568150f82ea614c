"""Ray entry point: scan an archive into shards on a running Ray cluster, and optionally score it.

    ray submit cluster/scan.yaml pipelines/scan.py -- ARCHIVE --out OUT [--scores CSV]
    ray job submit --working-dir . -- python pipelines/scan.py ARCHIVE --out OUT

Joins the cluster (`--address auto` by default) and calls `vidfake.scanning.build_shards`; with
`--scores` it then ranks the shards into a CSV (`--model`, or the bundled default detector).
Exit codes as `vidfake shards build`: 0 all scanned, 1 some videos errored, 2 bad arguments.
"""

from __future__ import annotations

import argparse
import os
import sys


def main(argv: list[str] | None = None) -> int:
    """Parse arguments, join Ray, scan, print the summary; returns the exit code."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("archive")
    parser.add_argument("--out", required=True)
    parser.add_argument("--config")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE")
    parser.add_argument("--layout", default="auto")
    parser.add_argument("--address", default=os.environ.get("RAY_ADDRESS", "auto"))
    parser.add_argument("--force", action="store_true")
    parser.add_argument("--scores", help="also score the shards into this ranked CSV")
    parser.add_argument("--model", help="checkpoint for --scores (default: bundled detector)")
    args = parser.parse_args(argv)

    import ray

    from vidfake.config import ScanConfig, load_config
    from vidfake.datasets import list_items
    from vidfake.scanning import build_shards

    try:
        cfg = load_config(ScanConfig, args.config, args.set)
        if args.scores and not args.config and not args.set:
            from vidfake.scoring.scorer import Scorer

            cfg = Scorer(args.model).scan_config()  # crops as the model was trained on
        items = list_items(args.archive, layout=args.layout)
    except (ValueError, FileNotFoundError) as exc:
        print(f"scan: error: {exc}", file=sys.stderr)
        return 2
    if not ray.is_initialized():
        ray.init(address=args.address, log_to_driver=False)
    summary = build_shards(items, args.out, cfg, force=args.force, progress=False)
    print(
        f"{summary.total} videos: {summary.ok} ok, {summary.no_face} no face, "
        f"{summary.error} error, {summary.skipped} skipped; {summary.faces} faces, "
        f"{summary.frames_per_s:.1f} frames/s -> {summary.out_dir}"
    )
    for path, reason in summary.errors:
        print(f"  error: {path}: {reason}", file=sys.stderr)
    if args.scores:
        from vidfake.scoring.collection import score_collection

        scored = score_collection(args.out, args.scores, args.model, progress=False)
        print(
            f"scored {scored.scored} videos ({scored.no_face} no face, {scored.error} error) "
            f"-> {scored.out_csv}"
        )
    return 1 if summary.error else 0


if __name__ == "__main__":
    sys.exit(main())
