"""Synthetic clips for the decode conformance suite, encoded with PyAV, and their reference decode.

Every frame is a gradient, diagonal stripes and a square that move with the frame number, and
a strip of ten black/white bars along the bottom that spells the frame number in binary, so
a wrong, repeated or corrupt frame is visible and `frame_number` can say which frame it was.
The reference is a sequential PyAV decode from the first frame (`rgb24`, turned upright as the
display matrix says), numbered in the order the decoder outputs frames.
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av
import numpy as np

BAR_ROWS = 8  # height of the frame-number strip at the bottom of every frame
BITS = 10  # bars in the strip: frame numbers up to 1023
AV1_ENCODERS = ("libaom-av1", "libsvtav1", "librav1e")
AV1_DECODERS = ("libdav1d", "libaom-av1", "av1")


@dataclass(frozen=True)
class Case:
    """One clip: encoder, container, pixel format, GOP shape and the metadata it carries."""

    id: str
    codec: str  # an encoder in av.codecs_available, or "av1" for whichever AV1 encoder exists
    suffix: str
    pix_fmt: str  # the encoder's input, and the format the decoder gives back (gif: palette)
    frames: int = 90
    size: tuple[int, int] = (128, 96)  # (width, height) as displayed
    fps: int = 25
    gop: int | None = None  # keyframe interval; None leaves the encoder's default
    bframes: int | None = None  # consecutive B-frames; None leaves the encoder's default
    profile: str | None = None  # the profile name PyAV reads back (libx264: also the request)
    open_gop: bool = False
    vfr: bool = False  # irregular frame durations (in ms)
    rotation: int = 0  # display rotation, degrees counter-clockwise
    fmt: str | None = None  # container format when the suffix does not say it


X264_PROFILES = {
    "Constrained Baseline": "baseline",
    "Main": "main",
    "High": "high",
    "High 10": "high10",
    "High 4:2:2": "high422",
    "High 4:4:4 Predictive": "high444",
}
VPX = {"deadline": "good", "cpu-used": "8", "threads": "1"}


def _h264(name: str, profile: str, pix_fmt: str, gop: int, bframes: int, **kw) -> Case:
    """An H.264 case for libx264 (mp4 unless `suffix` says otherwise)."""
    suffix = kw.pop("suffix", ".mp4")
    return Case(name, "libx264", suffix, pix_fmt, gop=gop, bframes=bframes, profile=profile, **kw)


HIGH444 = "High 4:4:4 Predictive"
HEADLINE = _h264("h264-high444-gop50-200f", HIGH444, "yuv444p", 50, 3, frames=200)

CASES: list[Case] = [
    HEADLINE,
    _h264("h264-high-gop25-1000f", "High", "yuv420p", 25, 3, frames=1000),
    _h264("h264-baseline-gop20", "Constrained Baseline", "yuv420p", 20, 0),
    _h264("h264-main-bframes-gop20", "Main", "yuv420p", 20, 3),
    _h264("h264-high-bframes-gop12", "High", "yuv420p", 12, 3),
    _h264("h264-high-nobframes-gop25", "High", "yuv420p", 25, 0),
    _h264("h264-high-bframes-1gop", "High", "yuv420p", 250, 3),
    _h264("h264-high422-gop20", "High 4:2:2", "yuv422p", 20, 3),
    _h264("h264-high444-bframes-gop12", HIGH444, "yuv444p", 12, 3),
    _h264("h264-high444-nobframes-gop25", HIGH444, "yuv444p", 25, 0),
    _h264("h264-high444-bframes-1gop", HIGH444, "yuv444p", 250, 3),
    _h264("h264-high10-gop20", "High 10", "yuv420p10le", 20, 3),
    _h264("h264-high444-10bit-gop20", HIGH444, "yuv444p10le", 20, 3),
    _h264("h264-high-opengop-gop20", "High", "yuv420p", 20, 3, open_gop=True),
    _h264("h264-high444-opengop-gop20", HIGH444, "yuv444p", 20, 3, open_gop=True),
    _h264("h264-high-vfr-gop20", "High", "yuv420p", 20, 3, vfr=True),
    _h264("h264-high444-vfr-gop20", HIGH444, "yuv444p", 20, 3, vfr=True),
    _h264("h264-high-rot90-gop20", "High", "yuv420p", 20, 3, rotation=90),
    _h264("h264-high444-rot270-gop20", HIGH444, "yuv444p", 20, 3, rotation=270),
    _h264("h264-raw-264-high-gop20", "High", "yuv420p", 20, 3, suffix=".264", fmt="h264"),
    _h264("h264-raw-h264-high444-gop20", HIGH444, "yuv444p", 20, 3, suffix=".h264", fmt="h264"),
    Case("mpeg4-avi-bframes-gop12", "mpeg4", ".avi", "yuv420p", gop=12, bframes=2),
    Case("mpeg4-mp4-bframes-gop12", "mpeg4", ".mp4", "yuv420p", gop=12, bframes=2),
    Case("mpeg1-mpg-gop12", "mpeg1video", ".mpg", "yuv420p", gop=12, bframes=2, fmt="mpeg"),
    Case("mpeg2-mpg-gop12", "mpeg2video", ".mpg", "yuv420p", gop=12, bframes=2, fmt="vob"),
    Case("mpeg2-ts-gop12", "mpeg2video", ".ts", "yuv420p", gop=12, bframes=2, fmt="mpegts"),
    Case("vp8-webm-gop20", "libvpx", ".webm", "yuv420p", gop=20),
    Case("vp9-webm-gop20", "libvpx-vp9", ".webm", "yuv420p", gop=20, profile="Profile 0"),
    Case("vp9-444-webm-gop20", "libvpx-vp9", ".webm", "yuv444p", gop=20, profile="Profile 1"),
    Case("mjpeg-avi", "mjpeg", ".avi", "yuvj420p"),
    Case("gif", "gif", ".gif", "rgb8", frames=60),
    Case("hevc-mp4-gop20", "libx265", ".mp4", "yuv420p", gop=20, bframes=3, profile="Main"),
    Case("hevc-444-mp4-gop20", "libx265", ".mp4", "yuv444p", gop=20, bframes=3, profile="Rext"),
    Case("av1-webm-gop20", "av1", ".webm", "yuv420p", gop=20),
]


def _options(case: Case, codec: str) -> dict[str, str]:
    """Encoder options: fixed keyframe interval and B-frame run (no adaptive placement), one thread."""
    fixed = f"keyint={case.gop}:min-keyint={case.gop}:scenecut=0:bframes={case.bframes}:b-adapt=0"
    if codec == "libx264":
        params = f"{fixed}:threads=1" + (":open-gop=1" if case.open_gop else "")
        profile = X264_PROFILES[case.profile or "High"]
        return {"profile": profile, "preset": "veryfast", "x264-params": params}
    if codec == "libx265":
        params = f"{fixed}:pools=1:frame-threads=1:log-level=error"
        return {"preset": "ultrafast", "x265-params": params}
    if codec == "libvpx":
        return dict(VPX)
    if codec == "libvpx-vp9":
        return {**VPX, "row-mt": "0"}
    return {}


def av1_encoder() -> str | None:
    """The first AV1 encoder this PyAV build has, or None."""
    return next((name for name in AV1_ENCODERS if name in av.codecs_available), None)


def missing_codec(case: Case) -> str | None:
    """Why `case` cannot be encoded and decoded with this FFmpeg build, or None when it can."""
    if case.codec == "av1":
        if av1_encoder() is None:
            return f"no AV1 encoder ({', '.join(AV1_ENCODERS)}) in av.codecs_available"
        if not any(name in av.codecs_available for name in AV1_DECODERS):
            return f"no AV1 decoder ({', '.join(AV1_DECODERS)}) in av.codecs_available"
        return None
    if case.codec not in av.codecs_available:
        return f"encoder {case.codec} not in av.codecs_available"
    return None


def pattern(number: int, width: int, height: int) -> np.ndarray:
    """The upright RGB picture of frame `number`: moving stripes and square, number in bars."""
    y, x = np.mgrid[0:height, 0:width]
    img = np.empty((height, width, 3), np.uint8)
    img[..., 0] = x * 255 // (width - 1)
    img[..., 1] = y * 255 // (height - 1)
    img[..., 2] = ((x + 2 * y + 3 * number) % 48) * 5
    side = height // 4
    left = (7 * number) % (width - side)
    top = (5 * number) % (height - BAR_ROWS - side)
    img[top : top + side, left : left + side] = (255 - 9 * number % 200, 40, 9 * number % 250)
    bar = width // BITS
    strip = img[height - BAR_ROWS :]
    strip[:] = 0
    for bit in range(BITS):
        if number >> bit & 1:
            strip[:, bit * bar : (bit + 1) * bar] = 255
    return img


def frame_number(img: np.ndarray) -> int:
    """The frame number a picture's bottom strip spells (garbage for a corrupt picture)."""
    height, width = img.shape[:2]
    bar = width // BITS
    strip = img[height - BAR_ROWS + 2 : height - 2].astype(np.float64).mean(axis=(0, 2))
    bits = [strip[b * bar + 2 : (b + 1) * bar - 2].mean() > 127 for b in range(BITS)]
    return sum(1 << b for b, on in enumerate(bits) if on)


