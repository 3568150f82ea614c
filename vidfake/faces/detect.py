"""Face detection with MTCNN (facenet-pytorch's nets) on a downscaled copy of each frame.

The scale follows from the frame size (`max_side`) and the smallest face wanted (`min_face`):
frames shrink until their longer side fits `max_side`, but never so far that a `min_face`
face drops below MTCNN's reliable 20 pixels. Results are returned in full-frame pixels.
Frame by frame, the cascade of `vidfake.faces.mtcnn` runs the nets (OpenCV resampling);
`batch` hands the whole chunk to facenet-pytorch's own batched `detect`. What the nets see of a
dim frame has its levels stretched first (`vidfake.faces.lowlight`, `dim_range`).
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np
import torch
from facenet_pytorch import MTCNN

from vidfake.config import DetectConfig
from vidfake.faces.crop import area_resize, crop_face, face_square, square_origin
from vidfake.faces.lowlight import stretch_lut
from vidfake.faces.mtcnn import Cascade

_MTCNN_SMALLEST = 20  # pixels: MTCNN's default and reliable smallest face
_ONET_SIDE = 48  # O-Net's input side
_FOLLOW_MARGIN = 1.0  # O-Net sees the square on the previous box's longer side (1.3 drifts)
_SMALLEST_FOLLOWED = 12.0  # pixels: a followed box smaller than this is lost


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
        self._cascades: dict[int, Cascade] = {}

    def _net(self, min_size: int) -> MTCNN:
        """The MTCNN for a given smallest face (in detector pixels), cached."""
        if min_size not in self._nets:
            self._nets[min_size] = MTCNN(
                keep_all=True,
                min_face_size=min_size,
                thresholds=list(self.cfg.thresholds),
                post_process=False,
                device="cpu",
            ).to(memory_format=torch.channels_last)  # same results; measured 2x faster O-Net
        return self._nets[min_size]

    def _cascade(self, min_size: int) -> Cascade:
        """The frame-by-frame cascade on the nets of `_net(min_size)`, cached."""
        if min_size not in self._cascades:
            self._cascades[min_size] = Cascade(self._net(min_size))
        return self._cascades[min_size]

    def detect(self, frames: np.ndarray) -> list[Detections]:
        """Faces in each RGB frame of a uint8 (N, H, W, 3) array, in full-frame pixels."""
        if frames.ndim != 4 or frames.shape[-1] != 3:
            raise ValueError(f"expected frames of shape (N, H, W, 3), got {frames.shape}")
        if len(frames) == 0:
            return []
        height, width = frames.shape[1:3]
        scale = detection_scale(height, width, self.cfg)
        small = self._stretched(frames, _resize_all(frames, scale))
        min_size = max(12, int(round(self.cfg.min_face * scale)))
        if min(small.shape[1:3]) < min_size:  # smaller than the smallest face: none to find
            return [empty_detections() for _ in frames]
        if self.cfg.batch:
            with torch.inference_mode():
                boxes, probs, points = self._net(min_size).detect(small, landmarks=True)
            raw = list(zip(boxes, probs, points, strict=True))
        else:
            cascade = self._cascade(min_size)
            raw = [cascade.detect(img) for img in small]
        return [self._keep(b, p, lm, scale, width, height) for b, p, lm in raw]

    def _lut(self, frame: np.ndarray) -> np.ndarray | None:
        """The level stretch of a dim full-resolution frame, or None (see `lowlight`)."""
        return stretch_lut(frame, self.cfg.dim_range, self.cfg.max_gain)

    def _stretched(self, frames: np.ndarray, small: np.ndarray) -> np.ndarray:
        """The detector's copies of the frames, each dim one with its levels stretched."""
        luts = [self._lut(f) for f in frames]
        if all(lut is None for lut in luts):
            return small
        return np.stack(
            [s if lut is None else cv2.LUT(s, lut) for s, lut in zip(small, luts, strict=True)]
        )

    def refine(self, frame: np.ndarray, boxes: np.ndarray) -> Detections:
        """One MTCNN O-Net pass on the square around each box of an RGB frame: the face's new
        box, landmarks and score there, in full-frame pixels (boxes not clipped to the frame)."""
        if len(boxes) == 0:
            return empty_detections()
        crops, origins = [], []
        lut = self._lut(frame)
        for box in boxes:
            crop = crop_face(frame, box, _FOLLOW_MARGIN, _ONET_SIDE)
            crops.append(crop if lut is None else cv2.LUT(crop, lut))
            origins.append(square_origin(*face_square(box, _FOLLOW_MARGIN)))
        x = torch.from_numpy(np.stack(crops)).permute(0, 3, 1, 2).float()  # channels last
        with torch.inference_mode():  # MTCNN's normalisation; O-Net transposes internally
            reg, points, probs = self._net(_MTCNN_SMALLEST).onet((x - 127.5) * 0.0078125)
        o = np.asarray(origins, np.float32)
        x0, y0, side = o[:, :1], o[:, 1:2], o[:, 2:3]
        reg, points = reg.numpy(), points.numpy()
        new = np.concatenate([x0, y0, x0 + side, y0 + side], axis=1) + reg * side
        lm = np.stack([x0 + points[:, :5] * side, y0 + points[:, 5:] * side], axis=-1)
        return Detections(new.astype(np.float32), lm.astype(np.float32), probs[:, 1].numpy())

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
    return np.stack([area_resize(f, size) for f in frames])


