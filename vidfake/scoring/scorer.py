"""Score videos: a model over track windows → track scores → video score.

Each track is scored over sliding windows of T crops; the track score is a robust aggregate of
its window probabilities, and the video score is the maximum over tracks, because a video is
fake if any person in it is. Preprocessing comes from the checkpoint, so scoring sees crops
exactly as training did.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pyarrow as pa
import torch

from vidfake.checkpoint import load_checkpoint
from vidfake.config import ScanConfig, from_dict
from vidfake.metrics import sigmoid
from vidfake.sequences import SequenceTransform, scoring_windows, table_sequences
from vidfake.video import sampling_fps

log = logging.getLogger(__name__)

AGGREGATES = ("mean", "median", "trimmed", "confident")
DEFAULT_MODEL = Path(__file__).resolve().parents[1] / "weights" / "default"


def aggregate(probs: np.ndarray, method: str = "mean") -> float:
    """One track score from its window probabilities.

    `trimmed` drops the lowest and highest 10 %; `confident` follows the DFDC winner: when
    many windows are confidently fake (p > 0.8, more than 40 %), average those; when nearly all
    are confidently real (p < 0.2, more than 90 %), average those; otherwise the plain mean.
    """
    p = np.asarray(probs, dtype=np.float64).ravel()
    if p.size == 0:
        return float("nan")
    if method == "mean":
        return float(p.mean())
    if method == "median":
        return float(np.median(p))
    if method == "trimmed":
        k = int(p.size * 0.1)
        s = np.sort(p)
        return float(s[k : p.size - k].mean())
    if method == "confident":
        fake, real = p[p > 0.8], p[p < 0.2]
        if fake.size > 0.4 * p.size:
            return float(fake.mean())
        if real.size > 0.9 * p.size:
            return float(real.mean())
        return float(p.mean())
    raise ValueError(f"unknown aggregate {method!r}; choose one of {', '.join(AGGREGATES)}")


@dataclass
class TrackScore:
    """A track's windows and their fake probabilities."""

    track_id: int
    score: float
    probs: list[float]
    frames: list[list[int]]  # source frame indices of each window
    faces: int


@dataclass
class VideoScore:
    """The score of one video and what it was computed from."""

    video_id: str
    score: float
    top_track: int | None
    tracks: list[TrackScore] = field(default_factory=list)

    @property
    def frames_scored(self) -> int:
        """Distinct source frames that entered at least one window."""
        return len({f for t in self.tracks for w in t.frames for f in w})


def resolve_model(path: str | Path | None) -> Path:
    """The checkpoint to use: `path`, or the default detector that ships inside the package."""
    if path is not None:
        return Path(path)
    if not (DEFAULT_MODEL / "meta.json").is_file():
        raise FileNotFoundError(
            f"no --model given and the bundled default detector is missing ({DEFAULT_MODEL}); "
            "train one with `make model` or pass --model CKPT"
        )
    return DEFAULT_MODEL


