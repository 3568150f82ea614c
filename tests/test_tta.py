"""Test-time augmentation: the mirror-averaged logit, and checkpoints that record the mode."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from vidfake.checkpoint import load_checkpoint, save_checkpoint
from vidfake.models import create_model
from vidfake.models.tta import FlipTTA, with_tta


def _fused():
    torch.manual_seed(0)
    return create_model("meso4", img_size=32, frames=2, eyes=True, eye_size=16, blink_features=3)


def _inputs():
    gen = torch.Generator().manual_seed(1)
    x = torch.randn(3, 2, 3, 32, 32, generator=gen)
    eyes = torch.randn(3, 2, 2, 3, 16, 16, generator=gen)
    blink = torch.randn(3, 3, generator=gen)
    return x, eyes, blink


def test_flip_is_the_mean_of_the_view_and_its_mirror() -> None:
    model = _fused().eval()
    x, eyes, blink = _inputs()
    with torch.no_grad():
        plain = model(x, eyes=eyes, blink=blink)
        mirror = model(x.flip(-1), eyes=eyes.flip(-1).flip(2), blink=blink)
        got = FlipTTA(model)(x, eyes=eyes, blink=blink)
    assert not torch.allclose(plain, mirror)  # the model itself is not mirror-invariant
    torch.testing.assert_close(got, (plain + mirror) / 2)


def test_flip_scores_a_face_and_its_mirror_image_alike() -> None:
    tta = with_tta(_fused(), "flip").eval()
    x, eyes, blink = _inputs()
    with torch.no_grad():
        a = tta(x, eyes=eyes, blink=blink)
        # the mirrored face: pixels flipped, and its left eye is the original's right eye
        b = tta(x.flip(-1), eyes=eyes.flip(-1).flip(2), blink=blink)
    torch.testing.assert_close(a, b)


def test_none_returns_the_model_and_unknown_modes_are_refused() -> None:
    model = _fused()
    assert with_tta(model, "none") is model
    with pytest.raises(ValueError, match="flip"):
        with_tta(model, "five-crop")


def test_checkpoints_load_under_their_recorded_mode_unless_overridden(tmp_path: Path) -> None:
    torch.manual_seed(0)
    model = create_model("meso4", img_size=32, frames=2).eval()
    kwargs = {"model_kwargs": {"img_size": 32, "frames": 2}}
    save_checkpoint(tmp_path / "plain", model, kwargs)
    save_checkpoint(tmp_path / "flip", model, {**kwargs, "tta": "flip"})
    x = torch.randn(2, 2, 3, 32, 32)
    plain, meta = load_checkpoint(tmp_path / "plain")
    flip, flip_meta = load_checkpoint(tmp_path / "flip")
    off, off_meta = load_checkpoint(tmp_path / "flip", tta="none")
    assert (meta["tta"], flip_meta["tta"], off_meta["tta"]) == ("none", "flip", "none")
    with torch.no_grad():
        torch.testing.assert_close(flip(x), (model(x) + model(x.flip(-1))) / 2)
        assert torch.equal(off(x), model(x)) and torch.equal(plain(x), model(x))
    bad = json.loads((tmp_path / "flip" / "meta.json").read_text())
    (tmp_path / "flip" / "meta.json").write_text(json.dumps({**bad, "tta": "rotate"}))
    with pytest.raises(ValueError, match="rotate"):
        load_checkpoint(tmp_path / "flip")
