"""Synthetic fakes from real faces: self-blended pseudo-fakes for training, marked fake clips."""

from vidfake.synth.sbi import SBIParams, SelfBlend, landmarks_in_crop, pseudo_fake_sequence
from vidfake.synth.video import (
    SYNTHETIC_MARKER,
    SynthError,
    SyntheticRecord,
    is_synthetic,
    make_synthetic_fake,
    synthetic_marker,
)

__all__ = [
    "SBIParams",
    "SelfBlend",
    "landmarks_in_crop",
    "pseudo_fake_sequence",
    "SYNTHETIC_MARKER",
    "SynthError",
    "SyntheticRecord",
    "is_synthetic",
    "make_synthetic_fake",
    "synthetic_marker",
]
