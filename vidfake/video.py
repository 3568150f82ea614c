"""Decode videos into sampled RGB frames: Decord in bounded chunks, PyAV when Decord refuses.

`probe(path)` reads the facts of a video; `sample_frames(path, strategy, chunk_size)` yields
the frames a named sampling strategy asks for, `chunk_size` at a time, so memory follows the
chunk size and never the video's length. Frames come out upright (display rotation applied).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import av
import decord
import numpy as np

decord.bridge.set_bridge("native")

DECORD = "decord"
PYAV = "pyav"


class VideoError(Exception):
    """A video that cannot be decoded; `reason` says why in words a person understands."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass
class VideoInfo:
    """Decode facts of one video; width and height are as displayed (after rotation)."""

    frames: int
    fps: float
    width: int
    height: int
    duration: float
    rotation: int  # display rotation in degrees counter-clockwise (0, 90, 180, 270)
    decoder: str  # "decord" or "pyav"


@dataclass
class FrameBatch:
    """A chunk of sampled frames with their source indices, times (s) and clip windows."""

    indices: np.ndarray  # int64 (N,) frame numbers in the video
    timestamps: np.ndarray  # float64 (N,) seconds from the start
    clip_index: np.ndarray  # int64 (N,) which sampling window each frame belongs to
    frames: np.ndarray  # uint8 (N, H, W, 3) RGB


_CLIP = re.compile(r"^clip:(\d+)@(\d+(?:\.\d+)?)(?:x(\d+))?$")
_UNIFORM = re.compile(r"^uniform:(\d+)$")


def check_strategy(strategy: str) -> None:
    """Raise ValueError when `strategy` is not `uniform:N`, `clip:T@FPS[xK]` or `all`."""
    if strategy == "all" or _UNIFORM.match(strategy):
        return
    m = _CLIP.match(strategy)
    if m and int(m.group(1)) > 0 and float(m.group(2)) > 0 and int(m.group(3) or 1) > 0:
        return
    raise ValueError(
        f"unknown sampling strategy {strategy!r}: use uniform:N, clip:T@FPS, clip:T@FPSxK or all"
    )


def sampling_fps(strategy: str) -> float | None:
    """The sampling rate of a `clip:T@FPS[xK]` strategy; None for strategies without one."""
    m = _CLIP.match(strategy)
    return float(m.group(2)) if m else None


def sample_plan(strategy: str, n_frames: int, fps: float) -> tuple[np.ndarray, np.ndarray]:
    """Frame indices and window numbers that `strategy` picks from a video of `n_frames`.

    `clip:T@FPS[xK]`: K windows of T frames, one every fps/FPS source frames (never faster than
    the source), spread evenly over the video; a video shorter than a window gives what it has.
    """
    check_strategy(strategy)
    if n_frames <= 0:
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    if strategy == "all":
        return np.arange(n_frames, dtype=np.int64), np.zeros(n_frames, np.int64)
    m = _UNIFORM.match(strategy)
    if m:
        n = min(int(m.group(1)), n_frames)
        idx = np.unique(np.round(np.linspace(0, n_frames - 1, n)).astype(np.int64))
        return idx, np.zeros(len(idx), np.int64)
    m = _CLIP.match(strategy)
    assert m is not None
    length, rate, windows = int(m.group(1)), float(m.group(2)), int(m.group(3) or 1)
    step = max(fps / rate, 1.0) if fps > 0 else 1.0
    span = length * step
    indices, clips = [], []
    for k in range(windows):
        start = max(n_frames - span, 0.0) * (k + 0.5) / windows
        idx = np.floor(start + np.arange(length) * step).astype(np.int64)
        idx = idx[idx < n_frames]
        indices.append(idx)
        clips.append(np.full(len(idx), k, np.int64))
    return np.concatenate(indices), np.concatenate(clips)


def _plain_reason(path: Path, exc: Exception) -> str:
    """Turn a decoder's exception into a sentence about the file."""
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return f"cannot decode {path.name}: {text}"


def _unreadable_reason(path: Path) -> str:
    """Why FFmpeg found no media: a cut-off MP4, a text file, or bytes of no known format."""
    with path.open("rb") as fh:
        head = fh.read(4096)
    if head[4:8] == b"ftyp":
        return "truncated or damaged MP4: its index (moov atom) is missing"
    try:
        head.decode("utf-8")
    except UnicodeDecodeError:
        return "not a video file (FFmpeg found no media format it can read)"
    return "not a video file: it is text"


def _precheck(path: Path) -> None:
    """Fail early, in plain words, for missing, empty and non-regular files."""
    if not path.exists():
        raise VideoError(f"file not found: {path}")
    if not path.is_file():
        raise VideoError(f"not a regular file: {path}")
    if path.stat().st_size == 0:
        raise VideoError("empty file (0 bytes)")


def _open_decord(path: Path) -> decord.VideoReader:
    """A Decord reader, or an exception when Decord refuses the file."""
    reader = decord.VideoReader(str(path), ctx=decord.cpu(0), num_threads=1)
    if len(reader) == 0:
        raise RuntimeError("no frames")
    return reader


def _pyav_rotation(container: av.container.InputContainer) -> int:
    """Display rotation (degrees counter-clockwise) from the first decodable frame."""
    for frame in container.decode(video=0):
        return int(frame.rotation or 0) % 360
    return 0


