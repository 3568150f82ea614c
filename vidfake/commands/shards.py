"""`vidfake shards build ARCHIVE -o SHARDS`: scan an archive into face-track Parquet shards."""

from __future__ import annotations

import argparse
import sys
from typing import Any

EXIT_OK, EXIT_SOME_FAILED, EXIT_FAILED = 0, 1, 3


def register(subparsers: Any) -> None:
    """Add `shards build` to the command line."""
    shards = subparsers.add_parser("shards", help="build face-track shards, or summarise them")
    sub = shards.add_subparsers(dest="shards_command", metavar="ACTION")
    build = sub.add_parser(
        "build",
        help="scan an archive of videos into Parquet shards",
        description=(
            "Scan every video of ARCHIVE into SHARDS (face rows + one manifest row per video). "
            "A rerun skips videos already done with the same settings. Exit code 1 when some "
            "videos got status `error` (the manifest says why)."
        ),
    )
    build.add_argument("archive", help="folder of videos (any layout vidfake.datasets knows)")
    build.add_argument("-o", "--out", required=True, help="shards folder to create or resume")
    build.add_argument("--config", help="scan settings YAML (default: built-in defaults)")
    build.add_argument(
        "--set", action="append", default=[], metavar="KEY=VALUE", help="override a setting"
    )
    build.add_argument("--layout", default="auto", help="dataset layout (default: auto)")
    build.add_argument("--workers", type=int, help="CPUs of the local Ray started (default: all)")
    build.add_argument("--address", help="join this Ray cluster instead of starting one")
    build.add_argument("--force", action="store_true", help="rebuild from scratch")
    build.add_argument("--no-progress", action="store_true", help="no progress bar")
    build.set_defaults(func=run_build)
    info = sub.add_parser(
        "info",
        help="summarise a shards folder",
        description="Videos by status, label and split, faces and tracks, and the scan settings.",
    )
    info.add_argument("shards", help="shards folder")
    info.set_defaults(func=run_info)
    shards.set_defaults(func=lambda args: shards.print_help() or 2)


def run_build(args: argparse.Namespace) -> int:
    """Load settings, list the archive, scan it, print a summary; the exit code says how it went."""
    from vidfake.api import Runtime, scan
    from vidfake.config import ScanConfig, load_config

    cfg = load_config(ScanConfig, args.config, args.set)
    if args.workers is not None and args.workers < 1:
        raise ValueError("--workers must be at least 1")
    summary = scan(
        args.archive,
        args.out,
        cfg,
        layout=args.layout,
        runtime=Runtime(workers=args.workers, address=args.address),
        force=args.force,
        progress=not args.no_progress,
    )
    print(
        f"{summary.total} videos: {summary.ok} ok, {summary.no_face} no face, "
        f"{summary.error} error, {summary.skipped} skipped (done before); "
        f"{summary.faces} faces from {summary.frames} frames in {summary.seconds:.1f} s "
        f"({summary.frames_per_s:.1f} frames/s) -> {summary.out_dir}"
    )
    for path, reason in summary.errors:
        print(f"  error: {path}: {reason}", file=sys.stderr)
    if summary.bugs:
        print(
            f"{summary.bugs} of the errors are vidfake bugs, not bad media: please report them "
            "with the log's traceback",
            file=sys.stderr,
        )
    return EXIT_SOME_FAILED if summary.error else EXIT_OK


def run_info(args: argparse.Namespace) -> int:
    """Print what a shards folder holds, from its manifest (face rows are not read)."""
    from collections import Counter

    from vidfake.shards.schema import SCHEMA_VERSION
    from vidfake.shards.store import SCAN_CONFIG, read_manifest

    rows = read_manifest(args.shards).to_pylist()
    print(f"{args.shards}: {len(rows)} videos, shard schema {SCHEMA_VERSION}")
    for name in ("status", "label", "split", "dataset"):
        counts = Counter(r[name] for r in rows)
        print(f"  {name:<8} " + ", ".join(f"{k}: {v}" for k, v in sorted(counts.items())))
    faces = sum(r["n_faces"] for r in rows)
    tracks = sum(r["n_tracks"] for r in rows)
    print(f"  faces    {faces} in {tracks} tracks")
    hashes = Counter(r["settings_hash"] for r in rows)
    print(f"  settings {', '.join(hashes)} ({args.shards}/{SCAN_CONFIG})")
    for r in rows:
        if r["status"] == "error":
            print(f"  error: {r['path']}: {r['error']}")
    return EXIT_OK
