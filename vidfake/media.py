"""Media made from real footage: cut, scale, re-encode, compose, render frames, still clips.

The demo, the recipe, the benchmarks and the tests build their clips with these; everything
here derives from real footage by re-encoding. Encoding goes through PyAV (FFmpeg). Damaged
files for the tests are made in tests/damaged_media.py.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from fractions import Fraction
from pathlib import Path

import av
import cv2
import numpy as np

LAYOUTS = ("hstack", "vstack")


def _source_fps(stream: av.video.stream.VideoStream) -> float:
    """The stream's frame rate, falling back to 25 fps where the container does not say."""
    rate = stream.average_rate or stream.guessed_rate or stream.base_rate
    return float(rate) if rate else 25.0


def _read(
    src: str | Path, start: float = 0.0, duration: float | None = None
) -> tuple[Iterator[tuple[float, np.ndarray]], float, int]:
    """Open a video and return (iterator of (time from start, RGB frame), fps, rotation)."""
    container = av.open(str(src))
    if not container.streams.video:
        container.close()
        raise ValueError(f"{src}: no video stream")
    stream = container.streams.video[0]
    fps = _source_fps(stream)
    first = next(container.decode(stream), None)
    if first is None:
        container.close()
        raise ValueError(f"{src}: no decodable video frames")
    rotation = int(first.rotation or 0)
    origin = first.time or 0.0

    def frames() -> Iterator[tuple[float, np.ndarray]]:
        try:
            for index, frame in enumerate(_chain(first, container.decode(stream))):
                t = (frame.time - origin) if frame.time is not None else index / fps
                if t < start - 1e-6:
                    continue
                if duration is not None and t >= start + duration - 1e-6:
                    break
                yield t - start, frame.to_ndarray(format="rgb24")
        finally:
            container.close()

    return frames(), fps, rotation


def _chain(first: av.VideoFrame, rest: Iterable[av.VideoFrame]) -> Iterator[av.VideoFrame]:
    """The first decoded frame followed by the rest."""
    yield first
    yield from rest


def _resample(
    timed: Iterable[tuple[float, np.ndarray]], src_fps: float, fps: float
) -> Iterator[np.ndarray]:
    """Frames at a new constant rate: each output tick shows the latest source frame."""
    tick = 0
    previous: np.ndarray | None = None
    last_time = 0.0
    for t, frame in timed:
        while previous is not None and tick / fps < t - 1e-6:
            yield previous
            tick += 1
        previous, last_time = frame, t
    if previous is None:
        return
    end = last_time + 1.0 / src_fps
    while tick / fps < end - 1e-6:
        yield previous
        tick += 1


def _resize(frame: np.ndarray, scale: float | tuple[int, int]) -> np.ndarray:
    """Resize an RGB frame by a factor or to (width, height)."""
    h, w = frame.shape[:2]
    if isinstance(scale, tuple):
        size = (int(scale[0]), int(scale[1]))
    else:
        size = (max(1, round(w * scale)), max(1, round(h * scale)))
    if size == (w, h):
        return frame
    interpolation = cv2.INTER_AREA if size[0] < w else cv2.INTER_LINEAR
    return cv2.resize(frame, size, interpolation=interpolation)


def _pix_fmt(codec: str, width: int, height: int) -> str:
    """A pixel format the encoder accepts for this size (4:2:0 needs even sides)."""
    if codec == "gif":
        return "rgb8"
    if codec == "mjpeg":
        return "yuvj420p"
    if codec in ("libx264", "h264") and (width % 2 or height % 2):
        return "yuv444p"
    return "yuv420p"


def render_frames(
    frames: Iterable[np.ndarray],
    dst: str | Path,
    fps: float,
    codec: str = "libx264",
    rotation: int | None = None,
    pix_fmt: str | None = None,
    options: dict[str, str] | None = None,
) -> Path:
    """Encode RGB uint8 frames (H,W,3) into a video file; the container follows dst's suffix.

    `rotation` (degrees counter-clockwise) is written as the stream's display matrix, which
    PyAV reports as `VideoFrame.rotation` and Decord applies when decoding. `pix_fmt` and
    encoder `options` (e.g. `{"g": "50"}` for a keyframe every 50 frames) override defaults.
    """
    dst = Path(dst)
    it = iter(frames)
    first = next(it, None)
    if first is None:
        raise ValueError(f"render_frames: no frames to write to {dst}")
    height, width = first.shape[:2]
    fmt = {".264": "h264", ".h264": "h264", ".mpg": "mpeg", ".mpeg": "mpeg"}.get(dst.suffix)
    with written(dst, fmt) as out:
        stream = out.add_stream(codec, rate=Fraction(fps).limit_denominator(1001))
        stream.width, stream.height = width, height
        stream.pix_fmt = pix_fmt or _pix_fmt(codec, width, height)
        if options:
            stream.options = dict(options)
        stream.codec_context.thread_count = 1  # x264's output would follow the machine's cores
        if rotation:
            stream.set_display_rotation(rotation)
        for frame in _chain_arrays(first, it):
            if frame.shape[:2] != (height, width):
                frame = _resize(frame, (width, height))
            video_frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(frame), format="rgb24")
            for packet in stream.encode(video_frame):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)
    return dst


