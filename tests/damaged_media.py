"""Damaged and odd files that real archives hold, made from a real clip (tests only).

Every kind in DAMAGED_KINDS is one way a file in an archive goes wrong; the scan must give each
one an `error` row with a reason a person understands.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import av
import numpy as np

from vidfake.media import cut, reencode, written

DAMAGED_KINDS = (
    "truncated",
    "zero_bytes",
    "random_bytes",
    "text",
    "audio_only",
    "one_frame",
    "tiny_frames",
    "bit_flips",
)
FLIPPED_BYTES = 200
DEFAULT_SOURCE = Path(__file__).resolve().parents[1] / "vidfake" / "data" / "clips"
DEFAULT_SOURCE = DEFAULT_SOURCE / "cosanlab__single_face.mp4"
TINY_SIDE = 16


def make_damaged(kind: str, dst: str | Path, src: str | Path | None = None) -> Path:
    """Write one kind of damaged or odd file that real archives hold (see DAMAGED_KINDS).

    `src` is the real clip the video kinds derive from (a bundled sample by default).
    """
    if kind not in DAMAGED_KINDS:
        raise ValueError(f"unknown damaged kind {kind!r}; choose one of {', '.join(DAMAGED_KINDS)}")
    dst = Path(dst)
    dst.parent.mkdir(parents=True, exist_ok=True)
    src = Path(src) if src is not None else DEFAULT_SOURCE
    if kind == "zero_bytes":
        dst.write_bytes(b"")
    elif kind == "random_bytes":
        dst.write_bytes(np.random.default_rng(0).bytes(64 * 1024))
    elif kind == "text":
        dst.write_text("This is a text file with a video file name.\n" * 20)
    elif kind == "audio_only":
        _write_tone(dst)
    elif kind == "one_frame":
        cut(src, dst, max_frames=1)
    elif kind == "tiny_frames":
        with tempfile.TemporaryDirectory() as tmp:
            short = cut(src, Path(tmp) / "short.mp4", max_frames=10)
            reencode(short, dst, scale=(TINY_SIDE, TINY_SIDE))
    elif kind == "bit_flips":
        _write_bit_flips(src, dst)
    else:
        _write_truncated(src, dst)
    return dst


def _write_bit_flips(src: Path, dst: Path, seed: int = 0) -> None:
    """A clip with FLIPPED_BYTES bytes inverted in its second third of media data (mild damage)."""
    cut(src, dst, max_frames=60)
    data = bytearray(dst.read_bytes())
    start = data.find(b"mdat") + 8
    end = data.find(b"moov") if data.find(b"moov") > start else len(data)
    lo, hi = start + (end - start) // 3, start + 2 * (end - start) // 3
    for pos in np.random.default_rng(seed).integers(lo, hi, FLIPPED_BYTES):
        data[pos] ^= 0xFF
    dst.write_bytes(bytes(data))


def _write_truncated(src: Path, dst: Path) -> None:
    """An MP4 cut in half; PyAV writes the index (moov) at the end, so the index is lost."""
    whole = dst.with_name(f".{dst.stem}.whole.mp4")
    try:
        cut(src, whole, max_frames=30)
        data = whole.read_bytes()
    finally:
        whole.unlink(missing_ok=True)
    if data.find(b"moov") < len(data) // 2:
        raise RuntimeError("expected the MP4 index after the media data; cannot truncate it away")
    dst.write_bytes(data[: len(data) // 2])


def _write_tone(dst: Path, seconds: float = 1.0, rate: int = 44100) -> None:
    """An MP4 holding one AAC track (a 440 Hz tone) and no video stream."""
    with written(dst, "mp4") as out:
        stream = out.add_stream("aac", rate=rate, layout="mono")
        n = int(seconds * rate)
        tone = (0.2 * np.sin(2 * np.pi * 440 * np.arange(n) / rate)).astype(np.float32)
        chunk = 1024
        for offset in range(0, n, chunk):
            samples = tone[offset : offset + chunk][None, :]
            frame = av.AudioFrame.from_ndarray(samples, format="fltp", layout="mono")
            frame.sample_rate = rate
            frame.pts = offset
            for packet in stream.encode(frame):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)
