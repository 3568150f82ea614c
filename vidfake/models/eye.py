"""The eye stream alone, in the LRCN manner of In Ictu Oculi (Li, Chang and Lyu 2018).

Both eye patches of every frame go through a small CNN, an LSTM reads the frames, a linear head
gives one logit per sequence. It reads only `eyes` (and `blink` when built with
`blink_features`); the face batch may be passed (it is ignored) or be None.
"""

from __future__ import annotations

from pathlib import Path

from vidfake.models._base import EyeStream, SequenceClassifier, make_default_cfg
from vidfake.models._registry import register_model
from vidfake.models.backbones import load_local_state_dict

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


@register_model
def eye_lrcn(
    eye_size: int = 32,
    frames: int = 16,
    channels: tuple[int, ...] = (16, 32, 64),
    hidden: int = 64,
    bidirectional: bool = False,
    blink_features: int = 0,
    pretrained: str | Path | None = None,
    drop_rate: float = 0.0,
) -> SequenceClassifier:
    """Eye patches `(B, T, 2, 3, h, w)` → CNN per eye → LSTM over frames → one logit."""
    stream = EyeStream(tuple(channels), hidden, bidirectional)
    if pretrained:
        load_local_state_dict(stream.cnn, pretrained)
    cfg = make_default_cfg(eye_size, frames, IMAGENET_MEAN, IMAGENET_STD, temporal=True)
    return SequenceClassifier(
        None,
        cfg,
        eye=stream,
        eye_size=eye_size,
        blink_features=blink_features,
        drop_rate=drop_rate,
    )