@contextmanager
def written(dst: str | Path, fmt: str | None = None) -> Iterator[av.container.OutputContainer]:
    """An output container written under a temporary name and renamed to `dst` when the block
    ends cleanly; on any error the partial file is removed, so `dst` is whole or absent."""
    dst = Path(dst)
    dst.parent.mkdir(parents=True, exist_ok=True)
    tmp = dst.with_name(f".{dst.stem}.partial{dst.suffix}")
    out = av.open(str(tmp), mode="w", format=fmt)
    try:
        yield out
    except BaseException:
        out.close()
        tmp.unlink(missing_ok=True)
        raise
    out.close()
    tmp.replace(dst)


def _chain_arrays(first: np.ndarray, rest: Iterator[np.ndarray]) -> Iterator[np.ndarray]:
    """The first frame followed by the rest."""
    yield first
    yield from rest


def cut(
    src: str | Path,
    dst: str | Path,
    start: float = 0.0,
    duration: float | None = None,
    max_frames: int | None = None,
) -> Path:
    """Re-encode the part of src from `start` seconds, at most `duration` s / `max_frames` frames.

    The video track only (H.264 unless dst's suffix asks otherwise); the source's rotation
    metadata is kept.
    """
    timed, fps, rotation = _read(src, start, duration)
    frames = (frame for _, frame in timed)
    if max_frames is not None:
        frames = (frame for _, frame in zip(range(max_frames), frames, strict=False))
    return render_frames(frames, dst, fps, _codec_for(dst), rotation=rotation or None)


def _codec_for(dst: str | Path) -> str:
    """The default encoder for a container suffix."""
    suffix = Path(dst).suffix.lower()
    return {".webm": "libvpx", ".gif": "gif", ".mpg": "mpeg1video", ".avi": "mpeg4"}.get(
        suffix, "libx264"
    )


def reencode(
    src: str | Path,
    dst: str | Path,
    codec: str = "libx264",
    fps: float | None = None,
    scale: float | tuple[int, int] | None = None,
    rotation: int | None = None,
) -> Path:
    """Re-encode src with another codec, frame rate, size (factor or (w,h)) or rotation tag.

    `rotation` replaces the source's display rotation (degrees counter-clockwise); None keeps it.
    """
    timed, src_fps, src_rotation = _read(src)
    out_fps = fps or src_fps
    frames: Iterable[np.ndarray]
    if fps is None:
        frames = (frame for _, frame in timed)
    else:
        frames = _resample(timed, src_fps, fps)
    if scale is not None:
        frames = (_resize(frame, scale) for frame in frames)
    rot = src_rotation if rotation is None else rotation
    return render_frames(frames, dst, out_fps, codec, rotation=rot or None)


def compose(srcs: Sequence[str | Path], dst: str | Path, layout: str = "hstack") -> Path:
    """Put several clips side by side (`hstack`) or one above the other (`vstack`) in one clip.

    The result lasts as long as the shortest source and runs at the first source's rate;
    sources are resized to the first one's height (hstack) or width (vstack).
    """
    if layout not in LAYOUTS:
        raise ValueError(f"unknown layout {layout!r}; choose one of {', '.join(LAYOUTS)}")
    if not srcs:
        raise ValueError("compose needs at least one source clip")
    readers = [_read(src) for src in srcs]
    fps = readers[0][1]

    def frames() -> Iterator[np.ndarray]:
        for group in zip(*(timed for timed, _, _ in readers), strict=False):
            tiles = [frame for _, frame in group]
            yield _stack(tiles, layout)

    return render_frames(frames(), dst, fps, _codec_for(dst))


def _stack(tiles: list[np.ndarray], layout: str) -> np.ndarray:
    """Resize tiles to a common height/width and concatenate them."""
    h, w = tiles[0].shape[:2]
    if layout == "hstack":
        fitted = [_resize(t, (round(t.shape[1] * h / t.shape[0]), h)) for t in tiles]
        return np.concatenate(fitted, axis=1)
    fitted = [_resize(t, (w, round(t.shape[0] * w / t.shape[1]))) for t in tiles]
    return np.concatenate(fitted, axis=0)


def still_clip(
    photo: str | Path,
    dst: str | Path,
    seconds: float = 3.2,
    fps: float = 10.0,
    seed: int = 0,
    max_side: int = 720,
) -> Path:
    """A short H.264 clip of a still photo under a slow, seeded zoom and pan (a camera drift).

    It lets real face photos enter the video pipeline (scan, tracks, windows) as real footage of
    more identities; nothing in the picture moves but the frame.
    """
    img = cv2.imread(str(photo), cv2.IMREAD_COLOR)
    if img is None:
        raise ValueError(f"{photo}: not a readable image")
    img = img[..., ::-1]
    h, w = img.shape[:2]
    scale = min(1.0, max_side / max(h, w))
    out_w, out_h = (max(2, int(v * scale) // 2 * 2) for v in (w, h))
    rng = np.random.default_rng(seed)
    zoom_end = rng.uniform(1.04, 1.12)
    drift = rng.uniform(-0.03, 0.03, size=2) * (w, h)
    n = max(1, round(seconds * fps))

    def frames() -> Iterator[np.ndarray]:
        for i in range(n):
            t = i / max(n - 1, 1)
            zoom = 1.0 + (zoom_end - 1.0) * t
            cx, cy = w / 2 + drift[0] * t, h / 2 + drift[1] * t
            m = np.array([[zoom, 0.0, w / 2 - zoom * cx], [0.0, zoom, h / 2 - zoom * cy]])
            view = cv2.warpAffine(
                np.ascontiguousarray(img), m, (w, h), borderMode=cv2.BORDER_REFLECT
            )
            yield cv2.resize(view, (out_w, out_h), interpolation=cv2.INTER_AREA)

    return render_frames(frames(), dst, fps)
