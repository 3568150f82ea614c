"""Meso-4 and MesoInception-4 (Afchar et al. 2018, "MesoNet"), layer for layer as published.

Each frame goes through the published network up to its 16-unit hidden layer; the features are
averaged over T and the published last Dense(16 -> 1) makes the logit, which equals the mean of
the frame logits. At 256x256 Meso-4 has 27,977 and MesoInception-4 28,615 trainable parameters.
The inputs are scaled to [0, 1] only (mean 0, std 1), as in the published code.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
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


def _conv_bn_pool(cin: int, cout: int, kernel: int, pool: int) -> nn.Sequential:
    """Conv (same padding, ReLU), BatchNorm, max pooling with Keras' `same` rounding."""
    return nn.Sequential(
        nn.Conv2d(cin, cout, kernel, padding=kernel // 2),
        nn.ReLU(inplace=True),
        nn.BatchNorm2d(cout),
        nn.MaxPool2d(pool, ceil_mode=True),
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
    return nn.Sequential(layer, nn.BatchNorm2d(layer.out_channels), nn.MaxPool2d(2, ceil_mode=True))


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


def _meso(
    features: nn.Sequential,
    img_size: int,
    frames: int,
    pretrained: str | Path | None,
    drop_rate: float,
    fusion: dict[str, Any],
) -> SequenceClassifier:
    """Wrap a MesoNet conv stack as a sequence model (frame features averaged over T)."""
    frame = MesoFrame(features, img_size, drop_rate)
    if pretrained:
        load_local_state_dict(frame, pretrained)
    cfg = make_default_cfg(img_size, frames, (0.0, 0.0, 0.0), (1.0, 1.0, 1.0), temporal=False)
    return assemble(FramePool(frame, 16), cfg, drop_rate=drop_rate, fixed_size=True, **fusion)


@register_model
def meso4(
    img_size: int = 256,
    frames: int = 1,
    pretrained: str | Path | None = None,
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
    return _meso(features, img_size, frames, pretrained, drop_rate, fusion)


@register_model
def mesoinception4(
    img_size: int = 256,
    frames: int = 1,
    pretrained: str | Path | None = None,
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
    return _meso(features, img_size, frames, pretrained, drop_rate, fusion)
