"""Synthetic deepfake clips: one self-blend draw applied through a whole real video.

Pass one decodes the clip with PyAV and runs the scan's FaceDetector (MTCNN on a downscaled
copy) on every k-th frame, following one face. Its landmarks are smoothed over time and interpolated to every frame.
Pass two decodes again, blends each frame at full resolution and encodes the result (H.264
when available). The output carries SYNTHETIC_MARKER in its container comment and a JSON
sidecar, so nobody mistakes it for real footage.
"""

from __future__ import annotations

import itertools
import json
import os
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from fractions import Fraction
from pathlib import Path

import av
import numpy as np

from vidfake.config import DetectConfig
from vidfake.faces.detect import FaceDetector
from vidfake.synth.sbi import SelfBlend

SYNTHETIC_MARKER = "vidfake synthetic deepfake (self-blended)"
SIDECAR_SUFFIX = ".synthetic.json"


class SynthError(RuntimeError):
    """A synthetic fake could not be made from this input (unreadable, or no face in it)."""


@dataclass
class SyntheticRecord:
    """What was made: source, output, seed and parameter draw, frames that hold a face."""

    source: str
    output: str
    seed: int
    frames: int
    fps: float
    width: int
    height: int
    frames_blended: int
    detect_every: int
    codec: str
    params: dict
    marker: str = SYNTHETIC_MARKER
    label: int = 1
    sidecar: str | None = None
    notes: list[str] = field(default_factory=list)


def _frames(path: Path) -> Iterator[np.ndarray]:
    """Decode every frame of `path` upright (display rotation applied) as RGB uint8.

    Raises SynthError when the file cannot be decoded.
    """
    try:
        with av.open(str(path)) as container:
            if not container.streams.video:
                raise SynthError(f"{path}: no video stream")
            stream = container.streams.video[0]
            stream.thread_type = "AUTO"
            for frame in container.decode(stream):
                turns = (int(frame.rotation or 0) // 90) % 4
                yield np.ascontiguousarray(np.rot90(frame.to_ndarray(format="rgb24"), turns))
    except (av.error.FFmpegError, UnicodeDecodeError) as exc:
        raise SynthError(f"{path}: cannot decode video ({exc})") from exc


def _frame_rate(path: Path) -> Fraction:
    """Frame rate of the first video stream (25 when the container does not say)."""
    try:
        with av.open(str(path)) as container:
            if not container.streams.video:
                raise SynthError(f"{path}: no video stream")
            stream = container.streams.video[0]
            return Fraction(stream.average_rate or stream.guessed_rate or 25)
    except (av.error.FFmpegError, UnicodeDecodeError) as exc:
        raise SynthError(f"{path}: cannot open video ({exc})") from exc


class _FaceFollower:
    """Detects faces with the scan's FaceDetector and follows one person across keyframes."""

    def __init__(self, cfg: DetectConfig) -> None:
        self.detector = FaceDetector(cfg)
        self.last: np.ndarray | None = None  # box of the followed face at its last sighting

    def landmarks(self, frame: np.ndarray) -> np.ndarray | None:
        """The followed face's 5 landmarks in full-frame pixels, or None when it is not seen."""
        found = self.detector.detect(frame[None])[0]
        if len(found) == 0:
            return None
        boxes = found.boxes.astype(np.float64)
        if self.last is None:
            pick = int(np.argmax((boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])))
        else:
            centres = (boxes[:, :2] + boxes[:, 2:]) / 2
            prev = (self.last[:2] + self.last[2:]) / 2
            dist = np.linalg.norm(centres - prev, axis=1)
            pick = int(np.argmin(dist))
            if dist[pick] > 0.5 * max(self.last[2] - self.last[0], self.last[3] - self.last[1]):
                return None
        self.last = boxes[pick]
        return found.landmarks[pick].astype(np.float64)

    def lose(self) -> None:
        """Forget the followed face (it was gone too long), so the largest face is taken next."""
        self.last = None


def _landmark_track(
    path: Path, detect_every: int, cfg: DetectConfig, max_gap: int
) -> tuple[int, np.ndarray]:
    """Pass one: (frame count, (N, 5, 2) landmarks per frame; NaN where no face is followed)."""
    follower = _FaceFollower(cfg)
    keys: list[int] = []
    marks: list[np.ndarray] = []
    n = 0
    for i, frame in enumerate(_frames(path)):
        n = i + 1
        if i % detect_every:
            continue
        pts = follower.landmarks(frame)
        if pts is not None:
            keys.append(i)
            marks.append(pts)
        elif keys and i - keys[-1] > max_gap * detect_every:
            follower.lose()
    if n == 0:
        raise SynthError(f"{path}: the video has no decodable frames")
    return n, _interpolate(n, keys, marks, max_gap * detect_every, detect_every - 1)


def _interpolate(
    n: int, keys: list[int], marks: list[np.ndarray], max_gap: int, hold: int
) -> np.ndarray:
    """Smooth keyframe landmarks (3-tap over neighbours) and interpolate them to every frame.

    Keyframes at most `max_gap` frames apart are joined; the `hold` unexamined frames after the
    last keyframe of a run keep its landmarks.
    """
    out = np.full((n, 5, 2), np.nan)
    if not keys:
        return out
    k = np.asarray(keys)
    m = np.stack(marks)
    smooth = m.copy()
    for j in range(len(k)):
        near = [i for i in (j - 1, j, j + 1) if 0 <= i < len(k) and abs(k[i] - k[j]) <= max_gap]
        smooth[j] = m[near].mean(axis=0)
    for a in range(len(k)):
        out[k[a]] = smooth[a]
        if a + 1 < len(k) and k[a + 1] - k[a] <= max_gap:
            span = np.arange(k[a] + 1, k[a + 1])
            t = ((span - k[a]) / (k[a + 1] - k[a]))[:, None, None]
            out[span] = (1 - t) * smooth[a] + t * smooth[a + 1]
        else:
            out[k[a] + 1 : min(k[a] + 1 + hold, n)] = smooth[a]
    return out


