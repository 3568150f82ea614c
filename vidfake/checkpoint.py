"""Checkpoints that load without executing code: safetensors weights plus a JSON sidecar.

A checkpoint is a folder holding `model.safetensors` and `meta.json` (arch, model kwargs,
preprocessing, scan settings, shard schema version, decision threshold, metrics). Optimiser
state for resuming lives beside it in `train_state.pt`, read with `torch.load(weights_only=True)`.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file
from torch import nn

from vidfake.shards.schema import SCHEMA_VERSION

WEIGHTS = "model.safetensors"
META = "meta.json"
TRAIN_STATE = "train_state.pt"
_PICKLE_SUFFIXES = (".pt", ".pth", ".bin", ".pkl", ".ckpt")


class CheckpointError(ValueError):
    """A checkpoint that cannot be trusted or used; the message says why."""


def _atomic_write(path: Path, write: Any) -> None:
    """Write through a temporary name and rename, so a crash never leaves half a file."""
    tmp = path.with_name(f".{path.name}.tmp")
    write(tmp)
    os.replace(tmp, path)


def save_checkpoint(path_dir: str | Path, model: nn.Module, meta: dict[str, Any]) -> Path:
    """Write `model`'s weights as safetensors and `meta` (plus the schema version) as JSON."""
    out = Path(path_dir)
    out.mkdir(parents=True, exist_ok=True)
    state = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    meta = {**meta, "schema_version": SCHEMA_VERSION}
    meta.setdefault("arch", getattr(model, "arch", type(model).__name__))
    _atomic_write(out / WEIGHTS, lambda p: save_file(state, str(p)))
    _atomic_write(out / META, lambda p: p.write_text(json.dumps(meta, indent=2, default=str)))
    return out


def read_meta(path: str | Path) -> dict[str, Any]:
    """The checkpoint's meta.json, after checking the folder and the shard schema version."""
    root = Path(path)
    if root.is_file():
        if root.suffix in _PICKLE_SUFFIXES:
            raise CheckpointError(
                f"{root}: refusing a pickled checkpoint (it can run arbitrary code when loaded); "
                f"vidfake checkpoints are a folder with {WEIGHTS} and {META}"
            )
        root = root.parent
    if not (root / META).is_file() or not (root / WEIGHTS).is_file():
        raise CheckpointError(f"{root}: not a vidfake checkpoint (needs {WEIGHTS} and {META})")
    try:
        meta = json.loads((root / META).read_text())
    except json.JSONDecodeError as exc:
        raise CheckpointError(f"{root / META}: not valid JSON ({exc})") from None
    found = str(meta.get("schema_version", ""))
    if found.split(".")[0] != SCHEMA_VERSION.split(".")[0]:
        raise CheckpointError(
            f"{root}: trained on shard schema version {found or 'unknown'}, "
            f"this vidfake reads {SCHEMA_VERSION}; retrain on current shards"
        )
    if "arch" not in meta:
        raise CheckpointError(f"{root / META}: no 'arch' recorded")
    return meta


def load_weights(path: str | Path) -> dict[str, torch.Tensor]:
    """The checkpoint's tensors, read from safetensors (never unpickled)."""
    root = Path(path)
    file = root / WEIGHTS if root.is_dir() else root
    try:
        return load_file(str(file))
    except (SafetensorError, OSError) as exc:
        raise CheckpointError(
            f"{file}: not a safetensors file ({exc}); pickled weights are refused"
        ) from None


def load_checkpoint(
    path: str | Path, device: str = "cpu", tta: str | None = None
) -> tuple[nn.Module, dict[str, Any]]:
    """Rebuild the model recorded in a checkpoint folder and load its weights, in eval mode.

    The model comes under the test-time augmentation the checkpoint records (`meta["tta"]`,
    `none` when absent) unless `tta` overrides it; `meta["tta"]` says which one is in use.
    A registry name with published detector weights (`meso4.df`) stands for a checkpoint too.
    """
    from vidfake.models import create_model
    from vidfake.models.tta import check_tta, with_tta
    from vidfake.published import is_published_name, load_published

    if is_published_name(path):
        return load_published(path, device, tta)
    meta = read_meta(path)
    root = Path(path)
    root = root.parent if root.is_file() else root
    # the saved weights replace any pretrained ones, so none are loaded (no wheel is needed)
    kwargs = {k: v for k, v in meta.get("model_kwargs", {}).items() if k != "pretrained"}
    model = create_model(meta["arch"], **kwargs)
    model.load_state_dict(load_weights(root))
    meta["tta"] = check_tta(tta if tta is not None else str(meta.get("tta", "none")))
    return with_tta(model, meta["tta"]).to(device).eval(), meta


def save_train_state(path_dir: str | Path, state: dict[str, Any]) -> None:
    """Optimiser, scheduler, epoch and RNG state for resuming (tensors and plain data only)."""
    out = Path(path_dir)
    out.mkdir(parents=True, exist_ok=True)
    _atomic_write(out / TRAIN_STATE, lambda p: torch.save(state, p))


def load_train_state(path_dir: str | Path) -> dict[str, Any]:
    """The resume state, loaded with `weights_only=True` so no pickled code can run."""
    file = Path(path_dir) / TRAIN_STATE
    try:
        return torch.load(file, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises UnpicklingError and others for foreign objects
        raise CheckpointError(f"{file}: refused or unreadable resume state ({exc})") from None
