"""Checkpoints: safetensors round trip; pickled files and foreign schema versions are refused."""

from __future__ import annotations

import json
import pickle
from pathlib import Path

import pytest
import torch

from vidfake.checkpoint import (
    CheckpointError,
    load_checkpoint,
    load_train_state,
    save_checkpoint,
    save_train_state,
)
from vidfake.models import create_model


def _model():
    torch.manual_seed(0)
    return create_model("meso4", img_size=32, frames=2)


def test_round_trip_gives_the_same_outputs(tmp_path: Path) -> None:
    model = _model().eval()
    save_checkpoint(
        tmp_path / "ck", model, {"model_kwargs": {"img_size": 32, "frames": 2}, "threshold": 0.4}
    )
    loaded, meta = load_checkpoint(tmp_path / "ck")
    x = torch.randn(2, 2, 3, 32, 32)
    assert torch.equal(model(x), loaded(x))
    assert meta["arch"] == "meso4" and meta["threshold"] == 0.4 and meta["schema_version"]
    assert sorted(p.name for p in (tmp_path / "ck").iterdir()) == ["meta.json", "model.safetensors"]


class Evil:
    """A pickled object whose loading would run code."""

    def __reduce__(self):
        return (print, ("pwned",))


def test_pickled_checkpoint_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "model.pt"
    torch.save({"state": Evil()}, path)
    with pytest.raises(CheckpointError, match="pickled"):
        load_checkpoint(path)
    folder = tmp_path / "ck"
    save_checkpoint(folder, _model(), {"model_kwargs": {"img_size": 32, "frames": 2}})
    (folder / "model.safetensors").write_bytes(pickle.dumps(Evil()))
    with pytest.raises(CheckpointError, match="safetensors"):
        load_checkpoint(folder)


def test_resume_state_with_code_is_refused(tmp_path: Path) -> None:
    save_train_state(tmp_path, {"epoch": 3, "t": torch.ones(2)})
    assert load_train_state(tmp_path)["epoch"] == 3
    torch.save({"epoch": Evil()}, tmp_path / "train_state.pt")
    with pytest.raises(CheckpointError, match="refused"):
        load_train_state(tmp_path)


def test_other_schema_version_is_refused(tmp_path: Path) -> None:
    save_checkpoint(tmp_path, _model(), {"model_kwargs": {"img_size": 32, "frames": 2}})
    meta = json.loads((tmp_path / "meta.json").read_text())
    meta["schema_version"] = "0.3"
    (tmp_path / "meta.json").write_text(json.dumps(meta))
    with pytest.raises(CheckpointError, match="schema version 0.3"):
        load_checkpoint(tmp_path)


def test_missing_files_say_what_is_missing(tmp_path: Path) -> None:
    with pytest.raises(CheckpointError, match="not a vidfake checkpoint"):
        load_checkpoint(tmp_path)
