"""Configuration as data: YAML to typed objects, overrides, and errors that name the setting."""

from __future__ import annotations

import re

import pytest

from vidfake.config import ScanConfig, load_config
from vidfake.training.loop import load_train_config


def test_defaults_and_overrides(tmp_path):
    path = tmp_path / "scan.yaml"
    path.write_text("sampling: uniform:8\ndetect:\n  min_face: 30\n")
    cfg = load_config(ScanConfig, path, ["crop.size=112", "detect.thresholds=[0.5,0.6,0.7]"])
    assert cfg.sampling == "uniform:8"
    assert cfg.detect.min_face == 30
    assert cfg.crop.size == 112
    assert cfg.detect.thresholds == (0.5, 0.6, 0.7)
    assert cfg.settings_hash() != ScanConfig().settings_hash()


def test_unknown_setting_is_an_error():
    with pytest.raises(ValueError, match="unknown setting.*min_fcae"):
        load_config(ScanConfig, None, ["detect.min_fcae=3"])


def test_bad_type_names_the_setting():
    with pytest.raises(ValueError, match="detect.min_face"):
        load_config(ScanConfig, None, ["detect.min_face=big"])


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ("detect.min_face=40.9", "detect.min_face: input should be a valid integer, got 40.9"),
        ("detect.min_face=true", "detect.min_face: input should be a valid integer, got True"),
        ("crop.margin=true", "crop.margin: input should be a valid number, got True"),
        ("sampling=null", "sampling: input should be a valid string, got None"),
    ],
)
def test_values_are_validated_not_coerced(override, message):
    """40.9 is not truncated to 40, `true` is not 1, `null` is not the string "None"."""
    with pytest.raises(ValueError, match=re.escape(message)):
        load_config(ScanConfig, None, [override])


def test_errors_name_the_file(tmp_path):
    path = tmp_path / "scan.yaml"
    path.write_text("crop:\n  size: 112.5\n")
    with pytest.raises(ValueError, match=re.escape(f"{path}: setting crop.size")):
        load_config(ScanConfig, path)
    train = tmp_path / "train.yaml"
    train.write_text("optim:\n  batch_size: null\n")
    with pytest.raises(ValueError, match=re.escape(f"{train}: setting optim.batch_size")):
        load_train_config(train)


def test_whole_numbers_and_lists_still_load(tmp_path):
    cfg = load_train_config(None, ["optim.lr=1e-4", "epochs=3", "augment.video_crf=[20, 40]"])
    assert cfg.optim.lr == 1e-4 and cfg.epochs == 3 and cfg.augment.video_crf == (20, 40)
    assert isinstance(cfg.augment.video_crf, tuple)
    assert load_config(ScanConfig, None, ["crop.margin=2"]).crop.margin == 2.0
