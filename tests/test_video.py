"""Decoding and frame sampling on the bundled real clips (and re-encoded/damaged copies)."""

from __future__ import annotations

import damaged_media
import decord
import numpy as np
import pytest

from vidfake import media
from vidfake.video import (
    DECORD,
    PYAV,
    DecodeReport,
    VideoError,
    VideoInfo,
    check_strategy,
    choose_decoder,
    probe,
    sample_frames,
    sample_plan,
)

CLIP = "cosanlab__single_face.mp4"  # 640x360, 72 frames at 30 fps


def test_probe_matches_decord(sample_dir):
    path = sample_dir / "clips" / CLIP
    info = probe(path)
    reader = decord.VideoReader(str(path))
    assert info.frames == len(reader) == 72
    assert info.fps == pytest.approx(30.0)
    assert (info.height, info.width) == (360, 640)
    assert info.duration == pytest.approx(2.4)
    assert info.rotation == 0 and info.decoder == DECORD


def test_sample_plans():
    idx, clips = sample_plan("uniform:5", 101, 25.0)
    assert idx.tolist() == [0, 25, 50, 75, 100] and clips.tolist() == [0] * 5
    idx, clips = sample_plan("clip:4@10", 100, 30.0)
    assert np.diff(idx).tolist() == [3, 3, 3]  # 30 fps resampled to 10: every third frame
    assert 40 <= idx[0] <= 50  # one window, centred
    idx, clips = sample_plan("clip:3@5x2", 100, 25.0)
    assert clips.tolist() == [0, 0, 0, 1, 1, 1]
    assert idx[3] > idx[2]
    idx, _ = sample_plan("clip:8@10", 5, 10.0)
    assert idx.tolist() == [0, 1, 2, 3, 4]  # shorter than the window: what there is
    assert sample_plan("all", 7, 25.0)[0].tolist() == list(range(7))
    assert sample_plan("uniform:50", 3, 25.0)[0].tolist() == [0, 1, 2]


@pytest.mark.parametrize("bad", ["uniform", "uniform:x", "clip:8", "clip:0@10", "every:3", ""])
def test_bad_strategy_is_refused(bad):
    with pytest.raises(ValueError, match="sampling strategy"):
        check_strategy(bad)


def test_chunks_bound_the_batch_and_cover_the_plan(sample_dir):
    path = sample_dir / "clips" / CLIP
    batches = list(sample_frames(path, "clip:6@10x2", chunk_size=4))
    assert [len(b.indices) for b in batches] == [4, 4, 4]
    idx = np.concatenate([b.indices for b in batches])
    assert idx.tolist() == sample_plan("clip:6@10x2", 72, 30.0)[0].tolist()
    assert np.concatenate([b.clip_index for b in batches]).tolist() == [0] * 6 + [1] * 6
    times = np.concatenate([b.timestamps for b in batches])
    assert np.allclose(times, idx / 30.0, atol=0.02)
    for b in batches:
        assert b.frames.dtype == np.uint8 and b.frames.shape[1:] == (360, 640, 3)


def test_rotation_is_applied(sample_dir, tmp_path):
    # synthetic: the real clip re-encoded with a 90 degree display rotation tag
    rotated = media.reencode(sample_dir / "clips" / CLIP, tmp_path / "rot.mp4", rotation=90)
    info = probe(rotated)
    assert info.rotation == 90 and (info.width, info.height) == (360, 640)
    batch = next(sample_frames(rotated, "uniform:2"))
    assert batch.frames.shape == (2, 640, 360, 3)
    upright = next(sample_frames(sample_dir / "clips" / CLIP, "uniform:2")).frames
    diff = np.abs(np.rot90(upright[0], 1).astype(int) - batch.frames[0].astype(int)).mean()
    assert diff < 10  # same picture, turned as displayed (only coding noise differs)


def test_pyav_fallback_reads_what_decord_refuses(tmp_path):
    tiny = damaged_media.make_damaged("tiny_frames", tmp_path / "tiny.mp4")
    info = probe(tiny)
    assert info.frames > 0
    report = DecodeReport()
    batches = list(sample_frames(tiny, "all", chunk_size=4, report=report))
    assert report.decoder == PYAV
    assert sum(len(b.indices) for b in batches) == info.frames
    assert batches[0].frames.shape[1:] == (info.height, info.width, 3)


@pytest.mark.parametrize(
    "kind,reason",
    [
        ("truncated", "truncated"),
        ("zero_bytes", "empty"),
        ("random_bytes", "not a video"),
        ("text", "text"),
        ("audio_only", "no video stream"),
    ],
)
def test_damaged_files_raise_a_plain_reason(sample_dir, tmp_path, kind, reason):
    bad = damaged_media.make_damaged(
        kind, tmp_path / f"{kind}.mp4", src=sample_dir / "clips" / CLIP
    )
    with pytest.raises(VideoError, match=reason):
        list(sample_frames(bad, "uniform:4"))


