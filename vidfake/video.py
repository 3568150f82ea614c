"""Decode videos into sampled RGB frames: the frames a sequential decode gives, in bounded chunks.

`probe(path)` reads the facts of a video and chooses its decode path; `sample_frames(path,
strategy, chunk_size)` yields the frames a named sampling strategy asks for, `chunk_size` at a
time, so memory follows the chunk size and never the video's length. Frames come out upright
(display rotation applied).

Two paths, chosen per video (docs/architecture.md has the figures):
- `pyav`: PyAV decodes forward from the first packet and converts only the sampled frames. It
  is right on every stream FFmpeg decodes, reads non-seekable inputs, and skips a damaged
  packet (counted in `DecodeReport.damaged`) instead of giving up the video.
- `decord`: Decord's random access, used only where it is known to be safe (`random_access_safe`:
  8-bit 4:2:0 H.264 in the profiles measured to seek right, in a seekable container) and where it
  saves work (a long video whose sampled windows leave most frames undecoded). A runtime guard
  compares Decord's frame after the first seek with the forward decode; on any difference, or
  when Decord stops at a damaged packet, the video is read forward instead (`decord->pyav`).
High 4:4:4 Predictive H.264 (every FaceForensics++ c23/c40 file) is never random-accessed:
frames decoded after a seek to a later keyframe were measured corrupt there.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import av
import decord
import numpy as np

decord.bridge.set_bridge("native")

DECORD = "decord"
PYAV = "pyav"
DECORD_FALLBACK = "decord->pyav"
DECODE_VERSION = 2  # bump when the frames a path returns change (keys scan caches)

# Random access pays off only when forward decoding would read many frames that no window uses.
RANDOM_ACCESS_MIN_FRAMES = 900
RANDOM_ACCESS_MIN_SAVING = 3.0  # frames read forward / frames random access reads
GUARD_MIN_PSNR = 40.0  # dB between Decord's first seeked frame and the forward decode

_SAFE_H264_PROFILES = {"Baseline", "Constrained Baseline", "Main", "High"}
_SAFE_PIX_FMTS = {"yuv420p", "yuvj420p"}
_NO_SEEK_FORMATS = {"h264", "hevc", "mpegvideo", "m4v", "mjpeg", "gif", "image2pipe"}


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
    decoder: str  # "decord" when guarded random access is allowed for this stream, else "pyav"
    codec: str = ""  # e.g. "h264 High 4:4:4 Predictive yuv444p"
    keyframes: tuple[int, ...] = ()  # frame numbers (demux order) of keyframes
    seekable: bool = True
    random_access_safe: bool = False


@dataclass
class DecodeReport:
    """What one `sample_frames` call did: the path it ended on and the frames damage cost."""

    decoder: str = ""
    damaged: int = 0  # packets that failed to decode (each costs the frames it carried)
    notes: list[str] = field(default_factory=list)


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


def _plain_reason(path: Path, exc: BaseException) -> str:
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
    if path.is_symlink() and not path.exists():
        raise VideoError(f"broken symbolic link: its target {path.readlink()} does not exist")
    if not path.exists():
        raise VideoError(f"file not found: {path}")
    if path.is_dir():
        raise VideoError(f"a directory, not a video file: {path}")
    if not path.is_file():
        raise VideoError(f"not a regular file: {path}")
    if path.stat().st_size == 0:
        raise VideoError("empty file (0 bytes)")


def _open_pyav(path: Path) -> av.container.InputContainer:
    """A PyAV container with a video stream, or VideoError saying why not."""
    try:
        container = av.open(str(path), metadata_errors="replace")
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


def _codec_facts(stream: av.video.stream.VideoStream) -> tuple[str, bool]:
    """A readable codec description, and whether Decord's random access is known to be safe."""
    ctx = stream.codec_context
    name = ctx.name or "unknown"
    profile = ctx.profile or ""
    pix_fmt = ctx.format.name if ctx.format is not None else ""
    desc = " ".join(part for part in (name, profile, pix_fmt) if part)
    safe = name == "h264" and profile in _SAFE_H264_PROFILES and pix_fmt in _SAFE_PIX_FMTS
    return desc, safe


def _rotation(container: av.container.InputContainer) -> int:
    """Display rotation (degrees counter-clockwise) from the first decodable frame."""
    try:
        for packet in container.demux(video=0):
            try:
                frames = packet.decode()
            except av.error.InvalidDataError:
                continue
            if frames:
                return int(frames[0].rotation or 0) % 360
    except av.error.FFmpegError:
        return 0
    return 0