def _open_writer(
    dst: Path, rate: Fraction, width: int, height: int, codec: str, crf: int
) -> tuple[av.container.OutputContainer, av.video.stream.VideoStream, str]:
    """An output container with the synthetic marker and a video stream (H.264 if available)."""
    container = av.open(str(dst), mode="w", format="mp4")
    container.metadata["comment"] = SYNTHETIC_MARKER
    container.metadata["title"] = SYNTHETIC_MARKER
    name = codec if codec in av.codecs_available else "mpeg4"
    stream = container.add_stream(name, rate=rate)
    stream.width, stream.height = width, height
    even = width % 2 == 0 and height % 2 == 0
    stream.pix_fmt = "yuv420p" if even or name != "libx264" else "yuv444p"
    # one encoder thread: x264's output depends on its thread count, which would follow the
    # machine's cores (sizes that are not multiples of 16 can still vary run to run)
    stream.codec_context.thread_count = 1
    if name == "libx264":
        stream.options = {"crf": str(crf), "preset": "veryfast"}
    else:
        stream.bit_rate = 4_000_000
    return container, stream, name


def make_synthetic_fake(
    src_video: str | Path,
    dst_video: str | Path,
    seed: int,
    *,
    blender: SelfBlend | None = None,
    flicker: bool = False,
    detect_every: int = 4,
    detect: DetectConfig | None = None,
    max_gap: int = 3,
    codec: str = "libx264",
    crf: int = 18,
    sidecar: bool = True,
) -> SyntheticRecord:
    """Write a self-blended synthetic deepfake of `src_video` to `dst_video` (MP4) and describe it.

    The scan's FaceDetector (MTCNN on a downscaled copy; `detect`, default max side 320) runs
    on every `detect_every`-th frame.
    Every frame is blended at full resolution with one parameter draw from `seed`; frames where
    the face is not followed are copied unchanged. Frames are written upright (the source's
    display rotation applied), so width and height are as displayed. Raises SynthError (and
    writes nothing) when the source cannot be decoded or no face is found.
    """
    src, dst = Path(src_video), Path(dst_video)
    if not src.is_file():
        raise SynthError(f"{src}: no such file")
    if dst.resolve() == src.resolve():
        raise ValueError("dst_video must differ from src_video")
    if detect_every < 1:
        raise ValueError(f"detect_every must be >= 1, got {detect_every}")
    rate = _frame_rate(src)
    cfg = detect or DetectConfig(max_side=320)
    n, marks = _landmark_track(src, detect_every, cfg, max_gap)
    have = ~np.isnan(marks[:, 0, 0])
    if not have.any():
        raise SynthError(f"{src}: no face found (MTCNN score >= {cfg.min_score}) to blend")
    blender = blender or SelfBlend()
    rng = np.random.default_rng(seed)
    params = blender.sample_params(rng)
    dst.parent.mkdir(parents=True, exist_ok=True)
    tmp = dst.with_name(f".{dst.name}.partial")
    frames = _frames(src)
    first = next(frames)
    height, width = first.shape[:2]
    container, stream, used = _open_writer(tmp, rate, width, height, codec, crf)
    written = 0
    try:
        for i, frame in enumerate(itertools.chain([first], frames)):
            if i < n and have[i]:
                frame_params = blender.jitter(params, rng) if flicker else params
                frame = blender.apply(frame, marks[i], frame_params)[0]
            out = av.VideoFrame.from_ndarray(np.ascontiguousarray(frame), format="rgb24")
            container.mux(stream.encode(out))
            written += 1
        container.mux(stream.encode())
    except BaseException:
        container.close()
        tmp.unlink(missing_ok=True)
        raise
    container.close()
    os.replace(tmp, dst)
    record = SyntheticRecord(
        source=str(src),
        output=str(dst),
        seed=int(seed),
        frames=written,
        fps=float(rate),
        width=width,
        height=height,
        frames_blended=int(have.sum()),
        detect_every=detect_every,
        codec=used,
        params=params.to_dict(),
    )
    if flicker:
        record.notes.append("per-frame flicker around params")
    if sidecar:
        side = dst.with_name(dst.name + SIDECAR_SUFFIX)
        record.sidecar = str(side)
        side.write_text(json.dumps(asdict(record), indent=2))
    return record


def synthetic_marker(path: str | Path) -> str | None:
    """The synthetic marker in a video's container comment, or None for unmarked media."""
    try:
        with av.open(str(path)) as container:
            comment = container.metadata.get("comment", "")
    except av.error.FFmpegError:
        return None
    return comment if SYNTHETIC_MARKER in comment else None


def is_synthetic(path: str | Path) -> bool:
    """True when the video carries vidfake's synthetic marker (tag or sidecar)."""
    p = Path(path)
    return synthetic_marker(p) is not None or p.with_name(p.name + SIDECAR_SUFFIX).is_file()