def test_missing_file(tmp_path):
    with pytest.raises(VideoError, match="not found"):
        probe(tmp_path / "nope.mp4")


def _pattern(n: int, height: int = 96, width: int = 128) -> list[np.ndarray]:
    """Synthetic frames whose content differs frame to frame (a moving square on gradients)."""
    yy, xx = np.mgrid[0:height, 0:width]
    frames = []
    for i in range(n):
        img = np.stack([(xx * 2 + i * 3) % 256, (yy * 2 + i) % 256, (xx + yy + 5 * i) % 256], -1)
        img = img.astype(np.uint8)
        top, left = (2 * i) % (height - 24), (3 * i) % (width - 24)
        img[top : top + 24, left : left + 24] = 255
        frames.append(img)
    return frames


def _sequential(path) -> list[np.ndarray]:
    import av

    with av.open(str(path)) as container:
        return [f.to_ndarray(format="rgb24") for f in container.decode(video=0)]


def test_high444_with_many_keyframes_matches_the_sequential_decode(tmp_path):
    """A High 4:4:4 Predictive clip (keyframe every 50) is read forward: frames equal bit for bit."""
    clip = media.render_frames(
        _pattern(200), tmp_path / "444.mp4", 25, pix_fmt="yuv444p", options={"g": "50"}
    )
    info = probe(clip)
    assert "High 4:4:4 Predictive" in info.codec and info.keyframes[:4] == (0, 50, 100, 150)
    assert not info.random_access_safe and info.decoder == PYAV
    ref = _sequential(clip)
    for strategy in ("uniform:9", "clip:8@5", "clip:6@10x3", "all"):
        report = DecodeReport()
        batches = list(sample_frames(clip, strategy, chunk_size=7, report=report))
        idx = np.concatenate([b.indices for b in batches])
        assert idx.tolist() == sample_plan(strategy, 200, 25)[0].tolist()
        frames = np.concatenate([b.frames for b in batches])
        assert all(np.array_equal(f, ref[i]) for f, i in zip(frames, idx, strict=True))
        assert report.decoder == PYAV and report.damaged == 0


@pytest.mark.parametrize("suffix", [".264", ".h264"])
def test_raw_annexb_streams_are_read_forward(tmp_path, suffix):
    clip = media.render_frames(_pattern(40), tmp_path / f"raw{suffix}", 25)
    info = probe(clip)
    assert info.frames == 40 and not info.seekable
    batches = list(sample_frames(clip, "uniform:5"))
    ref = _sequential(clip)
    assert [int(i) for b in batches for i in b.indices] == [0, 10, 20, 29, 39]
    assert all(
        np.array_equal(f, ref[i]) for b in batches for f, i in zip(b.frames, b.indices, strict=True)
    )


def test_flipped_bytes_cost_only_the_damaged_frames(tmp_path):
    """Decord aborts such a clip at its first bad packet; the forward read keeps the rest."""
    bad = damaged_media.make_damaged("bit_flips", tmp_path / "flipped.mp4")
    with pytest.raises(decord.DECORDError):
        decord.VideoReader(str(bad)).get_batch(list(range(60)))
    report = DecodeReport()
    got = sum(len(b.indices) for b in sample_frames(bad, "all", report=report))
    assert report.damaged > 0 and got == 60 - report.damaged


def _info(frames: int, keyframes: tuple[int, ...], safe: bool = True) -> VideoInfo:
    return VideoInfo(frames, 30.0, 640, 360, frames / 30, 0, DECORD, "", keyframes, True, safe)


def test_random_access_only_where_safe_and_worth_it():
    keys = tuple(range(0, 9000, 250))
    few = sample_plan("clip:32@10", 9000, 30.0)[0]  # one window in the middle of 5 minutes
    assert choose_decoder(_info(9000, keys), few) == DECORD
    assert choose_decoder(_info(9000, keys, safe=False), few) == PYAV  # e.g. High 4:4:4
    assert choose_decoder(_info(300, keys[:2]), sample_plan("clip:32@10", 300, 30)[0]) == PYAV
    assert choose_decoder(_info(9000, keys), np.arange(9000)) == PYAV  # `all` reads forward


def test_guarded_random_access_equals_forward_on_a_long_clip(tmp_path):
    """A long High-profile 4:2:0 clip takes Decord's random access; its frames match the decode."""
    clip = media.render_frames(
        _pattern(1200, 48, 64), tmp_path / "long.mp4", 30, options={"g": "100"}
    )
    info = probe(clip)
    assert info.random_access_safe
    report = DecodeReport()
    batches = list(sample_frames(clip, "clip:8@10", report=report))
    assert report.decoder == DECORD
    ref = _sequential(clip)
    for b in batches:
        for f, i in zip(b.frames, b.indices, strict=True):
            assert f.shape == ref[i].shape
            assert 10 * np.log10(255**2 / max(np.mean((f.astype(float) - ref[i]) ** 2), 1e-9)) > 40
