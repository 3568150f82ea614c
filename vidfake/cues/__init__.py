"""Cues beyond the face crop: dlib's 68 landmarks, eye aspect ratio and blinks per track."""

from vidfake.cues.blink import (
    BLINK_FEATURES,
    BlinkEvent,
    analyse_track,
    blink_features,
    blink_stats,
    detect_blinks,
    eye_aspect_ratio,
    frame_cue,
)
from vidfake.cues.landmarks import Landmarker

__all__ = [
    "BLINK_FEATURES",
    "BlinkEvent",
    "Landmarker",
    "analyse_track",
    "blink_features",
    "blink_stats",
    "detect_blinks",
    "eye_aspect_ratio",
    "frame_cue",
]
