"""Backbones from timm with random weights, and loading a local state dict into one.

Nothing here downloads: timm is always called with `pretrained=False`; weights come only from a
file the caller names (`.safetensors`, or a torch file loaded with `weights_only=True`).
"""

from __future__ import annotations

from pathlib import Path

import timm
import torch
from safetensors.torch import load_file
from torch import nn


def timm_backbone(
    name: str, pretrained: str | Path | None = None, features_only: bool = False, **kwargs
) -> nn.Module:
    """A timm model without classifier (or its feature maps), optionally loaded from a file."""
    if not timm.is_model(name):
        raise ValueError(f"unknown timm backbone {name!r} (see timm.list_models())")
    if features_only:
        model = timm.create_model(name, pretrained=False, features_only=True, **kwargs)
    else:
        model = timm.create_model(name, pretrained=False, num_classes=0, **kwargs)
    if pretrained:
        load_local_state_dict(model, pretrained)
    return model


class PooledStage(nn.Module):
    """A timm backbone cut after one stage (`feature_index`), globally average-pooled: (B, C).

    Shallower cuts keep fewer parameters and a smaller receptive field, the local view that
    blending boundaries need, on models trained from random weights.
    """

    def __init__(self, name: str, feature_index: int, pretrained: str | Path | None = None):
        super().__init__()
        self.features = timm_backbone(
            name, pretrained=pretrained, features_only=True, out_indices=(feature_index,)
        )
        self.num_features = int(self.features.feature_info.channels()[-1])
        self.pretrained_cfg = self.features.pretrained_cfg

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.features(x)[-1].mean(dim=(2, 3))


def feature_width(model: nn.Module) -> int:
    """Length of the pooled feature vector a timm model built with `num_classes=0` returns."""
    return int(getattr(model, "head_hidden_size", None) or model.num_features)


def read_state_dict(path: str | Path) -> dict[str, torch.Tensor]:
    """Tensors from a local `.safetensors` or torch file; pickled objects are refused."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"pretrained weights not found: {path}")
    if path.suffix == ".safetensors":
        state = load_file(str(path))
    else:
        try:
            state = torch.load(path, map_location="cpu", weights_only=True)
        except Exception as err:
            raise ValueError(f"{path}: not a plain tensor state dict ({err})") from None
    if isinstance(state, dict) and isinstance(state.get("state_dict"), dict):
        state = state["state_dict"]
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise ValueError(f"{path}: expected a mapping of parameter names to tensors")
    return {k.removeprefix("module."): v for k, v in state.items()}


def load_local_state_dict(module: nn.Module, path: str | Path) -> None:
    """Load every parameter and buffer of `module` from a local file, checking names and shapes.

    Keys the module lacks (an ImageNet classifier, stages a feature extractor drops) are
    ignored; a key the module needs but the file lacks, or a shape that differs, is an error.
    """
    state = read_state_dict(path)
    own = module.state_dict()
    missing = [k for k in own if k not in state]
    wrong = [k for k in own if k in state and state[k].shape != own[k].shape]
    if missing or wrong:
        parts = []
        if missing:
            parts.append(f"{len(missing)} missing (e.g. {', '.join(missing[:3])})")
        if wrong:
            k = wrong[0]
            parts.append(
                f"{len(wrong)} of another shape (e.g. {k}: file {tuple(state[k].shape)}, "
                f"model {tuple(own[k].shape)})"
            )
        raise ValueError(
            f"{path} does not fit {type(module).__name__}: of its {len(own)} tensors, "
            + "; ".join(parts)
        )
    module.load_state_dict({k: state[k] for k in own}, strict=True)
