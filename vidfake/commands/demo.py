"""`vidfake demo`: the main job on the bundled sample set, end to end, offline."""

from __future__ import annotations

import argparse
import math
from typing import Any

from vidfake.exitcodes import EXIT_OK


def register(subparsers: Any) -> None:
    """Add `demo` to the command line."""
    p = subparsers.add_parser(
        "demo",
        help="run the main job on the bundled sample clips",
        description=(
            "Build a demo archive from the bundled real clips plus synthetic (self-blended) "
            "deepfakes of some of them, scan it into shards on a local Ray, score it with the "
            "default detector, and print the ranking, the AUC on this set and where every "
            "output is. A rerun reuses what is done; --fresh starts over."
        ),
    )
    p.add_argument("--out", default="demo-output", help="output folder (default: demo-output)")
    p.add_argument("--model", help="checkpoint folder (default: the bundled default detector)")
    p.add_argument("--workers", type=int, help="CPUs of the local Ray (default: all)")
    p.add_argument("--fresh", action="store_true", help="delete the output folder first")
    p.add_argument("--no-progress", action="store_true", help="no progress bars")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Run the demo and print what it found and where it wrote it."""
    from vidfake.demo import run_demo

    report = run_demo(
        args.out,
        model=args.model,
        workers=args.workers,
        fresh=args.fresh,
        progress=not args.no_progress,
    )
    print()
    print("vidfake demo: ranking (archive/fake holds SYNTHETIC self-blended fakes)")
    print(f"{'rank':>4}  {'score':>6}  {'verdict':<7}  {'truth':<14}  video")
    for r in report.score.rows:
        s = float(r["score"])
        score = f"{s:6.3f}" if not math.isnan(s) else "     -"
        truth = {1: "synthetic fake", 0: "real"}.get(int(r["label"]), "?")
        name = r["path"].rsplit("/", 1)[-1]
        print(f"{r['rank']:>4}  {score}  {r['verdict'] or '-':<7}  {truth:<14}  {name}")
    print()
    print(
        f"ROC AUC on this set: {report.auc:.3f}  (fakes all above reals: {report.fakes_above_reals}; "
        f"lowest fake minus highest real: {report.margin:+.4f})"
    )
    for label, name in ((1, "synthetic fakes"), (0, "real clips")):
        rows = [r for r in report.score.rows if int(r["label"]) == label]
        flagged = sum(r["verdict"] == "fake" for r in rows)
        print(f"{name}: {flagged} of {len(rows)} got the verdict fake")
    print(
        "The fakes here are SYNTHETIC (self-blended faces of held-out clips), not deepfakes of a "
        "published method; this set demonstrates the pipeline, it does not measure the detector."
    )
    if report.devset:
        print(f"On real public deepfakes (the devset, MODEL_CARD.md): {report.devset}")
    for note in report.notes:
        print(f"note: {note}")
    print(f"archive:  {report.archive}  (real/ = bundled clips, fake/ = synthetic)")
    print(f"shards:   {report.shards}  ({report.scan.total} videos scanned)")
    print(f"ranking:  {report.scores}")
    print(f"details:  {report.out_dir / 'details.parquet'}  (per-track, per-window scores)")
    print(f"report:   {report.out_dir / 'report.json'}")
    print(f"done in {report.seconds:.0f} s")
    return EXIT_OK
