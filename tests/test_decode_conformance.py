"""Decode conformance: the frames vidfake samples are the frames a sequential decode gives.

All media here is synthetic, encoded at test time by `conformance_media` with PyAV's encoders:
H.264 in every profile and GOP shape vidfake meets, VFR, rotation, raw Annex-B, and the other
codecs and containers FFmpeg reads. The FaceForensics++ seek corruption is not reproduced here:
it needs x264 older than core 151 (High 4:4:4 + CABAC + 8x8dct, where FFmpeg decodes in an
old-x264 mode only after reading the version SEI of the first frame), and libx264 writes only
its own core; the 4:4:4 cases check that modern 4:4:4 streams stay right on every path.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import av
import numpy as np
import pytest
from av.video.frame import PictureType
from conformance_media import CASES, HEADLINE, Case, frame_number, missing_codec, reference, render

from vidfake.video import PYAV, DecodeReport, probe, sample_frames, sample_plan

STRATEGIES = ["uniform:8", "clip:8@10", "clip:4@5x3", "all"]
CHUNK = 5  # smaller than most plans, so chunk boundaries fall inside GOPs
MIN_PSNR = 45.0  # dB; what Decord's own YUV->RGB conversion keeps against PyAV's rgb24
SHOWN = 6  # mismatching frames listed in a failure message


@dataclass
class Clip:
    """An encoded case and its reference frames (sequential PyAV decode, upright)."""

    path: Path
    reference: np.ndarray  # uint8 (frames, H, W, 3)


@pytest.fixture(scope="session")
def media(tmp_path_factory) -> Callable[[Case], Clip]:
    """Encode a case on first use (skipping when its codec is absent) and keep it for the session."""
    root = tmp_path_factory.mktemp("conformance")
    clips: dict[str, Clip] = {}

    def get(case: Case) -> Clip:
        reason = missing_codec(case)
        if reason:
            pytest.skip(reason)
        if case.id not in clips:
            path = render(case, root / f"{case.id}{case.suffix}")
            clips[case.id] = Clip(path, reference(path))
        return clips[case.id]

    return get


def _psnr_mad(got: np.ndarray, want: np.ndarray) -> tuple[float, float]:
    """PSNR (dB, inf when identical) and mean absolute difference of two uint8 pictures."""
    diff = got.astype(np.float64) - want.astype(np.float64)
    mse = float(np.mean(diff**2))
    psnr = math.inf if mse == 0 else 10 * math.log10(255.0**2 / mse)
    return psnr, float(np.mean(np.abs(diff)))


def _frame_problems(
    frames: np.ndarray, indices: np.ndarray, ref: np.ndarray, exact: bool
) -> list[str]:
    """Lines describing every sampled frame that differs from the reference at its index."""
    if frames.shape[1:] != ref.shape[1:]:
        return [f"frames are {frames.shape[1:]}, the reference is {ref.shape[1:]}"]
    bad = []
    for got, i in zip(frames, indices.tolist(), strict=True):
        if i >= len(ref):
            bad.append((-math.inf, math.inf, i, frame_number(got)))
            continue
        psnr, mad = _psnr_mad(got, ref[i])
        if (exact and psnr != math.inf) or psnr < MIN_PSNR:
            bad.append((psnr, mad, i, frame_number(got)))
    if not bad:
        return []
    rule = "bit-exact" if exact else f"PSNR >= {MIN_PSNR:g} dB"
    head = (
        f"{len(bad)}/{len(indices)} frames differ from the sequential decode ({rule}): "
        f"worst PSNR {min(b[0] for b in bad):.1f} dB, worst MAD {max(b[1] for b in bad):.1f}"
    )
    lines = [
        f"  frame {i}: PSNR {psnr:.1f} dB, MAD {mad:.1f}, shows frame #{shown}"
        for psnr, mad, i, shown in sorted(bad)[:SHOWN]
    ]
    return [head, *lines]


def _plan_problems(
    indices: np.ndarray, clip_index: np.ndarray, plan: np.ndarray, windows: np.ndarray
) -> list[str]:
    """Lines saying how the returned indices and windows depart from the plan's."""
    got, want = indices.tolist(), plan.tolist()
    if got == want:
        return [] if clip_index.tolist() == windows.tolist() else ["clip_index is not the plan's"]
    if sorted(got) == sorted(want):
        return [f"indices {got} are the plan's {want} in another order"]
    missing = sorted(set(want) - set(got))
    extra = sorted(set(got) - set(want))
    return [f"indices are not the plan's: missing {missing}, extra {extra}"]