class SequenceDetector:
    """Faces through a sequence of sampled frames, cheaply: full-frame MTCNN every `refresh`
    frames and at each new sampling window; in between, each known face is followed by one
    O-Net pass on the square around its previous box (~1-2 ms a face against 30-55 ms for a
    full frame), and a face whose O-Net score falls below `min_score` brings a full detection."""

    def __init__(self, detector: FaceDetector, refresh: int | None = None) -> None:
        self.detector = detector
        self.refresh = max(1, refresh if refresh is not None else detector.cfg.refresh)
        self._previous = empty_detections()  # unclipped boxes: what the next frame follows
        self._since_full = 0
        self._clip = -1
        self.full_detections = 0  # frames that needed full-frame MTCNN (for benchmarks)

    def detect(self, frames: np.ndarray, clip_index: np.ndarray) -> list[Detections]:
        """Detections for each frame of a chunk; call with the chunks in order."""
        out = []
        for frame, clip in zip(frames, clip_index.tolist(), strict=True):
            full = clip != self._clip or self._since_full >= self.refresh
            found = empty_detections()
            if not full and len(self._previous):
                found = self._follow(frame, self._previous)
                full = len(found) < len(self._previous)  # a face was lost: look again
            if full or not len(self._previous):
                found = self._refine(frame, self.detector.detect(frame[None])[0])
                self._since_full = 0
                self.full_detections += 1
            self._since_full += 1
            self._clip = clip
            self._previous = found
            out.append(_clipped(found, frame.shape[1], frame.shape[0]))
        return out

    def _refine(self, frame: np.ndarray, full: Detections) -> Detections:
        """Full-frame faces passed once through the follower, so every box comes from the same
        procedure (no jitter every `refresh` frames); faces it loses keep their full box."""
        followed = self._follow(frame, full)
        missed = [
            i for i, b in enumerate(full.boxes) if all(_iou(b, f) < 0.3 for f in followed.boxes)
        ]
        return Detections(
            np.concatenate([followed.boxes, full.boxes[missed]]),
            np.concatenate([followed.landmarks, full.landmarks[missed]]),
            np.concatenate([followed.scores, full.scores[missed]]),
        )

    def _follow(self, frame: np.ndarray, known: Detections) -> Detections:
        """Known faces that O-Net still finds (score >= min_score), overlaps merged."""
        moved = self.detector.refine(frame, known.boxes)
        side = np.minimum(
            moved.boxes[:, 2] - moved.boxes[:, 0], moved.boxes[:, 3] - moved.boxes[:, 1]
        )
        keep = (moved.scores >= self.detector.cfg.min_score) & (side >= _SMALLEST_FOLLOWED)
        kept: list[int] = []
        for i in np.flatnonzero(keep)[np.argsort(-moved.scores[keep])]:
            if all(_iou(moved.boxes[i], moved.boxes[k]) < 0.5 for k in kept):
                kept.append(int(i))
        return Detections(moved.boxes[kept], moved.landmarks[kept], moved.scores[kept])


def _clipped(dets: Detections, width: int, height: int) -> Detections:
    """The same detections with boxes clipped to the frame."""
    boxes = dets.boxes.copy()
    boxes[:, [0, 2]] = boxes[:, [0, 2]].clip(0, width)
    boxes[:, [1, 3]] = boxes[:, [1, 3]].clip(0, height)
    return Detections(boxes, dets.landmarks, dets.scores)


def _iou(a: np.ndarray, b: np.ndarray) -> float:
    """IoU of two x1,y1,x2,y2 boxes."""
    w = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    h = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = w * h
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return float(inter / union) if union > 0 else 0.0
