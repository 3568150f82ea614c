"""Decoding and frame sampling on the bundled real clips (and re-encoded/damaged copies)."""

from __future__ import annotations

import decord
import numpy as np
import pytest

from vidfake import testmedia
from vidfake.video import (
    DECORD,
    PYAV,
    VideoError,
    check_strategy,
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
    rotated = testmedia.reencode(sample_dir / "clips" / CLIP, tmp_path / "rot.mp4", rotation=90)
    info = probe(rotated)
    assert info.rotation == 90 and (info.width, info.height) == (360, 640)
    batch = next(sample_frames(rotated, "uniform:2"))
    assert batch.frames.shape == (2, 640, 360, 3)
    upright = next(sample_frames(sample_dir / "clips" / CLIP, "uniform:2")).frames
    diff = np.abs(np.rot90(upright[0], 1).astype(int) - batch.frames[0].astype(int)).mean()
    assert diff < 10  # same picture, turned as displayed (only coding noise differs)


def test_pyav_fallback_reads_what_decord_refuses(tmp_path):
    tiny = testmedia.make_damaged("tiny_frames", tmp_path / "tiny.mp4")
    info = probe(tiny)
    assert info.decoder == PYAV and info.frames > 0
    batches = list(sample_frames(tiny, "all", chunk_size=4))
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
    bad = testmedia.make_damaged(kind, tmp_path / f"{kind}.mp4", src=sample_dir / "clips" / CLIP)
    with pytest.raises(VideoError, match=reason):
        list(sample_frames(bad, "uniform:4"))


def test_missing_file(tmp_path):
    with pytest.raises(VideoError, match="not found"):
        probe(tmp_path / "nope.mp4")
