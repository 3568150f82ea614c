"""On-the-fly self-blended pseudo-fakes in the shard loader (vidfake.training.loader, data.pseudo_fake).

The shards are a real scan (Decord, MTCNN, tracking, crops) of a 2 s cut of a bundled real clip;
the pseudo-fakes the loader makes from them are SYNTHETIC.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

from vidfake.augment import AugmentConfig, SequenceAugment
from vidfake.config import CropConfig, ScanConfig
from vidfake.datasets import DatasetItem
from vidfake.media import cut
from vidfake.scanning import prepare_out_dir, scan_video
from vidfake.sequences import SequenceTransform
from vidfake.shards.store import ShardWriter
from vidfake.training.loader import PSEUDO_SUFFIX, ShardSequenceDataset

SIZE = 96


@pytest.fixture(scope="module")
def shards(tmp_path_factory: pytest.TempPathFactory, sample_dir: Path) -> Path:
    """Real shards of one 2 s clip: 16 frames at 10 frames/s, 96-px crops, one track."""
    root = tmp_path_factory.mktemp("pseudo")
    clip = cut(sample_dir / "clips" / "retalking_5.mp4", root / "real.mp4", duration=2.0)
    cfg = ScanConfig(sampling="clip:16@10", crop=CropConfig(size=SIZE))
    out = prepare_out_dir(root / "shards", cfg, force=False)
    result = scan_video(DatasetItem(str(clip), 0, "retalking_5", "val", "test"), cfg)
    assert result.manifest["status"] == "ok", result.manifest["error"]
    with ShardWriter(out) as writer:
        writer.add(result.manifest, result.faces)
    return out


def _transform() -> SequenceTransform:
    return SequenceTransform((3, SIZE, SIZE), (0.0, 0.0, 0.0), (1.0, 1.0, 1.0), frames=8)


def _items(ds: ShardSequenceDataset) -> list[dict]:
    return list(ds)


def test_twins_label_and_differ_inside_the_face_only(shards: Path) -> None:
    items = _items(ShardSequenceDataset(shards, _transform(), splits=("val",), pseudo_twins=True))
    assert len(items) >= 2 and len(items) % 2 == 0
    for real, fake in zip(items[::2], items[1::2], strict=True):
        assert int(real["label"]) == 0 and int(fake["label"]) == 1
        assert fake["video_id"] == real["video_id"] + PSEUDO_SUFFIX
        diff = (fake["x"] - real["x"]).abs().mean(dim=(0, 1)).numpy()  # (H, W)
        centre = diff[SIZE // 3 : 2 * SIZE // 3, SIZE // 3 : 2 * SIZE // 3].mean()
        corners = np.mean([diff[:8, :8].mean(), diff[:8, -8:].mean(), diff[-8:, :8].mean()])
        assert centre > 0.01, "the blend must change the face"
        assert centre > 5 * corners, "outside the face the pseudo-fake stays (nearly) the real"


def test_twins_are_deterministic(shards: Path) -> None:
    def run(seed: int) -> list[torch.Tensor]:
        ds = ShardSequenceDataset(
            shards, _transform(), splits=("val",), pseudo_twins=True, seed=seed
        )
        return [i["x"] for i in ds]

    a, b, c = run(0), run(0), run(1)
    assert all(torch.equal(x, y) for x, y in zip(a, b, strict=True))
    assert not all(torch.equal(x, y) for x, y in zip(a[1::2], c[1::2], strict=True))


def test_pseudo_fake_probability(shards: Path) -> None:
    def labels(p: float) -> list[int]:
        ds = ShardSequenceDataset(
            shards, _transform(), splits=("val",), stride=2, pseudo_fake=p, seed=3
        )
        return [int(i["label"]) for i in ds]

    assert set(labels(0.0)) == {0}
    assert set(labels(1.0)) == {1}
    mixed = labels(0.5)
    assert set(mixed) == {0, 1}


def test_pairs_put_each_real_beside_a_fresh_fake_of_it(shards: Path) -> None:
    """Pairs share the augmentation draw (outside the face they match), not the blend draw."""
    augment = SequenceAugment(AugmentConfig(flip=0.5, color=1.0, affine=1.0, jpeg=0.5))
    transform = SequenceTransform((3, SIZE, SIZE), (0.0,) * 3, (1.0,) * 3, 8, augment=augment)
    ds = ShardSequenceDataset(
        shards,
        transform,
        splits=("val",),
        pseudo_fake=0.5,
        pseudo_pairs=True,
        seed=3,
        augment=True,
    )
    first = list(ds)
    assert len(first) >= 4 and len(first) % 2 == 0
    for real, fake in zip(first[::2], first[1::2], strict=True):
        assert (int(real["label"]), int(fake["label"])) == (0, 1)
        assert fake["video_id"] == real["video_id"] + PSEUDO_SUFFIX
    diff = (first[1]["x"] - first[0]["x"]).abs().mean(dim=(0, 1)).numpy()
    assert (
        diff[:8, :8].mean()
        < 0.2 * diff[SIZE // 3 : 2 * SIZE // 3, SIZE // 3 : 2 * SIZE // 3].mean()
    )
    ds.set_epoch(1)
    again = list(ds)
    assert not all(
        torch.equal(a["x"], b["x"]) for a, b in zip(first[1::2], again[1::2], strict=True)
    )


def test_pseudo_fake_needs_scan_settings_and_no_eyes(shards: Path, tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="probability"):
        ShardSequenceDataset(shards, _transform(), pseudo_fake=1.5)
    with pytest.raises(ValueError, match="eye"):
        ShardSequenceDataset(shards, _transform(), pseudo_fake=0.5, with_eyes=True)
    bare = tmp_path / "bare"
    for part in ("faces", "manifest"):
        shutil.copytree(shards / part, bare / part)
    with pytest.raises(FileNotFoundError, match="scan.yaml"):
        ShardSequenceDataset(bare, _transform(), pseudo_fake=0.5)
