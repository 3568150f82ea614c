"""Face detection with facenet-pytorch's MTCNN on a downscaled copy of each frame.

The scale follows from the frame size (`max_side`) and the smallest face wanted (`min_face`):
frames shrink until their longer side fits `max_side`, but never so far that a `min_face`
face drops below MTCNN's reliable 20 pixels. Results are returned in full-frame pixels.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np
import torch
from facenet_pytorch import MTCNN

from vidfake.config import DetectConfig

_MTCNN_SMALLEST = 20  # pixels: MTCNN's default and reliable smallest face


@dataclass
class Detections:
    """Faces found in one frame: boxes x1,y1,x2,y2, 5 landmarks (MTCNN order), scores."""

    boxes: np.ndarray  # float32 (K, 4)
    landmarks: np.ndarray  # float32 (K, 5, 2): left eye, right eye, nose, mouth left, right
    scores: np.ndarray  # float32 (K,)

    def __len__(self) -> int:
        return len(self.scores)


def empty_detections() -> Detections:
    """A frame with no face."""
    return Detections(
        np.zeros((0, 4), np.float32), np.zeros((0, 5, 2), np.float32), np.zeros(0, np.float32)
    )


def detection_scale(height: int, width: int, cfg: DetectConfig) -> float:
    """The factor frames are resized by before detection (at most 1: never upscaled)."""
    fit = cfg.max_side / max(height, width)
    keep_small = _MTCNN_SMALLEST / max(cfg.min_face, 1)
    return float(min(1.0, max(fit, keep_small)))


class FaceDetector:
    """MTCNN with vidfake's settings; build once per process and reuse (loading costs ~0.1 s)."""

    def __init__(self, cfg: DetectConfig | None = None) -> None:
        self.cfg = cfg or DetectConfig()
        self._nets: dict[int, MTCNN] = {}

    def _net(self, min_size: int) -> MTCNN:
        """The MTCNN for a given smallest face (in detector pixels), cached."""
        if min_size not in self._nets:
            self._nets[min_size] = MTCNN(
                keep_all=True,
                min_face_size=min_size,
                thresholds=list(self.cfg.thresholds),
                post_process=False,
                device="cpu",
            )
        return self._nets[min_size]

    def detect(self, frames: np.ndarray) -> list[Detections]:
        """Faces in each RGB frame of a uint8 (N, H, W, 3) array, in full-frame pixels."""
        if frames.ndim != 4 or frames.shape[-1] != 3:
            raise ValueError(f"expected frames of shape (N, H, W, 3), got {frames.shape}")
        if len(frames) == 0:
            return []
        height, width = frames.shape[1:3]
        scale = detection_scale(height, width, self.cfg)
        small = _resize_all(frames, scale)
        min_size = max(12, int(round(self.cfg.min_face * scale)))
        if min(small.shape[1:3]) < min_size:  # smaller than the smallest face: none to find
            return [empty_detections() for _ in frames]
        net = self._net(min_size)
        with torch.inference_mode():
            if self.cfg.batch:
                boxes, probs, points = net.detect(small, landmarks=True)
                raw = list(zip(boxes, probs, points, strict=True))
            else:
                raw = [net.detect(img, landmarks=True) for img in small]
        return [self._keep(b, p, lm, scale, width, height) for b, p, lm in raw]

    def _keep(
        self, boxes: object, probs: object, points: object, scale: float, width: int, height: int
    ) -> Detections:
        """Drop weak detections, map back to full-frame pixels and clip boxes to the frame."""
        if boxes is None or len(boxes) == 0:
            return empty_detections()
        scores = np.asarray(probs, np.float32)
        keep = scores >= self.cfg.min_score
        if not keep.any():
            return empty_detections()
        b = np.asarray(boxes, np.float32)[keep] / scale
        b[:, [0, 2]] = b[:, [0, 2]].clip(0, width)
        b[:, [1, 3]] = b[:, [1, 3]].clip(0, height)
        lm = np.asarray(points, np.float32)[keep] / scale
        return Detections(b, lm, scores[keep])


def _resize_all(frames: np.ndarray, scale: float) -> np.ndarray:
    """Frames resized by `scale` with area interpolation (a view when scale is 1)."""
    if scale >= 1.0:
        return frames
    h, w = frames.shape[1:3]
    size = (max(1, round(w * scale)), max(1, round(h * scale)))
    return np.stack([cv2.resize(f, size, interpolation=cv2.INTER_AREA) for f in frames])
