"""Shared fixtures: paths to the bundled sample media and one Ray cluster per session."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
os.environ.setdefault("RAY_AUTH_MODE", "disabled")
# A vidfake bug raises in the tests instead of becoming an error row (vidfake.scanning.strict);
# tests of that last-resort row unset it with monkeypatch.
os.environ["VIDFAKE_STRICT"] = "1"

DATA = Path(__file__).resolve().parents[1] / "vidfake" / "data"


@pytest.fixture(scope="session")
def sample_dir() -> Path:
    """The bundled real media (see vidfake/data/SOURCES.md)."""
    return DATA


@pytest.fixture(scope="module")
def one_torch_thread():
    """torch on one thread for a module (MTCNN, dlib): on a 2-core box extra threads only spin."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="session")
def ray_cluster():
    """One local Ray for the whole session (starting one costs 5-9 s and 0.8 GiB)."""
    import ray

    if not ray.is_initialized():
        ray.init(address="local", num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield ray
    ray.shutdown()


@pytest.fixture(scope="session")
def tiny_checkpoint(tmp_path_factory):
    """Save a random tiny CNN+LSTM as a real vidfake checkpoint scanning with `sampling`:
    for tests that count rows and check plumbing, not detection quality."""
    from vidfake.checkpoint import save_checkpoint
    from vidfake.config import ScanConfig, to_dict
    from vidfake.models import create_model

    def make(sampling: str) -> Path:
        model = create_model(
            "cnn_lstm", backbone="test_efficientnet", img_size=64, frames=4, hidden=8
        )
        meta = {
            "arch": "cnn_lstm",
            "model_kwargs": model.model_kwargs,
            "preprocess": {
                "input_size": [3, 64, 64],
                "mean": list(model.default_cfg["mean"]),
                "std": list(model.default_cfg["std"]),
                "frames": 4,
                "eye_size": None,
            },
            "scan_settings": to_dict(ScanConfig(sampling=sampling)),
            "threshold": 0.5,
        }
        return save_checkpoint(tmp_path_factory.mktemp("ckpt") / "tiny", model, meta)

    return make
