"""The default detector that ships in vidfake/weights/default (recipe: vidfake/recipe.py).

Real clips are bundled ones; the fake is a SYNTHETIC self-blended deepfake of a held-out clip
(`make_synthetic_fake`), marked synthetic in its file and sidecar.
"""

from __future__ import annotations

import csv
import subprocess
import sys
from pathlib import Path

import pytest
from safetensors.torch import load_file

from vidfake.checkpoint import read_meta
from vidfake.config import ScanConfig, from_dict
from vidfake.datasets import DatasetItem
from vidfake.media import cut
from vidfake.recipe import MAX_BYTES, clip_items, figures_markdown
from vidfake.scanning import scan_video
from vidfake.scoring.scorer import DEFAULT_MODEL, Scorer
from vidfake.shards.schema import SCHEMA_VERSION
from vidfake.synth import is_synthetic, make_synthetic_fake

HELD_OUT_CLIP = "retalking_3.mp4"  # a bundled clip whose identity is in the recipe's test split


def test_shipped_checkpoint_loads_and_fits_the_budget() -> None:
    weights = DEFAULT_MODEL / "model.safetensors"
    assert weights.stat().st_size <= MAX_BYTES
    assert load_file(str(weights))
    meta = read_meta(DEFAULT_MODEL)
    assert meta["schema_version"] == SCHEMA_VERSION
    assert 0.0 < float(meta["threshold"]) < 1.0
    assert from_dict(ScanConfig, meta["scan_settings"]).crop.size == 160
    assert meta["train_config"]["data"]["pseudo_fake"] > 0
    assert "pseudo_fake_test" in meta["held_out_metrics"]
    scorer = Scorer()
    assert scorer.path == DEFAULT_MODEL
    assert scorer.scan_config().crop.size == meta["scan_settings"]["crop"]["size"]
    assert scorer.tta == meta["tta"] == meta["train_config"]["tta"]  # scored as trained
    assert Scorer(tta="none").tta == "none"
    assert (DEFAULT_MODEL / "MODEL_CARD.md").is_file()


def test_model_card_figures_come_from_the_shipped_meta() -> None:
    """The card's table is rendered from meta.json; the aligned-blend row (c) when measured."""
    meta = read_meta(DEFAULT_MODEL)
    card = (DEFAULT_MODEL / "MODEL_CARD.md").read_text()
    table = figures_markdown(meta)
    assert table in card
    auc = meta["held_out_metrics"]["pseudo_fake_test"]["seq_auc"]
    assert f"| {auc:.3f} |" in table
    meta["held_out_metrics"].setdefault("pseudo_fake_aligned_test", {"seq_auc": 0.5})
    assert "(c) test seq AUC" in figures_markdown(meta)


def test_held_out_clip_is_not_in_training() -> None:
    splits = {Path(i.path).name: i.split for i in clip_items()}
    assert splits[HELD_OUT_CLIP] == "test"


@pytest.mark.slow
def test_synthetic_fake_scores_above_its_real_clip(tmp_path: Path, sample_dir: Path) -> None:
    real = cut(sample_dir / "clips" / HELD_OUT_CLIP, tmp_path / "real.mp4", duration=2.0)
    fake = tmp_path / "synthetic_fake.mp4"
    make_synthetic_fake(real, fake, seed=0)
    assert is_synthetic(fake)
    scorer = Scorer()
    cfg = scorer.scan_config()
    tables = {}
    for name, path, label in (("real", real, 0), ("fake", fake, 1)):
        result = scan_video(DatasetItem(str(path), label, name, "test", "check"), cfg)
        assert result.manifest["status"] == "ok", result.manifest["error"]
        tables[name] = result.faces
    scores = scorer.score_videos(
        (tables[n].column("video_id")[0].as_py(), tables[n]) for n in ("real", "fake")
    )
    by_name = {n: scores[tables[n].column("video_id")[0].as_py()].score for n in ("real", "fake")}
    print(
        f"\nheld-out {HELD_OUT_CLIP}: real {by_name['real']:.3f}, synthetic fake {by_name['fake']:.3f}"
    )
    assert by_name["fake"] > by_name["real"], by_name
    assert scorer.verdict(by_name["real"]) == "real", by_name


def test_score_command_without_model(tmp_path: Path, sample_dir: Path) -> None:
    folder = tmp_path / "videos"
    folder.mkdir()
    cut(sample_dir / "clips" / "cosanlab__single_face.mp4", folder / "a.mp4", duration=1.5)
    out = tmp_path / "out.csv"
    cmd = [str(Path(sys.executable).parent / "vidfake"), "score", str(folder), "-o", str(out)]
    done = subprocess.run(
        [*cmd, "--local", "--no-progress"], capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr
    rows = list(csv.DictReader(out.open()))
    assert len(rows) == 1 and rows[0]["status"] == "ok"
    threshold = float(read_meta(DEFAULT_MODEL)["threshold"])
    assert rows[0]["verdict"] == ("fake" if float(rows[0]["score"]) >= threshold else "real")
