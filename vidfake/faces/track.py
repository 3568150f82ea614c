"""Associate detections across sampled frames into identity tracks (IoU, gap tolerance).

Each sampled frame's detections are matched to live tracks by optimal assignment on box IoU;
a track survives `max_gap` sampled frames without a match. Every person keeps a track of
their own, so a fake face is never averaged away with a real one beside it.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from scipy.optimize import linear_sum_assignment

from vidfake.config import TrackConfig
from vidfake.faces.detect import Detections


@dataclass
class Track:
    """One person's faces: positions into the sampled-frame list and their detections."""

    track_id: int
    frames: list[int] = field(default_factory=list)  # positions into the sampled frames
    det_index: list[int] = field(default_factory=list)  # index within that frame's detections
    boxes: np.ndarray = field(default_factory=lambda: np.zeros((0, 4), np.float32))
    landmarks: np.ndarray = field(default_factory=lambda: np.zeros((0, 5, 2), np.float32))
    scores: np.ndarray = field(default_factory=lambda: np.zeros(0, np.float32))

    def __len__(self) -> int:
        return len(self.frames)


def box_iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """IoU matrix between boxes a (N,4) and b (M,4), x1,y1,x2,y2."""
    x1 = np.maximum(a[:, None, 0], b[None, :, 0])
    y1 = np.maximum(a[:, None, 1], b[None, :, 1])
    x2 = np.minimum(a[:, None, 2], b[None, :, 2])
    y2 = np.minimum(a[:, None, 3], b[None, :, 3])
    inter = (x2 - x1).clip(0) * (y2 - y1).clip(0)
    area_a = (a[:, 2] - a[:, 0]) * (a[:, 3] - a[:, 1])
    area_b = (b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1])
    return inter / np.maximum(area_a[:, None] + area_b[None, :] - inter, 1e-9)


@dataclass
class _Open:
    frames: list[int]
    det_index: list[int]
    last_box: np.ndarray
    last_seen: int


def build_tracks(dets: list[Detections], cfg: TrackConfig) -> list[Track]:
    """Tracks over the sampled frames, dropping short (`min_length`) and weak ones."""
    live: list[_Open] = []
    done: list[_Open] = []
    for t, frame_dets in enumerate(dets):
        still = [o for o in live if t - o.last_seen <= cfg.max_gap + 1]
        done.extend(o for o in live if t - o.last_seen > cfg.max_gap + 1)
        live = still
        matched: set[int] = set()
        if live and len(frame_dets):
            iou = box_iou(np.stack([o.last_box for o in live]), frame_dets.boxes)
            rows, cols = linear_sum_assignment(-iou)
            for r, c in zip(rows, cols, strict=True):
                if iou[r, c] >= cfg.iou:
                    live[r].frames.append(t)
                    live[r].det_index.append(int(c))
                    live[r].last_box = frame_dets.boxes[c]
                    live[r].last_seen = t
                    matched.add(int(c))
        for c in range(len(frame_dets)):
            if c not in matched:
                live.append(_Open([t], [c], frame_dets.boxes[c], t))
    done.extend(live)
    tracks = []
    for o in sorted(done, key=lambda o: (o.frames[0], o.det_index[0])):
        scores = np.array([dets[t].scores[c] for t, c in zip(o.frames, o.det_index, strict=True)])
        if len(o.frames) < cfg.min_length or float(scores.mean()) < cfg.min_mean_score:
            continue
        pairs = list(zip(o.frames, o.det_index, strict=True))
        tracks.append(
            Track(
                track_id=len(tracks),
                frames=list(o.frames),
                det_index=list(o.det_index),
                boxes=np.stack([dets[t].boxes[c] for t, c in pairs]).astype(np.float32),
                landmarks=np.stack([dets[t].landmarks[c] for t, c in pairs]).astype(np.float32),
                scores=scores.astype(np.float32),
            )
        )
    return tracks