def _durations_ms(case: Case) -> list[int]:
    """Per-frame durations in ms: regular at the case's rate, or an irregular cycle for VFR."""
    if case.vfr:
        cycle = (40, 40, 80, 20, 60, 33, 47)
        return [cycle[i % len(cycle)] for i in range(case.frames)]
    return [1000 // case.fps] * case.frames


def render(case: Case, dst: Path) -> Path:
    """Encode `case` into `dst` with PyAV on one thread; frames are stored turned by -rotation."""
    codec = av1_encoder() if case.codec == "av1" else case.codec
    width, height = case.size
    k = case.rotation // 90
    with av.open(str(dst), mode="w", format=case.fmt) as out:
        stream = out.add_stream(codec, rate=case.fps, options=_options(case, codec))
        stream.width, stream.height = (height, width) if k % 2 else (width, height)
        stream.pix_fmt = case.pix_fmt
        stream.codec_context.thread_count = 1
        if case.gop is not None:
            stream.codec_context.gop_size = case.gop
        if case.bframes is not None and codec in ("mpeg4", "mpeg1video", "mpeg2video"):
            stream.codec_context.max_b_frames = case.bframes
        if case.vfr:
            stream.codec_context.time_base = Fraction(1, 1000)
            stream.time_base = Fraction(1, 1000)
        if case.rotation:
            stream.set_display_rotation(case.rotation)
        pts = 0
        for number, duration in enumerate(_durations_ms(case)):
            img = np.ascontiguousarray(np.rot90(pattern(number, width, height), -k))
            frame = av.VideoFrame.from_ndarray(img, format="rgb24")
            if case.vfr:
                frame.pts, frame.time_base = pts, Fraction(1, 1000)
                pts += duration
            for packet in stream.encode(frame):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)
    return dst


def reference(path: Path) -> np.ndarray:
    """Every frame of `path` decoded in order from the first with PyAV, rgb24, turned upright."""
    frames = []
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        stream.thread_count = 1
        for frame in container.decode(stream):
            k = (int(frame.rotation or 0) % 360) // 90
            frames.append(np.ascontiguousarray(np.rot90(frame.to_ndarray(format="rgb24"), k)))
    return np.stack(frames)
