"""Configuration as data: YAML to typed objects, overrides, and errors that name the setting."""

from __future__ import annotations

import pytest

from vidfake.config import ScanConfig, load_config


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
