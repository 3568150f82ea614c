"""A registry name with published detector weights (`meso4.df`) used where a checkpoint goes.

`vidfake score DIR --model meso4.df` needs no checkpoint folder: the model is built with the
weights its tag names, and the meta a trained checkpoint would carry is made from the model's
own `default_cfg` (preprocessing), the default scan settings with crops at the model's input
size, no test-time augmentation and the 0.5 threshold of the published sigmoid.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

from torch import nn

from vidfake.config import ScanConfig, to_dict

DETECTOR_KEY = "detector_weights"  # set in default_cfg by a builder whose tag filled the whole net


def is_published_name(name: str | Path) -> bool:
    """Whether `name` is a registered model with a tag (`meso4.df`) rather than a path."""
    from vidfake.models._registry import is_model, split_tag

    if Path(name).exists():
        return False
    arch, tag = split_tag(str(name))
    return tag is not None and is_model(arch)


def published_meta(model: nn.Module, name: str) -> dict[str, Any]:
    """What a checkpoint of `model` would record, for a model whose tag loaded every weight."""
    cfg = model.default_cfg
    size = int(cfg["input_size"][-1])
    scan = ScanConfig()
    return {
        "arch": model.arch,
        "model_kwargs": dict(model.model_kwargs),
        "weights": name,
        "preprocess": {
            "input_size": list(cfg["input_size"]),
            "mean": list(cfg["mean"]),
            "std": list(cfg["std"]),
            "frames": int(cfg["frames"]),
            "eye_size": None,
        },
        "uses_eyes": bool(cfg.get("uses_eyes")),
        "uses_blink": bool(cfg.get("uses_blink")),
        "temporal": bool(cfg.get("temporal")),
        "tta": "none",
        "threshold": 0.5,
        "scan_settings": to_dict(replace(scan, crop=replace(scan.crop, size=size))),
    }


def load_published(
    name: str | Path, device: str = "cpu", tta: str | None = None
) -> tuple[nn.Module, dict[str, Any]]:
    """The model `name` with its published weights, in eval mode, and its checkpoint-like meta."""
    from vidfake.models import create_model
    from vidfake.models.tta import check_tta, with_tta

    name = str(name)
    model = create_model(name)
    if not model.default_cfg.get(DETECTOR_KEY):
        raise ValueError(
            f"{name}: these weights do not cover the whole detector (its head is untrained); "
            "score with a checkpoint trained from them"
        )
    meta = published_meta(model, name)
    meta["tta"] = check_tta(tta if tta is not None else meta["tta"])
    return with_tta(model, meta["tta"]).to(device).eval(), meta
