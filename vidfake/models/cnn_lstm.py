"""CNN + LSTM (Güera and Delp 2018): a timm backbone per frame, an LSTM over time, a head.

The LSTM reads `(B, T, F)` with `batch_first=True`, and `bidirectional` is passed by name (the
popular ResNeXt+LSTM repository gets both wrong). The sequence is summarised by the last hidden
state (both directions' final states when bidirectional) or the mean of the outputs.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from vidfake.models._base import (
    FrameTemporal,
    SequenceClassifier,
    TemporalLSTM,
    assemble,
    make_default_cfg,
)
from vidfake.models._registry import register_model
from vidfake.models.backbones import PooledStage, feature_width, freeze_stem, timm_backbone


class CNNLSTM(FrameTemporal):
    """Per-frame backbone features `(B, T, F)` → LSTM → `(B, hidden x directions)`."""

    def __init__(
        self, backbone: nn.Module, lstm: TemporalLSTM, channels_last: bool = False
    ) -> None:
        super().__init__()
        self.backbone = backbone
        self.lstm = lstm
        self.num_features = lstm.num_features
        self.channels_last = channels_last
        if channels_last:
            self.backbone.to(memory_format=torch.channels_last)

    def encode_frames(self, frames: Tensor) -> Tensor:
        if self.channels_last:  # NHWC: oneDNN's faster CPU convolutions
            frames = frames.contiguous(memory_format=torch.channels_last)
        return self.backbone(frames)

    def summarise(self, feats: Tensor) -> Tensor:
        return self.lstm(feats)


@register_model
def cnn_lstm(
    backbone: str = "efficientnet_b0",
    img_size: int | None = None,
    frames: int = 16,
    hidden: int = 256,
    layers: int = 1,
    bidirectional: bool = False,
    pool: str = "last",
    lstm_dropout: float = 0.0,
    pretrained: str | Path | bool | None = None,
    drop_rate: float = 0.5,
    feature_index: int | None = None,
    frozen_blocks: int = 0,
    channels_last: bool = False,
    **fusion: Any,
) -> SequenceClassifier:
    """A timm backbone per frame, then an LSTM (`hidden` units, `layers` deep) over the frames.

    `feature_index` cuts the backbone after that stage (pooled), e.g. -2 for resnet18's layer3.
    `frozen_blocks` freezes the stem and that many first stages (`freeze_stem`);
    `channels_last` runs the backbone in NHWC memory order (faster on CPUs).
    """
    if feature_index is None:
        net = timm_backbone(backbone, pretrained=pretrained)
    else:
        net = PooledStage(backbone, feature_index, pretrained=pretrained)
    freeze_stem(net, frozen_blocks)
    lstm = TemporalLSTM(feature_width(net), hidden, layers, bidirectional, pool, lstm_dropout)
    cfg = net.pretrained_cfg
    size = img_size or cfg["input_size"][-1]
    default_cfg = make_default_cfg(size, frames, cfg["mean"], cfg["std"], temporal=True)
    return assemble(CNNLSTM(net, lstm, channels_last), default_cfg, drop_rate=drop_rate, **fusion)


@register_model
def cnn_lstm_eye(**kwargs: Any) -> SequenceClassifier:
    """`cnn_lstm` fused with the LRCN eye stream: the same as `cnn_lstm(eyes=True, ...)`."""
    if kwargs.pop("eyes", True) is not True:
        raise ValueError("cnn_lstm_eye always uses eyes; use cnn_lstm for a face-only model")
    return cnn_lstm(eyes=True, **kwargs)
