"""Test-time augmentation: score a sequence and its mirror image, average the logits.

A face and its mirror image are the same face, so a detector's score should not depend on
which way it faces; averaging the two halves the variance that a one-sided crop, blend edge
or pose puts into one view. The mode is recorded in a checkpoint's meta (`tta`), so
validation, evaluation and scoring all see the same model.
"""

from __future__ import annotations

import torch
from torch import nn

TTA_MODES = ("none", "flip")


def check_tta(mode: str) -> str:
    """`mode` when it is a known test-time augmentation, else ValueError naming the choices."""
    if mode not in TTA_MODES:
        raise ValueError(f"unknown test-time augmentation {mode!r}; choose one of {TTA_MODES}")
    return mode


class FlipTTA(nn.Module):
    """A model whose logit is the mean of its logits on the input and its horizontal mirror.

    Faces `x` are `(..., H, W)` (None for an eye-only model); eye patches `(B, T, 2, C, h, w)`
    are mirrored and swapped (the left eye of the mirror image is the right eye of the face);
    blink statistics do not depend on the side and pass through unchanged.
    """

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(
        self,
        x: torch.Tensor | None,
        eyes: torch.Tensor | None = None,
        blink: torch.Tensor | None = None,
    ) -> torch.Tensor:
        mirrored = None if x is None else x.flip(-1)
        mirrored_eyes = None if eyes is None else eyes.flip(-1).flip(2)
        return (
            self.model(x, eyes=eyes, blink=blink)
            + self.model(mirrored, eyes=mirrored_eyes, blink=blink)
        ) / 2

    @property
    def has_face(self) -> bool:
        """Whether the wrapped model reads face crops."""
        return self.model.has_face

    def encode_frames(self, frames: torch.Tensor) -> torch.Tensor | None:
        """Per-frame features of the frames and of their mirror images, stacked: (N, 2, ...)."""
        plain = self.model.encode_frames(frames)
        if plain is None:
            return None
        return torch.stack([plain, self.model.encode_frames(frames.flip(-1))], dim=1)

    def classify_encoded(
        self,
        feats: torch.Tensor | None,
        eyes: torch.Tensor | None = None,
        blink: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """The mean logit of both views from `encode_frames`' features gathered per window."""
        plain = None if feats is None else feats[:, :, 0]
        mirrored = None if feats is None else feats[:, :, 1]
        mirrored_eyes = None if eyes is None else eyes.flip(-1).flip(2)
        return (
            self.model.classify_encoded(plain, eyes, blink)
            + self.model.classify_encoded(mirrored, mirrored_eyes, blink)
        ) / 2


def with_tta(model: nn.Module, mode: str) -> nn.Module:
    """`model` under test-time augmentation `mode` (`none` returns it unchanged)."""
    if check_tta(mode) == "flip":
        return FlipTTA(model)
    return model
