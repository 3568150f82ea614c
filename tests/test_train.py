"""Training on shards from the bundled real clips: resume, the commands, and learning tests.

The shards come from `_training_data` (real clips, real MTCNN box, SYNTHETIC manipulations:
a blended colour-shifted face region for `spatial`, per-frame jitter of the face region for
`temporal`). Validation and test groups (clips) are never trained on.
"""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
import torch
from _training_data import build_fixture_shards
from safetensors.torch import load_file

from vidfake.checkpoint import read_meta
from vidfake.cli import main
from vidfake.evaluate import evaluate
from vidfake.models import list_models
from vidfake.training.loop import load_train_config, train

CONFIGS = Path(__file__).resolve().parents[1] / "configs"


@pytest.fixture(scope="session")
def fixture_shards(tmp_path_factory) -> dict[str, Path]:
    return build_fixture_shards(tmp_path_factory.getbasetemp() / "training_shards")


def _tiny(arch: str, shards: Path, *extra: str):
    return load_train_config(
        CONFIGS / "models" / f"{arch}.yaml",
        ["profile=tiny", f"data.shards={shards}", *extra],
    )


def test_resume_continues_where_it_stopped(tmp_path: Path, fixture_shards) -> None:
    cfg = _tiny(
        "meso4",
        fixture_shards["spatial"],
        "model.img_size=32",
        "epochs=2",
        "data.stride=4",
        "optim.batch_size=16",
    )
    train(cfg, tmp_path / "whole", progress=False)
    train(cfg, tmp_path / "split", progress=False, stop_after=1)
    first = pd.read_csv(tmp_path / "split" / "metrics.csv")
    assert list(first["epoch"]) == [1]
    with pytest.raises(ValueError, match="--resume"):
        train(cfg, tmp_path / "split", progress=False)
    train(cfg, tmp_path / "split", resume=True, progress=False)
    whole = load_file(str(tmp_path / "whole" / "last" / "model.safetensors"))
    split = load_file(str(tmp_path / "split" / "last" / "model.safetensors"))
    assert whole.keys() == split.keys()
    assert all(torch.allclose(whole[k].float(), split[k].float(), atol=1e-6) for k in whole)
    a = pd.read_csv(tmp_path / "whole" / "metrics.csv")
    b = pd.read_csv(tmp_path / "split" / "metrics.csv")
    assert list(b["epoch"]) == [1, 2]
    for col in ("train_loss", "lr", "val_seq_auc", "val_video_auc", "val_seq_log_loss"):
        assert a[col].tolist() == pytest.approx(b[col].tolist(), abs=1e-6)


def test_train_and_eval_commands(tmp_path: Path, fixture_shards) -> None:
    shards = str(fixture_shards["spatial"])
    code = main(
        [
            "train", "--arch", "meso4", "--config", str(CONFIGS / "models" / "meso4.yaml"),
            "--data", shards, "--set", "profile=tiny", "--set", "epochs=1",
            "--set", "model.img_size=32", "--set", "data.stride=4", "--set", "tta=flip",
            "--out", str(tmp_path / "run"), "--no-progress",
        ]
    )  # fmt: skip
    assert code == 0
    assert {p.name for p in (tmp_path / "run").iterdir()} >= {"best", "last", "metrics.csv"}
    assert read_meta(tmp_path / "run" / "best")["tta"] == "flip"  # validated and recorded
    code = main(
        [
            "eval",
            "--model",
            str(tmp_path / "run" / "best"),
            "--data",
            shards,
            "--out",
            str(tmp_path / "ev"),
        ]
    )
    assert code == 0
    roc = pd.read_csv(tmp_path / "ev" / "roc_videos.csv")
    assert set(roc.columns) == {"fpr", "tpr", "threshold"} and roc["tpr"].iloc[-1] == 1.0
    assert json.loads((tmp_path / "ev" / "metrics.json").read_text())["tta"] == "flip"
    model_args = ["--model", str(tmp_path / "run" / "best"), "--data", shards]
    assert main(["eval", *model_args, "--tta", "none", "--out", str(tmp_path / "ev0")]) == 0
    assert json.loads((tmp_path / "ev0" / "metrics.json").read_text())["tta"] == "none"
    assert main(["eval", "--model", str(tmp_path), "--data", shards]) == 3
    assert (
        main(["train", "--arch", "no_such_model", "--data", shards, "--out", str(tmp_path / "x")])
        == 2
    )
    assert (
        main(
            [
                "train",
                "--data",
                str(tmp_path / "missing"),
                "--out",
                str(tmp_path / "y"),
                "--set",
                "profile=tiny",
                "--config",
                str(CONFIGS / "models" / "meso4.yaml"),
            ]
        )
        == 3
    )


def test_init_starts_from_a_checkpoint(tmp_path: Path, fixture_shards) -> None:
    """`--init` loads a checkpoint's weights before training: at learning rate 0 every trained
    parameter stays what the checkpoint holds; weights of another architecture are refused."""
    shards = str(fixture_shards["spatial"])
    common = [
        "train", "--config", str(CONFIGS / "models" / "meso4.yaml"), "--data", shards,
        "--set", "profile=tiny", "--set", "epochs=1", "--set", "model.img_size=32",
        "--set", "data.stride=4", "--no-progress",
    ]  # fmt: skip
    assert main([*common, "--out", str(tmp_path / "a")]) == 0
    frozen = ["--set", "optim.lr=0", "--set", "optim.weight_decay=0", "--set", "seed=1"]
    init = ["--init", str(tmp_path / "a" / "best")]
    assert main([*common, *frozen, *init, "--out", str(tmp_path / "b")]) == 0
    assert main([*common, *frozen, "--out", str(tmp_path / "c")]) == 0
    a, b, c = (load_file(str(tmp_path / r / "last" / "model.safetensors")) for r in "abc")
    params = [k for k in a if "running" not in k and "num_batches" not in k]
    assert all(torch.equal(a[k], b[k]) for k in params)
    assert not all(torch.equal(a[k], c[k]) for k in params)
    other = ["--set", "arch=mesoinception4", "--out", str(tmp_path / "d")]
    assert main([*common, *init, *other]) == 2


