"""Blink features as a model input: shards with EAR → loader → training → checkpoint → scoring.

The shards are a real scan (Decord, MTCNN, dlib 68 points, EAR) of 4 s of a bundled real clip
in which a person blinks four times (tests/data/blink_labels.yaml). Training runs one epoch of
a tiny CNN+LSTM with blink fusion on pairs of real and self-blended sequences; these tests check that
the features are measured and reach the model, not that they help (a pseudo-fake keeps the
blinks of its real source, docs/blinks.md).
"""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest
import torch

from vidfake.config import CropConfig, ScanConfig
from vidfake.cues import BLINK_FEATURES
from vidfake.datasets import DatasetItem
from vidfake.media import cut
from vidfake.scanning import prepare_out_dir, scan_video
from vidfake.scoring.scorer import Scorer
from vidfake.sequences import SequenceTransform
from vidfake.shards.store import ShardWriter, read_faces
from vidfake.training.loader import ShardSequenceDataset, count_sequences, model_inputs
from vidfake.training.loop import load_train_config, train

SIZE = 64
FPS = 25


def _scan(root: Path, clip: Path, landmarks68: bool) -> Path:
    cfg = ScanConfig(
        sampling=f"clip:100@{FPS}", landmarks68=landmarks68, crop=CropConfig(size=SIZE)
    )
    out = prepare_out_dir(root / f"shards68-{landmarks68}", cfg, force=False)
    item = DatasetItem(str(clip), 0, "OpenTalker__s", "train", "test")
    result = scan_video(item, cfg)
    assert result.manifest["status"] == "ok", result.manifest["error"]
    with ShardWriter(out) as writer:
        writer.add(result.manifest, result.faces)
        val = dict(result.manifest, video_id="val-copy", split="val", group="copy")
        faces = result.faces.set_column(
            result.faces.schema.get_field_index("video_id"),
            "video_id",
            pa.array(["val-copy"] * result.faces.num_rows),
        )
        faces = faces.set_column(
            faces.schema.get_field_index("split"), "split", pa.array(["val"] * faces.num_rows)
        )
        writer.add(val, faces)
    return out


@pytest.fixture(scope="module")
def shards(tmp_path_factory: pytest.TempPathFactory, sample_dir: Path, one_torch_thread) -> dict:
    """The same 4 s clip (blinks at frames 1-4, 19-31, 49-51, 76-88) with and without EAR;
    a copy of its rows is the validation split."""
    root = tmp_path_factory.mktemp("blinkin")
    clip = cut(sample_dir / "clips" / "OpenTalker__s.mp4", root / "s.mp4", duration=4.0)
    return {flag: _scan(root, clip, flag) for flag in (True, False)}


def _transform() -> SequenceTransform:
    return SequenceTransform((3, SIZE, SIZE), (0.5, 0.5, 0.5), (0.25, 0.25, 0.25), frames=4)


def test_loader_gives_each_window_its_tracks_blink_vector(shards: dict) -> None:
    ds = ShardSequenceDataset(shards[True], _transform(), splits=("train",), with_blink=True)
    items = list(ds)
    assert len(items) >= 20
    vectors = np.stack([it["blink"].numpy() for it in items])
    assert vectors.shape[1] == len(BLINK_FEATURES) and np.isfinite(vectors).all()
    assert np.allclose(vectors, vectors[0]), "every window of one track carries the same vector"
    stats = dict(zip(BLINK_FEATURES, vectors[0], strict=True))
    assert stats["blink_valid"] == 1.0
    assert 30.0 <= stats["blinks_per_min"] <= 90.0, stats  # 4 labelled blinks in 4 s
    kwargs = model_inputs(torch.utils.data.default_collate(items[:3]), "cpu")
    assert kwargs["eyes"] is None and kwargs["blink"].shape == (3, len(BLINK_FEATURES))


def test_shards_without_ear_are_refused_for_blink_models(shards: dict) -> None:
    with pytest.raises(ValueError, match="landmarks68"):
        ShardSequenceDataset(shards[False], _transform(), with_blink=True)


def test_a_blink_model_trains_and_scores(shards: dict, tmp_path: Path) -> None:
    cfg = load_train_config(
        None,
        [
            "arch=cnn_lstm",
            "model={backbone: test_efficientnet, img_size: 64, frames: 4, hidden: 8, "
            f"blink_features: {len(BLINK_FEATURES)}}}",
            f"data.shards={shards[True]}",
            "data.pseudo_fake=0.5",
            "data.pseudo_pairs=true",
            "epochs=1",
            "optim.batch_size=8",
        ],
    )
    run = train(cfg, tmp_path / "run", progress=False)
    trained = int(float(next(csv.DictReader((run / "metrics.csv").open()))["train_seqs"]))
    assert trained == 2 * count_sequences(shards[True], 4, 4, ("train",))[0], "real + its fake"
    scorer = Scorer(run / "best")
    assert scorer.uses_blink and scorer.meta["uses_blink"]
    faces = read_faces(shards[True])
    faces = faces.filter(pa.compute.equal(faces["split"], "train"))
    video = faces["video_id"][0].as_py()
    result = scorer.score_videos([(video, faces)])[video]
    assert 0.0 <= result.score <= 1.0 and result.tracks
    no_ear = faces.drop_columns(["ear"])
    with pytest.raises(ValueError, match="EAR"):
        scorer.score_videos([(video, no_ear)])
