"""Face rows of a track → windows of T consecutive crops → model-ready tensors.

Training, evaluation and scoring all go through this module, so the crops a model is scored on
are preprocessed exactly as the crops it was trained on: JPEG decoded, resized to the model's
input size, scaled to [0, 1] and normalised with the model's mean and std.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import cv2
import numpy as np
import pyarrow as pa
import torch

from vidfake.augment import SequenceAugment

SEQUENCE_COLUMNS = [
    "video_id",
    "track_id",
    "frame_index",
    "clip_index",
    "face_jpeg",
    "label",
    "group",
    "split",
]
EYE_COLUMNS = ["left_eye_jpeg", "right_eye_jpeg"]
BLINK_COLUMNS = ["timestamp", "ear"]


def track_windows(n_frames: int, T: int, stride: int, pad: bool = False) -> list[np.ndarray]:
    """Index arrays of windows of `T` consecutive positions in a run of `n_frames`.

    Windows start every `stride` positions and one more is aligned to the end, so the tail is
    covered. A run shorter than `T` gives no window, or with `pad` one window that repeats the
    last frame.
    """
    if T < 1 or stride < 1:
        raise ValueError(f"window length and stride must be >= 1, got T={T}, stride={stride}")
    if n_frames < T:
        if not pad or n_frames == 0:
            return []
        return [np.minimum(np.arange(T), n_frames - 1)]
    starts = list(range(0, n_frames - T + 1, stride))
    if starts[-1] != n_frames - T:
        starts.append(n_frames - T)
    return [np.arange(s, s + T) for s in starts]


@dataclass
class Sequence:
    """T consecutive face crops of one track, still JPEG-encoded."""

    video_id: str
    track_id: int
    label: int
    group: str
    split: str
    clip_index: int
    frame_index: np.ndarray  # source frame numbers of the T crops
    faces: list[bytes]
    eyes: list[tuple[bytes | None, bytes | None]] | None = None
    blink: np.ndarray | None = None  # the track's blink feature vector (BLINK_FEATURES order)


def track_blink_vector(rows: dict[str, list[Any]], fps: float | None) -> np.ndarray:
    """The blink feature vector of one track's rows (`timestamp`, `clip_index`, `ear`).

    Every window of a track gets the statistics of the whole track: blinks are seconds apart,
    far longer than a window. Fill values (`blink_valid` 0) when no EAR was stored or the
    sampling has no fixed rate.
    """
    from vidfake.cues.blink import blink_features, sampled_track_stats

    if not fps:
        return blink_features({})
    ear = np.array([np.nan if v is None else v for v in rows["ear"]], dtype=np.float64)
    return blink_features(sampled_track_stats(rows["timestamp"], rows["clip_index"], ear, fps))


def track_sequences(
    rows: dict[str, list[Any]],
    T: int,
    stride: int,
    pad: bool = False,
    blink: bool = False,
    fps: float | None = None,
) -> Iterator[Sequence]:
    """Windows over one track's rows (column → values), by frame order within each clip.

    With `blink`, every window carries the track's blink vector (rows sampled at `fps`).
    """
    vector = track_blink_vector(rows, fps) if blink else None
    clip = np.asarray(rows["clip_index"])
    frame = np.asarray(rows["frame_index"])
    order = np.lexsort((frame, clip))
    has_eyes = "left_eye_jpeg" in rows
    for c in np.unique(clip):
        run = order[clip[order] == c]
        for window in track_windows(len(run), T, stride, pad):
            idx = run[window]
            eyes = None
            if has_eyes:
                eyes = [(rows["left_eye_jpeg"][i], rows["right_eye_jpeg"][i]) for i in idx]
            yield Sequence(
                video_id=rows["video_id"][idx[0]],
                track_id=int(rows["track_id"][idx[0]]),
                label=int(rows["label"][idx[0]]),
                group=rows["group"][idx[0]],
                split=rows["split"][idx[0]],
                clip_index=int(c),
                frame_index=frame[idx],
                faces=[rows["face_jpeg"][i] for i in idx],
                eyes=eyes,
                blink=vector,
            )


def table_sequences(
    table: pa.Table | pa.RecordBatch,
    T: int,
    stride: int,
    pad: bool = False,
    blink: bool = False,
    fps: float | None = None,
) -> Iterator[Sequence]:
    """Every window of every track in a table of face rows (one video or many).

    With `blink` (the table then holds BLINK_COLUMNS), windows carry their track's blink vector.
    """
    data = table.to_pydict()
    keys = list(zip(data["video_id"], data["track_id"], strict=True))
    groups: dict[tuple[str, int], list[int]] = {}
    for i, key in enumerate(keys):
        groups.setdefault(key, []).append(i)
    for idx in groups.values():
        rows = {name: [values[i] for i in idx] for name, values in data.items()}
        yield from track_sequences(rows, T, stride, pad, blink, fps)


def decode_jpeg(blob: bytes | None) -> np.ndarray:
    """JPEG bytes → uint8 RGB array; a clear error for missing or undecodable bytes."""
    if not blob:
        raise ValueError("face crop is empty (no JPEG bytes in the shard row)")
    img = cv2.imdecode(np.frombuffer(blob, dtype=np.uint8), cv2.IMREAD_COLOR)
    if img is None:
        raise ValueError(f"face crop is not a decodable JPEG ({len(blob)} bytes)")
    return img[..., ::-1]


def scoring_windows(frames: int) -> tuple[int, bool]:
    """The windows a video score is read from, `(stride, pad)`: a stride of T/2 (each frame
    in two windows) and short tracks padded, so every track of at least one face counts.

    The one definition: `vidfake score`, `vidfake eval` and validation all use it.
    """
    return max(1, frames // 2), True


class SequenceTransform:
    """JPEG crops → normalised (T,3,H,W) tensors (and eye patches → (T,2,3,h,w)).

    Build it from a model's `default_cfg` or a checkpoint's meta (`from_cfg`), so scoring uses
    the preprocessing the model was trained with.
    """

    def __init__(
        self,
        input_size: tuple[int, int, int],
        mean: tuple[float, float, float],
        std: tuple[float, float, float],
        frames: int,
        eye_size: int | None = None,
        augment: SequenceAugment | None = None,
    ) -> None:
        self.input_size = tuple(int(v) for v in input_size)
        self.mean = np.asarray(mean, dtype=np.float32)
        self.std = np.asarray(std, dtype=np.float32)
        self.frames = int(frames)
        self.eye_size = eye_size
        self.augment = augment

    @classmethod
    def from_cfg(
        cls, cfg: dict[str, Any], augment: SequenceAugment | None = None
    ) -> SequenceTransform:
        """From a dict with `input_size`, `mean`, `std`, `frames` and optional `eye_size`."""
        return cls(
            tuple(cfg["input_size"]),
            tuple(cfg["mean"]),
            tuple(cfg["std"]),
            int(cfg["frames"]),
            cfg.get("eye_size"),
            augment,
        )

    def to_cfg(self) -> dict[str, Any]:
        """The preprocessing settings, for a checkpoint's meta."""
        return {
            "input_size": list(self.input_size),
            "mean": self.mean.tolist(),
            "std": self.std.tolist(),
            "frames": self.frames,
            "eye_size": self.eye_size,
        }

    def _to_tensor(self, imgs: list[np.ndarray], size: tuple[int, int]) -> torch.Tensor:
        """Resize, scale to [0,1], normalise and stack as (N,3,h,w)."""
        out = np.stack(
            [
                cv2.resize(
                    np.ascontiguousarray(im), (size[1], size[0]), interpolation=cv2.INTER_AREA
                )
                if im.shape[:2] != size
                else im
                for im in imgs
            ]
        ).astype(np.float32)
        out = (out / 255.0 - self.mean) / self.std
        return torch.from_numpy(out).permute(0, 3, 1, 2).contiguous()

    def prepare(
        self,
        faces: list[bytes],
        eyes: list[tuple[bytes | None, bytes | None]] | None = None,
        rng: np.random.Generator | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Decode, augment (when an augmenter and `rng` are given) and normalise a sequence."""
        if len(faces) != self.frames:
            raise ValueError(f"expected {self.frames} face crops, got {len(faces)}")
        imgs = [decode_jpeg(b) for b in faces]
        pairs = None
        if eyes is not None and self.eye_size:
            pairs = [(self._eye(left), self._eye(right)) for left, right in eyes]
        if self.augment is not None and rng is not None:
            imgs, pairs = self.augment(imgs, rng, pairs)
        x = self._to_tensor(imgs, self.input_size[1:])
        return x, None if pairs is None else self._eye_tensor(pairs)

    def prepare_frames(self, faces: list[bytes]) -> torch.Tensor:
        """Any number of JPEG face crops → normalised (N,3,H,W), no augmentation (scoring)."""
        return self._to_tensor([decode_jpeg(b) for b in faces], self.input_size[1:])

    def prepare_eyes(self, eyes: list[tuple[bytes | None, bytes | None]]) -> torch.Tensor:
        """A window's eye patch pairs → normalised (T,2,3,h,w), no augmentation (scoring)."""
        if not self.eye_size:
            raise ValueError("this transform has no eye size: the model reads no eye patches")
        return self._eye_tensor([(self._eye(left), self._eye(right)) for left, right in eyes])

    def _eye_tensor(self, pairs: list[tuple[np.ndarray, np.ndarray]]) -> torch.Tensor:
        flat = [im for pair in pairs for im in pair]
        e = self._to_tensor(flat, (self.eye_size, self.eye_size))
        return e.reshape(len(pairs), 2, *e.shape[1:])

    def _eye(self, blob: bytes | None) -> np.ndarray:
        """An eye patch, or a grey patch where the scan stored none."""
        if not blob:
            return np.full((self.eye_size, self.eye_size, 3), 128, dtype=np.uint8)
        return decode_jpeg(blob)

    def __call__(self, faces: list[bytes]) -> torch.Tensor:
        """JPEG bytes of T crops → normalised (T,3,H,W) float tensor, no augmentation."""
        return self.prepare(faces)[0]