def _check_sampling(clip: Clip, strategy: str, chunk_size: int) -> None:
    """Sample `clip` with vidfake and fail with every way the result departs from the reference."""
    info = probe(clip.path)
    plan, windows = sample_plan(strategy, len(clip.reference), info.fps)
    report = DecodeReport()
    batches = list(sample_frames(clip.path, strategy, chunk_size, info=info, report=report))
    assert batches, f"no frames at all (decoder={report.decoder})"
    problems = []
    if any(len(b.indices) > chunk_size for b in batches):
        problems.append(f"a batch is larger than chunk_size={chunk_size}")
    indices = np.concatenate([b.indices for b in batches])
    clip_index = np.concatenate([b.clip_index for b in batches])
    problems += _plan_problems(indices, clip_index, plan, windows)
    frames = np.concatenate([b.frames for b in batches])
    if frames.dtype != np.uint8:
        problems.append(f"frames are {frames.dtype}, not uint8")
    problems += _frame_problems(frames, indices, clip.reference, report.decoder == PYAV)
    assert not problems, f"decoder={report.decoder}:\n" + "\n".join(problems)


def _has_leading_pictures(packets: list[av.Packet]) -> bool:
    """Whether a picture decoded after a later keyframe is shown before it (open GOP)."""
    key_pts = None
    for number, packet in enumerate(packets):
        if packet.is_keyframe:
            key_pts = packet.pts if number else None
        elif key_pts is not None and packet.pts < key_pts:
            return True
    return False


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.id)
def test_media_is_what_its_id_says(case: Case, media) -> None:
    """The generated clip has the codec, profile, GOP, B-frames, VFR and rotation it is named for."""
    clip = media(case)
    ref = clip.reference
    assert len(ref) == case.frames and ref.shape[1:3] == (case.size[1], case.size[0])
    assert [frame_number(f) for f in ref] == list(range(case.frames))  # in order and upright
    with av.open(str(clip.path)) as container:
        stream = container.streams.video[0]
        packets = [p for p in container.demux(stream) if p.size]
    with av.open(str(clip.path)) as container:  # raw Annex-B cannot seek back
        stream = container.streams.video[0]
        frames = list(container.decode(stream))
        profile = stream.codec_context.profile
    if case.profile:
        assert profile == case.profile
    if case.codec != "gif":  # GIF decodes to bgra from its palette
        assert {f.format.name for f in frames} == {case.pix_fmt}
    if case.gop:
        assert sum(p.is_keyframe for p in packets) == math.ceil(case.frames / case.gop)
    if case.bframes is not None:
        assert any(f.pict_type == PictureType.B for f in frames) == (case.bframes > 0)
    assert {(f.rotation or 0) % 360 for f in frames} == {case.rotation}
    if case.fmt != "h264":  # raw Annex-B carries no timestamps
        durations = {b.pts - a.pts for a, b in zip(frames, frames[1:], strict=False)}
        assert (len(durations) > 1) == case.vfr
    if case.codec == "libx264" and case.fmt is None:
        assert _has_leading_pictures(packets) == case.open_gop


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.id)
def test_probe_agrees_with_the_sequential_decode(case: Case, media) -> None:
    """probe counts the frames a decode from the start gives and reports the displayed size."""
    clip = media(case)
    info = probe(clip.path)
    assert info.frames == len(clip.reference)
    assert (info.height, info.width) == clip.reference.shape[1:3]
    assert info.rotation == case.rotation


@pytest.mark.parametrize("strategy", STRATEGIES)
@pytest.mark.parametrize("case", CASES, ids=lambda c: c.id)
def test_sampled_frames_are_the_sequential_frames(case: Case, strategy: str, media) -> None:
    """Every sampled frame equals the reference frame at its index; the plan is kept whole.

    Bit-exact when the path sample_frames reports taking is "pyav" (its frames are PyAV's own
    rgb24 conversion, as the reference's are); otherwise ("decord", or "decord->pyav" which
    mixes both) PSNR >= 45 dB on every frame, which allows Decord's YUV->RGB rounding and
    nothing else: any two frames of a clip differ by at least one black/white bar of their
    frame-number strip (about 21 dB), so a wrong or corrupt frame fails.
    """
    _check_sampling(media(case), strategy, CHUNK)


@pytest.mark.parametrize("chunk_size", [1, 7, 256])
@pytest.mark.parametrize("strategy", ["all", "clip:4@5x3"])
def test_headline_444_in_any_chunking(strategy: str, chunk_size: int, media) -> None:
    """High 4:4:4 with a keyframe every 50 frames: right frames whatever the chunk size."""
    _check_sampling(media(HEADLINE), strategy, chunk_size)