def probe(path: str | Path) -> VideoInfo:
    """Frame count, rate, displayed size, keyframes, codec, rotation and the decode path.

    Demuxes every packet (no decoding) to count frames and find keyframes: what the header
    says is not trusted, and raw streams carry no header counts at all.
    """
    path = Path(path)
    _precheck(path)
    container = _open_pyav(path)
    try:
        stream = container.streams.video[0]
        fps = float(stream.average_rate or stream.guessed_rate or 0) or 25.0
        codec, safe = _codec_facts(stream)
        width, height = stream.codec_context.width, stream.codec_context.height
        seekable = container.format.name.split(",")[0] not in _NO_SEEK_FORMATS
        keyframes, n = [], 0
        try:
            for packet in container.demux(stream):
                if packet.size == 0:
                    continue
                if packet.is_keyframe:
                    keyframes.append(n)
                n += 1
        except av.error.FFmpegError:
            pass  # a damaged tail: the frames demuxed so far are what there is
    finally:
        container.close()
    if n == 0 or width == 0:
        raise VideoError("no decodable video frames (truncated or damaged file?)")
    with _open_pyav(path) as container:
        rotation = _rotation(container)
    if rotation in (90, 270):
        width, height = height, width
    allowed = DECORD if safe and seekable else PYAV
    return VideoInfo(
        n, fps, width, height, n / fps, rotation, allowed, codec, tuple(keyframes), seekable, safe
    )


def choose_decoder(info: VideoInfo, indices: np.ndarray) -> str:
    """`decord` where random access is known safe and saves work for these indices, else `pyav`.

    Work is counted in frames decoded: forward reading decodes up to the last sampled frame;
    random access decodes from the keyframe before each run of sampled frames.
    """
    if not (info.seekable and info.random_access_safe) or len(indices) == 0:
        return PYAV
    if info.frames < RANDOM_ACCESS_MIN_FRAMES or len(info.keyframes) < 2:
        return PYAV
    forward = int(indices[-1]) + 1
    keys = np.asarray(info.keyframes, np.int64)
    starts = keys[np.searchsorted(keys, indices, side="right") - 1]
    spans: dict[int, int] = {}
    for start, idx in zip(starts.tolist(), indices.tolist(), strict=True):
        spans[start] = max(spans.get(start, start), idx)
    random = sum(end - start + 1 for start, end in spans.items())
    return DECORD if forward >= RANDOM_ACCESS_MIN_SAVING * random else PYAV


def _psnr(a: np.ndarray, b: np.ndarray) -> float:
    """Peak signal-to-noise ratio of two uint8 images in dB (inf when equal)."""
    mse = float(np.mean((a.astype(np.float32) - b.astype(np.float32)) ** 2))
    return float("inf") if mse == 0 else 10.0 * np.log10(255.0**2 / mse)