class Scorer:
    """A loaded checkpoint that scores the face rows of one or many videos."""

    def __init__(
        self,
        model: str | Path | None = None,
        aggregate: str = "mean",
        stride: int | None = None,
        batch_size: int = 32,
        device: str = "cpu",
        threshold: float | None = None,
        tta: str | None = None,
    ) -> None:
        if aggregate not in AGGREGATES:
            raise ValueError(f"unknown aggregate {aggregate!r}; choose one of {AGGREGATES}")
        self.path = resolve_model(model)
        self.model, self.meta = load_checkpoint(self.path, device, tta)
        self.tta = self.meta["tta"]
        self.device = device
        self.transform = SequenceTransform.from_cfg(self.meta["preprocess"])
        self.uses_eyes = bool(self.meta.get("uses_eyes"))
        self.uses_blink = bool(self.meta.get("uses_blink"))
        self.has_face = bool(self.model.has_face)
        self.frames = self.transform.frames
        default_stride, self.pad = scoring_windows(self.frames)
        self.stride = stride or default_stride
        self.aggregate = aggregate
        self.batch_size = batch_size
        self.threshold = float(
            threshold if threshold is not None else self.meta.get("threshold", 0.5)
        )
        self.sample_fps = sampling_fps(self.scan_config().sampling)

    def scan_config(self) -> ScanConfig:
        """The scan settings the model was trained on (defaults when none were recorded)."""
        saved = self.meta.get("scan_settings")
        return from_dict(ScanConfig, saved) if saved else ScanConfig()

    def verdict(self, score: float) -> str:
        """`fake` at or above the checkpoint's threshold, else `real`."""
        return "fake" if score >= self.threshold else "real"

    @torch.no_grad()
    def _frame_features(self, blobs: list[bytes]) -> torch.Tensor | None:
        """The model's per-frame features of each distinct face crop, encoded once each."""
        if not self.has_face or not blobs:
            return None
        step = self.batch_size * self.frames
        out = []
        for i in range(0, len(blobs), step):
            x = self.transform.prepare_frames(blobs[i : i + step]).to(self.device)
            out.append(self.model.encode_frames(x))
        return torch.cat(out)

    @torch.no_grad()
    def _logits(
        self,
        feats: torch.Tensor | None,
        rows: list[list[int]],
        eyes: list[torch.Tensor | None],
        blinks: list[np.ndarray | None],
    ) -> np.ndarray:
        """Window logits from the frames' features (`rows`: each window's frame rows)."""
        out = []
        for i in range(0, len(rows), self.batch_size):
            part = slice(i, i + self.batch_size)
            f = None if feats is None else feats[torch.as_tensor(rows[part])]
            e = torch.stack(eyes[part]).to(self.device) if self.uses_eyes else None
            b = (
                torch.from_numpy(np.stack(blinks[part])).to(self.device)
                if self.uses_blink
                else None
            )
            out.append(self.model.classify_encoded(f, eyes=e, blink=b).float().cpu().numpy())
        return np.concatenate(out) if out else np.zeros(0, dtype=np.float32)

    def score_videos(self, faces: Iterable[tuple[str, pa.Table]]) -> dict[str, VideoScore]:
        """Score several videos at once: their windows are batched together through the model.

        A frame shared by overlapping windows (stride < T, padding) is decoded and encoded once;
        each window's temporal part then reads its frames' features.
        """
        keys: list[tuple[str, int]] = []
        frames: list[list[int]] = []
        rows: list[list[int]] = []
        blobs: list[bytes] = []
        frame_row: dict[tuple[str, int, int, int], int] = {}
        eyes: list[torch.Tensor | None] = []
        blinks: list[np.ndarray | None] = []
        counts: dict[tuple[str, int], int] = {}
        videos: list[str] = []
        for vid, table in faces:
            if vid in videos:
                continue  # the same content at another path: its windows enter once
            videos.append(vid)
            if table.num_rows == 0:
                continue
            for (v, t), n in _track_sizes(table).items():
                counts[(v, t)] = n
            if self.uses_blink and "ear" not in table.column_names:
                raise ValueError(f"{vid}: this model reads blink features; the faces hold no EAR")
            windows = table_sequences(
                table, self.frames, self.stride, self.pad, self.uses_blink, self.sample_fps
            )
            for seq in windows:
                keys.append((seq.video_id, seq.track_id))
                frames.append([int(f) for f in seq.frame_index])
                window = []
                for f, blob in zip(seq.frame_index, seq.faces, strict=True):
                    key = (seq.video_id, seq.track_id, seq.clip_index, int(f))
                    if key not in frame_row:
                        frame_row[key] = len(blobs)
                        blobs.append(blob)
                    window.append(frame_row[key])
                rows.append(window)
                eyes.append(self.transform.prepare_eyes(seq.eyes) if self.uses_eyes else None)
                blinks.append(seq.blink)
        feats = self._frame_features(blobs)
        probs = sigmoid(self._logits(feats, rows, eyes, blinks).astype(np.float64))
        per_track: dict[tuple[str, int], TrackScore] = {}
        for key, p, fr in zip(keys, probs, frames, strict=True):
            ts = per_track.setdefault(key, TrackScore(key[1], 0.0, [], [], counts.get(key, 0)))
            ts.probs.append(float(p))
            ts.frames.append(fr)
        results = {v: VideoScore(v, float("nan"), None) for v in videos}
        for (vid, _), ts in per_track.items():
            ts.score = aggregate(np.asarray(ts.probs), self.aggregate)
            results[vid].tracks.append(ts)
        for vs in results.values():
            if vs.tracks:
                top = max(vs.tracks, key=lambda t: t.score)
                vs.score, vs.top_track = top.score, top.track_id
        return results


def _track_sizes(table: pa.Table) -> dict[tuple[str, int], int]:
    """Face rows per (video, track)."""
    out: dict[tuple[str, int], int] = {}
    for v, t in zip(
        table.column("video_id").to_pylist(), table.column("track_id").to_pylist(), strict=True
    ):
        out[(v, t)] = out.get((v, t), 0) + 1
    return out
