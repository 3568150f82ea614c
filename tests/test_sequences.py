"""Windows, preprocessing, augmentation and the streaming shard loader on real-clip shards.

The shards come from `_training_data` (real clips, real MTCNN box, SYNTHETIC manipulations).
"""

from __future__ import annotations

import shutil
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
from _training_data import TEST_GROUPS, VAL_GROUPS, build_fixture_shards
from torch.utils.data import DataLoader

from vidfake.augment import AugmentConfig, SequenceAugment, h264_round_trip
from vidfake.sequences import SequenceTransform, decode_jpeg, track_sequences, track_windows
from vidfake.training.loader import ShardSequenceDataset, class_counts, count_sequences, face_files


@pytest.fixture(scope="session")
def fixture_shards(tmp_path_factory) -> dict[str, Path]:
    return build_fixture_shards(tmp_path_factory.getbasetemp() / "training_shards")


def _transform(**kw) -> SequenceTransform:
    return SequenceTransform((3, 32, 32), (0.5, 0.5, 0.5), (0.25, 0.25, 0.25), 4, **kw)


def test_track_windows_cover_the_run() -> None:
    assert [w.tolist() for w in track_windows(7, 4, 2)] == [
        [0, 1, 2, 3],
        [2, 3, 4, 5],
        [3, 4, 5, 6],
    ]
    assert track_windows(3, 4, 2) == []
    assert track_windows(3, 4, 2, pad=True)[0].tolist() == [0, 1, 2, 2]
    with pytest.raises(ValueError):
        track_windows(5, 0, 1)


def test_windows_follow_frame_order_within_each_clip() -> None:
    rows = {
        "video_id": ["v"] * 6,
        "track_id": [1] * 6,
        "frame_index": [30, 10, 20, 12, 11, 10],
        "clip_index": [0, 0, 0, 1, 1, 1],
        "face_jpeg": [b"a", b"b", b"c", b"d", b"e", b"f"],
        "label": [1] * 6,
        "group": ["g"] * 6,
        "split": ["train"] * 6,
    }
    seqs = list(track_sequences(rows, 3, 3))
    assert [s.faces for s in seqs] == [[b"b", b"c", b"a"], [b"f", b"e", b"d"]]
    assert [s.clip_index for s in seqs] == [0, 1]


def test_transform_decodes_resizes_and_normalises(fixture_shards) -> None:
    seq = next(
        iter(ShardSequenceDataset(fixture_shards["spatial"], _transform())._my_sequences(0, 1))
    )
    x = _transform()(seq.faces)
    assert x.shape == (4, 3, 32, 32) and x.dtype == torch.float32
    raw = decode_jpeg(seq.faces[0]).astype(np.float32) / 255
    assert float(x[0].mean()) == pytest.approx(float((raw.mean() - 0.5) / 0.25), abs=0.05)
    with pytest.raises(ValueError, match="not a decodable JPEG"):
        _transform()([b"not a jpeg"] * 4)
    with pytest.raises(ValueError, match="expected 4"):
        _transform()(seq.faces[:2])


def test_eye_patches_become_a_pair_per_frame(fixture_shards) -> None:
    seq = next(
        iter(ShardSequenceDataset(fixture_shards["spatial"], _transform())._my_sequences(0, 1))
    )
    x, eyes = _transform(eye_size=16).prepare(seq.faces, [(f, None) for f in seq.faces])
    assert x.shape == (4, 3, 32, 32) and eyes.shape == (4, 2, 3, 16, 16)
    assert float(eyes[:, 1].std()) == 0.0  # a missing patch is a flat grey patch