class _Forward:
    """PyAV forward decoding that converts only wanted frames and survives damaged packets."""

    def __init__(self, path: Path, info: VideoInfo, report: DecodeReport) -> None:
        self.path, self.info, self.report = path, info, report
        self.k = (info.rotation // 90) % 4

    def frames(self, wanted: set[int]) -> Iterator[tuple[int, float, np.ndarray]]:
        """(frame number, seconds, RGB) for each wanted frame number, in order."""
        if not wanted:
            return
        last = max(wanted)
        number = 0
        with _open_pyav(self.path) as container:
            stream = container.streams.video[0]
            stream.thread_type = "AUTO"
            try:
                for packet in container.demux(stream):
                    try:
                        decoded = packet.decode()
                    except (av.error.InvalidDataError, av.error.UndefinedError):
                        if packet.size:
                            self.report.damaged += 1
                        continue
                    for frame in decoded:
                        if number in wanted:
                            yield number, self._time(frame, number), self._rgb(frame)
                        number += 1
                        if number > last:
                            return
            except av.error.FFmpegError as exc:
                self.report.damaged += 1
                self.report.notes.append(f"demuxing stopped at frame {number}: {exc}")

    def _time(self, frame: av.VideoFrame, number: int) -> float:
        return float(frame.time) if frame.time is not None else number / self.info.fps

    def _rgb(self, frame: av.VideoFrame) -> np.ndarray:
        img = frame.to_ndarray(format="rgb24")
        return np.ascontiguousarray(np.rot90(img, self.k)) if self.k else img


def _chunks(
    source: Iterator[tuple[int, float, np.ndarray]],
    indices: np.ndarray,
    clips: np.ndarray,
    chunk_size: int,
) -> Iterator[FrameBatch]:
    """Group decoded (number, time, frame) into FrameBatches in plan order, repeats included.

    Frames decode in increasing number; where windows overlap (short videos) the plan revisits
    earlier numbers, so a decoded frame waits until the plan reaches it. A frame that never
    decodes (damaged) is skipped once decoding has passed it.
    """
    positions: dict[int, list[int]] = {}
    for pos, i in enumerate(indices.tolist()):
        positions.setdefault(i, []).append(pos)
    ready: dict[int, tuple[float, np.ndarray]] = {}
    buf: list[tuple[int, float, np.ndarray]] = []
    nxt = 0

    def drain(decoded_upto: int) -> None:
        nonlocal nxt
        while nxt < len(indices):
            pos_frame = int(indices[nxt])
            if nxt in ready:
                t, img = ready.pop(nxt)
                buf.append((nxt, t, img))
            elif pos_frame > decoded_upto:
                return
            nxt += 1

    for number, t, img in source:
        for pos in positions[number]:
            if pos >= nxt:
                ready[pos] = (t, img)
        drain(number)
        while len(buf) >= chunk_size:
            yield _pack(buf[:chunk_size], indices, clips)
            del buf[:chunk_size]
    drain(int(indices.max()))
    ready.clear()
    for start in range(0, len(buf), chunk_size):
        yield _pack(buf[start : start + chunk_size], indices, clips)


def _pack(
    buf: list[tuple[int, float, np.ndarray]], indices: np.ndarray, clips: np.ndarray
) -> FrameBatch:
    """Stack buffered (position, time, frame) into a FrameBatch."""
    pos = np.array([b[0] for b in buf], np.int64)
    return FrameBatch(
        indices[pos], np.array([b[1] for b in buf]), clips[pos], np.stack([b[2] for b in buf])
    )


class _RandomAccess:
    """Decord's `get_batch` in chunks, guarded against wrong seeks, falling back to forward."""

    def __init__(self, path: Path, info: VideoInfo, report: DecodeReport) -> None:
        self.path, self.info, self.report = path, info, report

    def frames(
        self, indices: np.ndarray, chunk_size: int
    ) -> Iterator[tuple[int, float, np.ndarray]]:
        """(frame number, seconds, RGB) for the sorted unique `indices`."""
        done = -1
        try:
            reader = decord.VideoReader(str(self.path), ctx=decord.cpu(0), num_threads=1)
            reader.get_batch([0])  # frame 0's SEI names the encoder build FFmpeg works around
            reader.seek(0)
            self._guard(reader, indices)
            for start in range(0, len(indices), chunk_size):
                idx = indices[start : start + chunk_size].tolist()
                try:
                    frames = reader.get_batch(idx).asnumpy()
                    times = reader.get_frame_timestamp(idx)[:, 0].astype(np.float64)
                finally:
                    reader.seek(0)
                for number, t, img in zip(idx, times.tolist(), frames, strict=True):
                    yield number, t, img
                    done = number
        except (decord.DECORDError, RuntimeError, IndexError, UnicodeEncodeError) as exc:
            self.report.decoder = DECORD_FALLBACK
            self.report.notes.append(f"Decord stopped after frame {done} ({exc}); read forward")
            rest = {i for i in indices.tolist() if i > done}
            yield from _Forward(self.path, self.info, self.report).frames(rest)

    def _guard(self, reader: decord.VideoReader, indices: np.ndarray) -> None:
        """Compare Decord's first frame reached by a seek past a later keyframe with a forward read.

        Raises RuntimeError (handled as a fallback) when they differ.
        """
        later = [k for k in self.info.keyframes if k > 0 and k <= int(indices[-1])]
        if not later:
            return
        check = int(indices[np.searchsorted(indices, later[0])])
        got = reader.get_batch([check]).asnumpy()[0]
        reader.seek(0)
        forward = _Forward(self.path, self.info, DecodeReport())
        ref = next((img for _, _, img in forward.frames({check})), None)
        if ref is None or ref.shape != got.shape or _psnr(got, ref) < GUARD_MIN_PSNR:
            raise RuntimeError(f"frame {check} after a seek differs from the forward decode")


def sample_frames(
    path: str | Path,
    strategy: str,
    chunk_size: int = 32,
    info: VideoInfo | None = None,
    report: DecodeReport | None = None,
) -> Iterator[FrameBatch]:
    """Yield the frames `strategy` picks (`uniform:N`, `clip:T@FPS[xK]`, `all`) in chunks.

    `info` is the video's `probe` result when the caller has it (saves probing twice); `report`
    is filled with the path taken and the damaged packets. Frames a damaged packet destroyed are
    missing from the batches (their indices too). Raises VideoError for files no decoder can
    read, and ValueError for a bad strategy.
    """
    check_strategy(strategy)
    if chunk_size < 1:
        raise ValueError(f"chunk_size must be at least 1, got {chunk_size}")
    path = Path(path)
    info = info or probe(path)
    report = report if report is not None else DecodeReport()
    indices, clips = sample_plan(strategy, info.frames, info.fps)
    if len(indices) == 0:
        return
    unique = np.unique(indices)
    report.decoder = choose_decoder(info, unique)
    if report.decoder == DECORD:
        source = _RandomAccess(path, info, report).frames(unique, chunk_size)
    else:
        source = _Forward(path, info, report).frames(set(unique.tolist()))
    try:
        yield from _chunks(source, indices, clips, chunk_size)
    except av.error.FFmpegError as exc:
        raise VideoError(_plain_reason(path, exc)) from None