def _open_pyav(path: Path) -> av.container.InputContainer:
    """A PyAV container with a video stream, or VideoError saying why not."""
    try:
        container = av.open(str(path))
    except av.error.InvalidDataError:
        raise VideoError(_unreadable_reason(path)) from None
    except (av.error.FFmpegError, OSError) as exc:
        raise VideoError(_plain_reason(path, exc)) from None
    if not container.streams.video:
        kinds = sorted({s.type for s in container.streams})
        container.close()
        found = f" (it has {', '.join(kinds)} only)" if kinds else ""
        raise VideoError(f"no video stream{found}")
    return container


def _pyav_probe(path: Path) -> VideoInfo:
    """Facts by demuxing with PyAV (frame count from packets when the header lacks it)."""
    container = _open_pyav(path)
    try:
        stream = container.streams.video[0]
        fps = float(stream.average_rate or stream.guessed_rate or 0) or 25.0
        n = sum(1 for p in container.demux(stream) if p.size > 0)
        container.seek(0)
        rotation = _pyav_rotation(container)
        width, height = stream.codec_context.width, stream.codec_context.height
    except av.error.FFmpegError as exc:
        raise VideoError(_plain_reason(path, exc)) from None
    finally:
        container.close()
    if n == 0 or width == 0:
        raise VideoError("no decodable video frames (truncated or damaged file?)")
    if rotation in (90, 270):
        width, height = height, width
    return VideoInfo(n, fps, width, height, n / fps, rotation, PYAV)


def _decord_probe(path: Path, reader: decord.VideoReader) -> VideoInfo:
    """Facts from an open Decord reader; rotation from PyAV (Decord applies it already)."""
    height, width = reader.get_batch([0]).shape[1:3]
    reader.seek(0)
    n = len(reader)
    fps = float(reader.get_avg_fps()) or 25.0
    try:
        with av.open(str(path)) as container:
            rotation = _pyav_rotation(container)
    except av.error.FFmpegError:
        rotation = 0
    return VideoInfo(n, fps, int(width), int(height), n / fps, rotation, DECORD)


def probe(path: str | Path) -> VideoInfo:
    """Frame count, rate, displayed size, duration, rotation and the decoder that will be used."""
    path = Path(path)
    _precheck(path)
    try:
        reader = _open_decord(path)
    except Exception:
        return _pyav_probe(path)
    try:
        return _decord_probe(path, reader)
    except Exception:
        return _pyav_probe(path)


def _decord_batches(
    reader: decord.VideoReader, indices: np.ndarray, clips: np.ndarray, chunk_size: int
) -> Iterator[FrameBatch]:
    """Decode `indices` `chunk_size` at a time, seeking back to 0 to release Decord's buffers."""
    for start in range(0, len(indices), chunk_size):
        idx = indices[start : start + chunk_size]
        try:
            frames = reader.get_batch(idx.tolist()).asnumpy()
            times = reader.get_frame_timestamp(idx.tolist())[:, 0].astype(np.float64)
        except Exception as exc:
            raise VideoError(
                f"decoding failed near frame {int(idx[0])} (truncated or damaged file?): {exc}"
            ) from None
        finally:
            reader.seek(0)
        yield FrameBatch(idx, times, clips[start : start + chunk_size], frames)


def _pyav_batches(
    path: Path, info: VideoInfo, indices: np.ndarray, clips: np.ndarray, chunk_size: int
) -> Iterator[FrameBatch]:
    """Decode sequentially with PyAV, keeping the wanted frames, `chunk_size` at a time."""
    container = _open_pyav(path)
    wanted: dict[int, list[int]] = {}
    for pos, i in enumerate(indices.tolist()):
        wanted.setdefault(i, []).append(pos)
    k = (info.rotation // 90) % 4
    buf: list[tuple[int, float, np.ndarray]] = []
    try:
        for number, frame in enumerate(container.decode(video=0)):
            if number > indices[-1]:
                break
            if number not in wanted:
                continue
            img = np.ascontiguousarray(np.rot90(frame.to_ndarray(format="rgb24"), k))
            t = float(frame.time) if frame.time is not None else number / info.fps
            for pos in wanted[number]:
                buf.append((pos, t, img))
            if len(buf) >= chunk_size:
                yield _pack(buf, indices, clips)
                buf = []
    except av.error.FFmpegError as exc:
        raise VideoError(_plain_reason(path, exc)) from None
    finally:
        container.close()
    if buf:
        yield _pack(buf, indices, clips)


def _pack(
    buf: list[tuple[int, float, np.ndarray]], indices: np.ndarray, clips: np.ndarray
) -> FrameBatch:
    """Stack buffered (position, time, frame) into a FrameBatch."""
    pos = np.array([b[0] for b in buf], np.int64)
    return FrameBatch(
        indices[pos], np.array([b[1] for b in buf]), clips[pos], np.stack([b[2] for b in buf])
    )


def sample_frames(
    path: str | Path, strategy: str, chunk_size: int = 32, info: VideoInfo | None = None
) -> Iterator[FrameBatch]:
    """Yield the frames `strategy` picks (`uniform:N`, `clip:T@FPS[xK]`, `all`) in chunks.

    `info` is the video's `probe` result when the caller has it (saves probing twice).
    Raises VideoError for files no decoder can read, and ValueError for a bad strategy.
    """
    check_strategy(strategy)
    if chunk_size < 1:
        raise ValueError(f"chunk_size must be at least 1, got {chunk_size}")
    path = Path(path)
    info = info or probe(path)
    indices, clips = sample_plan(strategy, info.frames, info.fps)
    if len(indices) == 0:
        return
    if info.decoder == DECORD:
        yield from _decord_batches(_open_decord(path), indices, clips, chunk_size)
    else:
        yield from _pyav_batches(path, info, indices, clips, chunk_size)
