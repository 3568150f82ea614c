"""Meso-4 and MesoInception-4 (Afchar et al. 2018, "MesoNet"), layer for layer as published.

Each frame goes through the published network up to its 16-unit hidden layer; the features are
averaged over T and the published last Dense(16 -> 1) makes the logit, which equals the mean of
the frame logits. At 256x256 Meso-4 has 27,977 and MesoInception-4 28,615 trainable parameters.
The inputs are scaled to [0, 1] only (mean 0, std 1), as in the published code; BatchNorm uses
Keras' epsilon (1e-3) and max pooling Keras' `same` padding, so the authors' weights (tags `df`
and `f2f`, converted by `convert_meso`) give the published network's outputs, with the logit
negated to vidfake's convention (log-odds of fake).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from vidfake.models._base import (
    FramePool,
    SequenceClassifier,
    assemble,
    make_default_cfg,
    probe_output,
)
from vidfake.models._registry import register_model
from vidfake.models.backbones import load_local_state_dict

WEIGHTS_DIR = Path(__file__).resolve().parent.parent / "weights" / "mesonet"
PUBLISHED_TAGS = ("df", "f2f")  # the authors' weights: deepfake and Face2Face training sets
KERAS_BN_EPS = 1e-3


class SameMaxPool2d(nn.Module):
    """Max pooling with stride = window and Keras/TensorFlow `same` padding (split, extra at end)."""

    def __init__(self, size: int) -> None:
        super().__init__()
        self.size = size

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        pads = []
        for n in (x.shape[-1], x.shape[-2]):
            total = -(-n // self.size) * self.size - n
            pads += [total // 2, total - total // 2]
        return F.max_pool2d(F.pad(x, pads, value=float("-inf")), self.size)


def _conv_bn_pool(cin: int, cout: int, kernel: int, pool: int) -> nn.Sequential:
    """Conv (same padding, ReLU), BatchNorm, max pooling with Keras' `same` padding."""
    return nn.Sequential(
        nn.Conv2d(cin, cout, kernel, padding=kernel // 2),
        nn.ReLU(inplace=True),
        nn.BatchNorm2d(cout, eps=KERAS_BN_EPS),
        SameMaxPool2d(pool),
    )


class InceptionLayer(nn.Module):
    """MesoInception's block: 1x1, 1x1->3x3, 1x1->3x3 dilated 2, 1x1->3x3 dilated 3, concat."""

    def __init__(self, cin: int, a: int, b: int, c: int, d: int) -> None:
        super().__init__()
        self.branches = nn.ModuleList(
            [
                nn.Sequential(nn.Conv2d(cin, a, 1), nn.ReLU(inplace=True)),
                *(
                    nn.Sequential(
                        nn.Conv2d(cin, width, 1),
                        nn.ReLU(inplace=True),
                        nn.Conv2d(width, width, 3, padding=dilation, dilation=dilation),
                        nn.ReLU(inplace=True),
                    )
                    for width, dilation in ((b, 1), (c, 2), (d, 3))
                ),
            ]
        )
        self.out_channels = a + b + c + d

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat([branch(x) for branch in self.branches], dim=1)


def _inception_bn_pool(cin: int, a: int, b: int, c: int, d: int) -> nn.Sequential:
    """An inception layer, then BatchNorm and 2x2 max pooling."""
    layer = InceptionLayer(cin, a, b, c, d)
    return nn.Sequential(
        layer, nn.BatchNorm2d(layer.out_channels, eps=KERAS_BN_EPS), SameMaxPool2d(2)
    )


class MesoFrame(nn.Module):
    """One frame → the 16 hidden units of MesoNet (conv stack, flatten, dropout, dense, leaky)."""

    def __init__(self, features: nn.Sequential, img_size: int, drop_rate: float) -> None:
        super().__init__()
        self.features = features
        flat = probe_output(features, img_size).numel()
        self.hidden = nn.Sequential(
            nn.Flatten(),
            nn.Dropout(drop_rate),
            nn.Linear(flat, 16),
            nn.LeakyReLU(0.1),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.hidden(self.features(x))


def published_weights(arch: str, tag: str) -> Path:
    """The shipped safetensors of the authors' `tag` weights for `arch` (`meso4_df.safetensors`)."""
    return WEIGHTS_DIR / f"{arch}_{tag}.safetensors"


def _resolve_pretrained(pretrained: str | Path | bool | None) -> tuple[str | None, Path | None]:
    """`pretrained` as a published tag or as a file of frame-stream weights (or neither)."""
    if pretrained is None or pretrained is False or pretrained == "":
        return None, None
    if pretrained is True:
        return PUBLISHED_TAGS[0], None
    if isinstance(pretrained, str) and pretrained in PUBLISHED_TAGS:
        return pretrained, None
    path = Path(pretrained)
    looks_like_tag = len(path.parts) == 1 and not path.suffix and not path.exists()
    if isinstance(pretrained, str) and looks_like_tag:
        raise ValueError(
            f"unknown MesoNet weights tag {pretrained!r}; known tags: "
            f"{', '.join(PUBLISHED_TAGS)} (or pass the path of a state dict file)"
        )
    return None, path


def _load_published(model: SequenceClassifier, arch: str, tag: str, img_size: int) -> None:
    """Load the authors' whole network (frame stream and last Dense) into a face-only model."""
    if img_size != 256:
        raise ValueError(
            f"the published {arch} weights read 256x256 faces, not img_size={img_size}"
        )
    if model.eye is not None or model.blink is not None:
        raise ValueError(
            f"the published {arch} weights cover the face-only network; build it without "
            "eye or blink fusion, or pass a file of frame weights as `pretrained`"
        )
    path = published_weights(arch, tag)
    if not path.is_file():
        raise FileNotFoundError(
            f"published weights {path} are missing; recreate them with "
            "`python -m vidfake.models.convert_meso SRC_DIR vidfake/weights/mesonet`"
        )
    load_local_state_dict(model, path)
    model.default_cfg["detector_weights"] = f"{arch}.{tag}"  # whole net: it scores as it is


def _meso(
    arch: str,
    features: nn.Sequential,
    img_size: int,
    frames: int,
    pretrained: str | Path | bool | None,
    drop_rate: float,
    fusion: dict[str, Any],
) -> SequenceClassifier:
    """Wrap a MesoNet conv stack as a sequence model (frame features averaged over T).

    `pretrained`: a published tag (`df`, `f2f`; `True` is `df`) loads the authors' whole network;
    a path loads a state dict of the frame stream only; `None`/`False` leaves random weights.
    """
    tag, path = _resolve_pretrained(pretrained)
    frame = MesoFrame(features, img_size, drop_rate)
    if path is not None:
        load_local_state_dict(frame, path)
    cfg = make_default_cfg(img_size, frames, (0.0, 0.0, 0.0), (1.0, 1.0, 1.0), temporal=False)
    model = assemble(FramePool(frame, 16), cfg, drop_rate=drop_rate, fixed_size=True, **fusion)
    if tag is not None:
        _load_published(model, arch, tag, img_size)
    return model


@register_model
def meso4(
    img_size: int = 256,
    frames: int = 1,
    pretrained: str | Path | bool | None = None,
    drop_rate: float = 0.5,
    **fusion: Any,
) -> SequenceClassifier:
    """Meso-4: four conv blocks (8, 8, 16, 16 channels), dense 16, one logit per frame."""
    features = nn.Sequential(
        _conv_bn_pool(3, 8, 3, 2),
        _conv_bn_pool(8, 8, 5, 2),
        _conv_bn_pool(8, 16, 5, 2),
        _conv_bn_pool(16, 16, 5, 4),
    )
    return _meso("meso4", features, img_size, frames, pretrained, drop_rate, fusion)


@register_model
def mesoinception4(
    img_size: int = 256,
    frames: int = 1,
    pretrained: str | Path | bool | None = None,
    drop_rate: float = 0.5,
    **fusion: Any,
) -> SequenceClassifier:
    """MesoInception-4: two inception blocks, two conv blocks, dense 16, one logit per frame."""
    features = nn.Sequential(
        _inception_bn_pool(3, 1, 4, 4, 2),
        _inception_bn_pool(11, 2, 4, 4, 2),
        _conv_bn_pool(12, 16, 5, 2),
        _conv_bn_pool(16, 16, 5, 4),
    )
    return _meso("mesoinception4", features, img_size, frames, pretrained, drop_rate, fusion)