def test_bad_settings_are_named(fixture_shards) -> None:
    with pytest.raises(ValueError, match="unknown setting"):
        load_train_config(None, ["optim.momentum=0.9"])
    with pytest.raises(ValueError, match="profile"):
        load_train_config(CONFIGS / "models" / "cvit.yaml", ["profile=huge"])


def test_a_validation_split_without_both_classes_is_refused_before_training(
    tmp_path: Path, fixture_shards
) -> None:
    """A small labelled folder with every video in `train` fails at once, saying what to do."""
    import shutil

    import pyarrow as pa
    import pyarrow.parquet as pq

    shards = tmp_path / "all-train"
    shutil.copytree(fixture_shards["spatial"], shards)
    for f in (shards / "faces").glob("*.parquet"):
        table = pq.read_table(f)
        split = table.schema.get_field_index("split")
        everything = pa.array(["train"] * table.num_rows, table.schema.field(split).type)
        pq.write_table(table.set_column(split, table.schema.field(split), everything), f)
    cfg = _tiny("cnn_lstm", shards)
    with pytest.raises(ValueError, match=r"split 'val' holds 0 real and 0 fake.*data.val_split"):
        train(cfg, tmp_path / "run", progress=False)
    assert not (tmp_path / "run").exists()


def test_train_flags_people_type(tmp_path: Path, fixture_shards) -> None:
    """`--epochs`, `--lr`, `--batch-size` and `--device` set the settings they name."""
    args = ["train", "--config", str(CONFIGS / "models" / "cnn_lstm.yaml"), "--set", "profile=tiny"]
    args += ["--data", str(fixture_shards["spatial"]), "--out", str(tmp_path / "r")]
    args += ["--epochs", "1", "--lr", "1e-4", "--batch-size", "8", "--device", "cpu"]
    args += ["--no-progress"]
    assert main(args) == 0
    cfg = read_meta(tmp_path / "r" / "last")["train_config"]
    assert (cfg["epochs"], cfg["optim"]["lr"], cfg["optim"]["batch_size"]) == (1, 1e-4, 8)
    assert cfg["device"] == "cpu"
    assert len(pd.read_csv(tmp_path / "r" / "metrics.csv")) == 1


# Learning: every architecture picks up the spatial manipulation; only sequence models the
# temporal one. Each run trains an architecture's tiny profile on 32-px crops (T=4 except
# where the profile says otherwise), no augmentation that would hide the traces, seed 0,
# at most 4 (spatial) or 6 (temporal) epochs, stopping after 2 without a better validation
# AUC; the epoch best on the validation groups is scored on the held-out test groups.
LEARN = [
    "profile=tiny",
    "patience=2",
    "optim.batch_size=16",
    "augment.color=0",
    "augment.jpeg=0",
    "augment.blur=0",
    "augment.downscale=0",
]
# Settings beyond the tiny profile: 32-px crops for every face model; the eye-only model reads
# the 32-px eye patches and has no face input; inception_resnet_v1 (facenet-pytorch, no timm
# backbone to swap) keeps its profile's 64-px crops and T=2.
SIZE = {"eye_lrcn": [], "inception_resnet_v1": []}
SEQUENCE_MODELS = ("cnn_lstm", "cvit")
FRAME_MODELS = ("meso4", "efficientnet_b0")
ASSERTED = SEQUENCE_MODELS


def _learned(
    arch: str, kind: str, epochs: int, shards: dict[str, Path], out: Path, *extra: str
) -> float:
    """Test-split sequence AUC of the best validation epoch of a seeded tiny run."""
    size = SIZE.get(arch, ["model.img_size=32"])
    cfg = _tiny(arch, shards[kind], f"epochs={epochs}", *LEARN, *size, *extra)
    train(cfg, out / f"{arch}-{kind}", progress=False)
    return evaluate(out / f"{arch}-{kind}" / "best", shards[kind], "test")["seq_auc"]


@pytest.mark.slow
@pytest.mark.parametrize("arch", list_models())
def test_every_architecture_learns_a_spatial_manipulation(arch, tmp_path, fixture_shards) -> None:
    auc = _learned(arch, "spatial", 4, fixture_shards, tmp_path)
    print(f"spatial test AUC {arch}: {auc:.3f}")
    assert auc >= 0.9


@pytest.mark.slow
def test_sequence_models_learn_temporal_jitter_frame_models_cannot(
    tmp_path, fixture_shards
) -> None:
    models = SEQUENCE_MODELS + FRAME_MODELS
    # windows every 4 frames: 384 training sequences (3 drifts x 8 clips x 2 classes x 8)
    auc = {a: _learned(a, "temporal", 6, fixture_shards, tmp_path, "data.stride=4") for a in models}
    print("\ntemporal manipulation (the face crop's smooth drift, shuffled), test AUC:")
    print(f"{'sequence model':>16} {'AUC':>6} | {'frame model':>16} {'AUC':>6}")
    for seq, frame in zip(SEQUENCE_MODELS, FRAME_MODELS, strict=True):
        print(f"{seq:>16} {auc[seq]:6.3f} | {frame:>16} {auc[frame]:6.3f}")
    assert all(auc[a] >= 0.8 for a in ASSERTED), auc
    assert all(auc[a] <= 0.7 for a in FRAME_MODELS), auc
