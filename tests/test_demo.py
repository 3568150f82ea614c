"""`run_demo` on a small archive: real clips, a synthetic fake, shards, a ranked CSV, a report.

The full demo (5 held-out clips, 4 fakes) is `make demo`; this runs the same code on two 2-s clips and
one fake, on the session's Ray cluster, with the bundled default detector.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest

from vidfake.demo import run_demo
from vidfake.synth import is_synthetic

CLIPS = ("retalking_3.mp4", "cosanlab__single_face.mp4")  # the first gets a synthetic fake


@pytest.mark.slow
def test_demo_ranks_an_archive_and_reports_the_margin(tmp_path: Path, ray_cluster) -> None:
    report = run_demo(tmp_path / "demo", clips=CLIPS, fakes=1, seconds=2.0, progress=False)
    with report.scores.open() as fh:
        rows = list(csv.DictReader(fh))
    assert len(rows) == 3 and {r["status"] for r in rows} == {"ok"}
    assert [int(r["rank"]) for r in rows] == [1, 2, 3]
    assert [float(r["score"]) for r in rows] == sorted(
        (float(r["score"]) for r in rows), reverse=True
    )
    fakes = [r for r in rows if r["label"] == "1"]
    assert len(fakes) == 1 and is_synthetic(Path(fakes[0]["path"]))
    assert Path(fakes[0]["path"]).parent == report.archive / "fake"
    reals = [float(r["score"]) for r in rows if r["label"] == "0"]
    margin = float(fakes[0]["score"]) - max(reals)
    assert report.margin == pytest.approx(margin, abs=1e-6)
    assert report.fakes_above_reals == (margin > 0)
    saved = json.loads((report.out_dir / "report.json").read_text())
    assert saved["margin"] == pytest.approx(margin, abs=1e-6) and saved["videos"] == 3
    assert (report.out_dir / "details.parquet").is_file()

    again = run_demo(tmp_path / "demo", clips=CLIPS, fakes=1, seconds=2.0, progress=False)
    assert again.scan.skipped == 3 and again.score.skipped == 3  # a rerun reuses the work
    assert again.margin == pytest.approx(report.margin)