def test_augmentation_is_the_same_on_every_frame() -> None:
    rng = np.random.default_rng(1)
    frame = rng.integers(0, 255, (24, 24, 3), dtype=np.uint8)
    aug = SequenceAugment(AugmentConfig(flip=1.0, jpeg=1.0, blur=1.0, downscale=1.0, color=1.0))
    out, _ = aug([frame, frame.copy(), frame.copy()], np.random.default_rng(2))
    assert np.array_equal(out[0], out[1]) and np.array_equal(out[0], out[2])
    assert not np.array_equal(out[0], frame)
    flipped, pairs = SequenceAugment(AugmentConfig(flip=1.0, jpeg=0, blur=0, downscale=0, color=0))(
        [frame], rng, [(frame, np.zeros_like(frame))]
    )
    assert np.array_equal(flipped[0], frame[:, ::-1]) and not pairs[0][0].any()


def test_affine_and_h264_round_trip_keep_frames_consistent(sample_dir) -> None:
    import decord

    frames = list(
        decord.VideoReader(str(sample_dir / "clips" / "retalking_5.mp4"))
        .get_batch([0, 1, 2])
        .asnumpy()[:, 100:261, 100:261]
    )  # odd 161-px side
    aug = SequenceAugment(
        AugmentConfig(flip=0, jpeg=0, blur=0, downscale=0, color=0, affine=1.0, video=1.0)
    )
    p = aug.sample(np.random.default_rng(4))
    assert "affine" in p and 18 <= p["video"] <= 30
    out, _ = aug(frames, np.random.default_rng(4))
    assert len(out) == 3 and all(o.shape == f.shape for o, f in zip(out, frames, strict=True))
    warped = aug.apply(frames[0], p)
    assert np.abs(warped.astype(int) - frames[0]).mean() > 2, "the affine moves the face"
    err = np.abs(out[0].astype(int) - warped).mean()
    assert 0 < err < 6, f"H.264 at crf {p['video']} changes pixels a little, not the picture"
    lossless = h264_round_trip(frames, 0)
    assert max(np.abs(a.astype(int) - b).max() for a, b in zip(lossless, frames, strict=True)) < 8


def test_loader_streams_only_the_wanted_split(fixture_shards) -> None:
    ds = ShardSequenceDataset(fixture_shards["spatial"], _transform(), splits=("test",), stride=4)
    items = list(ds)
    groups = {i["video_id"].split("-")[1] for i in items}
    assert groups == set(TEST_GROUPS) and not groups & set(VAL_GROUPS)
    assert len(items) == sum(count_sequences(fixture_shards["spatial"], 4, 4, ("test",)).values())
    assert {float(i["label"]) for i in items} == {0.0, 1.0}


def test_workers_and_ranks_split_the_stream_without_overlap(fixture_shards) -> None:
    def keys(ds) -> list[tuple[str, int]]:
        return [(s.video_id, int(s.frame_index[0])) for s in ds._my_sequences(*ds._slot())]

    full = keys(ShardSequenceDataset(fixture_shards["spatial"], _transform(), splits=("train",)))
    ranks = [
        keys(ShardSequenceDataset(fixture_shards["spatial"], _transform(), rank=r, world_size=3))
        for r in range(3)
    ]
    assert sorted(full) == sorted(k for part in ranks for k in part)
    assert all(ranks) and len(set(full)) == len(full)
    two = ShardSequenceDataset(fixture_shards["spatial"], _transform(), rank=1, world_size=2)
    assert len(face_files(fixture_shards["spatial"])) == 2 and two._my_sequences(1, 2)


def test_shuffle_is_seeded_per_epoch_and_oversampling_balances(fixture_shards) -> None:
    kw = {"splits": ("train",), "shuffle_buffer": 16, "seed": 3}
    a = [i["video_id"] for i in ShardSequenceDataset(fixture_shards["spatial"], _transform(), **kw)]
    b = [i["video_id"] for i in ShardSequenceDataset(fixture_shards["spatial"], _transform(), **kw)]
    ds = ShardSequenceDataset(fixture_shards["spatial"], _transform(), **kw)
    ds.set_epoch(1)
    c = [i["video_id"] for i in ds]
    assert a == b and a != c and sorted(a) == sorted(c)
    batch = next(iter(DataLoader(ds, batch_size=5)))
    assert batch["x"].shape == (5, 4, 3, 32, 32) and len(batch["video_id"]) == 5


