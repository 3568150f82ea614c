"""Faces in dim or flat footage: a level stretch before detection, and the low-light retry.

MTCNN's nets see pixels through a fixed normalisation, so a face that fills only the bottom
tenth of the 0-255 range scores low or is not proposed at all. `stretch_lut` maps a dim frame's
0.1st-99.9th percentile values onto 0-255 (one table for all channels, so colours keep their
balance); the detector applies it to what its nets see, never to the crops that are stored.
A video that still yields no face track is scanned once more with `retry_config`: every frame
stretched, and the detection and track thresholds lowered to the retry settings.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from vidfake.config import ScanConfig

_SAMPLES = 16384  # pixels the percentiles are counted on (a strided subsample of the frame)
_LOW, _HIGH = 0.001, 0.999  # the fractions of values mapped to 0 and to 255
_ALWAYS = 256  # a `dim_range` no frame reaches: every frame is stretched


def stretch_lut(frame: np.ndarray, dim_range: int, max_gain: float) -> np.ndarray | None:
    """A uint8 lookup table that stretches an RGB frame's 0.1st-99.9th percentile values onto
    0-255, at most `max_gain` times; None when they already span `dim_range` or more."""
    if dim_range <= 0:
        return None
    step = max(1, int(np.sqrt(frame.shape[0] * frame.shape[1] / _SAMPLES)))
    counts = np.bincount(frame[::step, ::step].reshape(-1), minlength=256)
    cdf = np.cumsum(counts) / counts.sum()
    lo, hi = int(np.searchsorted(cdf, _LOW)), int(np.searchsorted(cdf, _HIGH))
    if hi - lo >= dim_range:
        return None
    gain = min(255.0 / max(hi - lo, 1), max_gain)
    return np.clip(np.rint((np.arange(256) - lo) * gain), 0, 255).astype(np.uint8)


def retry_config(cfg: ScanConfig) -> ScanConfig | None:
    """The settings of the low-light retry of a video that yielded no face track, or None
    when `detect.retry_min_score` turns the retry off (or would not lower anything)."""
    score = cfg.detect.retry_min_score
    if score is None or score >= cfg.detect.min_score:
        return None
    return replace(
        cfg,
        detect=replace(cfg.detect, min_score=score, dim_range=_ALWAYS),
        track=replace(
            cfg.track,
            min_mean_score=min(cfg.track.min_mean_score, cfg.track.retry_min_mean_score),
        ),
    )
