"""Ray Train: the same training loop with two CPU workers, shards streamed as a Ray Dataset.

Uses the session's one local Ray (`ray_cluster`) and the real-clip shards of `_training_data`
(SYNTHETIC spatial manipulation).
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pandas as pd
import pytest
from _training_data import build_fixture_shards

from vidfake.checkpoint import load_checkpoint
from vidfake.training.loop import load_train_config

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="session")
def fixture_shards(tmp_path_factory) -> dict[str, Path]:
    return build_fixture_shards(tmp_path_factory.getbasetemp() / "training_shards")


def _pipeline():
    spec = importlib.util.spec_from_file_location(
        "pipelines_train", ROOT / "pipelines" / "train.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.slow
def test_two_cpu_workers_train_and_checkpoint(ray_cluster, tmp_path: Path, fixture_shards) -> None:
    pipeline = _pipeline()
    cfg = load_train_config(
        ROOT / "configs" / "models" / "meso4.yaml",
        [
            "profile=tiny",
            f"data.shards={fixture_shards['spatial']}",
            "epochs=1",
            "model.img_size=32",
            "data.stride=4",
            "data.balance=none",
        ],
    )
    ds = pipeline.sequence_dataset(cfg.data.shards, "train", 4, 4)
    rows = ds.take_all()
    assert len(rows) == 128 and {len(r["faces"]) for r in rows} == {4}  # 8 groups x 2 x 8
    out = pipeline.run_ray_training(cfg, tmp_path / "run", workers=2, cpus_per_worker=0.5)
    metrics = pd.read_csv(out / "metrics.csv")
    assert metrics["workers"].tolist() == [2]
    # each worker trained on its own half of the 128 windows
    assert metrics["train_seqs"].tolist() == [64]
    model, meta = load_checkpoint(out / "best")
    assert meta["arch"] == "meso4" and 0.0 <= meta["threshold"] <= 1.0


def test_settings_the_ray_path_cannot_honour_are_refused(tmp_path: Path, fixture_shards) -> None:
    """Class balancing, pseudo-fakes and DataLoader workers are refused, not ignored."""
    pipeline = _pipeline()
    base = ["profile=tiny", f"data.shards={fixture_shards['spatial']}", "data.balance=none"]
    config = ROOT / "configs" / "models" / "meso4.yaml"
    for setting in ("data.balance=oversample", "data.pseudo_fake=0.5", "data.workers=2"):
        cfg = load_train_config(config, [*base, setting])
        with pytest.raises(ValueError, match=f"does not implement {setting}"):
            pipeline.run_ray_training(cfg, tmp_path / "run")
    assert not (tmp_path / "run").exists()