def test_oversampling_repeats_the_rarer_class(tmp_path: Path, fixture_shards) -> None:
    import pyarrow.parquet as pq

    src = face_files(fixture_shards["spatial"])[0]
    table = pq.read_table(src)
    keep = [
        i
        for i, (lab, f) in enumerate(
            zip(table["label"].to_pylist(), table["frame_index"].to_pylist(), strict=True)
        )
        if lab == 0 or f < 16
    ]
    (tmp_path / "faces").mkdir()
    pq.write_table(table.take(keep), tmp_path / "faces" / src.name)
    shutil.copytree(fixture_shards["spatial"] / "manifest", tmp_path / "manifest")
    plain = [int(i["label"]) for i in ShardSequenceDataset(tmp_path, _transform(), stride=4)]
    balanced = [
        int(i["label"])
        for i in ShardSequenceDataset(tmp_path, _transform(), stride=4, balance="oversample")
    ]
    assert plain.count(1) * 2 <= plain.count(0)
    assert abs(balanced.count(1) - balanced.count(0)) <= 0.25 * balanced.count(0)


def test_rows_of_an_interrupted_scan_are_never_read(tmp_path: Path, fixture_shards) -> None:
    """A faces file no manifest part commits (a scan killed before its commit) stays unseen."""
    root = tmp_path / "shards"
    shutil.copytree(fixture_shards["spatial"], root)
    before = (
        count_sequences(root, 4, 4, ("train",)),
        class_counts(root, ("train",)),
        len(list(ShardSequenceDataset(root, _transform(), stride=4, seed=0))),
    )
    committed = face_files(root)
    shutil.copy(committed[0], root / "faces" / "part-0badc0ffee00-0000.parquet")
    assert face_files(root) == committed
    after = (
        count_sequences(root, 4, 4, ("train",)),
        class_counts(root, ("train",)),
        len(list(ShardSequenceDataset(root, _transform(), stride=4, seed=0))),
    )
    assert after == before and before[0][0] > 0


def test_missing_shards_are_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="no committed face shards"):
        ShardSequenceDataset(tmp_path, _transform())
    with pytest.raises(ValueError, match="balance"):
        ShardSequenceDataset(tmp_path, _transform(), balance="weights")


def test_sharpening_raises_edge_contrast_and_never_comes_with_blur(sample_dir) -> None:
    import decord

    face = decord.VideoReader(str(sample_dir / "clips" / "retalking_5.mp4"))[0].asnumpy()
    face = np.ascontiguousarray(face[100:260, 100:260])
    aug = SequenceAugment(AugmentConfig(flip=0, jpeg=0, blur=0, downscale=0, color=0, sharpen=1.0))
    p = aug.sample(np.random.default_rng(0))
    assert 0.3 <= p["sharpen"] <= 1.5 and "blur" not in p
    sharp = aug.apply(face, p)
    lap = [
        cv2.Laplacian(cv2.cvtColor(x, cv2.COLOR_RGB2GRAY), cv2.CV_64F).var() for x in (face, sharp)
    ]
    assert lap[1] > 1.2 * lap[0], f"an unsharp mask raises the Laplacian variance: {lap}"
    assert np.abs(sharp.astype(int) - face).mean() < 8, "it sharpens the picture, not replaces it"
    both = SequenceAugment(AugmentConfig(blur=1.0, sharpen=1.0)).sample(np.random.default_rng(0))
    assert "blur" in both and "sharpen" not in both
    off = SequenceAugment(AugmentConfig()).sample(np.random.default_rng(0))
    assert "sharpen" not in off, "off by default, so existing recipes draw what they drew"
