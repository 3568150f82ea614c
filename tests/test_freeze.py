"""Freezing a pretrained backbone's first stages (`frozen_blocks`) and NHWC (`channels_last`)."""

from __future__ import annotations

import pytest
import torch

from vidfake.models import create_model

KW = {"backbone": "tf_efficientnet_lite0", "img_size": 64, "frames": 2, "hidden": 8}


def _step(model: torch.nn.Module) -> None:
    model.train()
    opt = torch.optim.SGD([p for p in model.parameters() if p.requires_grad], lr=0.1)
    x = torch.randn(2, 2, 3, 64, 64)
    model(x).sum().backward()
    opt.step()


def test_frozen_stages_do_not_move_and_the_rest_learns() -> None:
    torch.manual_seed(0)
    model = create_model("cnn_lstm", frozen_blocks=2, channels_last=True, **KW)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    _step(model)
    after = model.state_dict()
    stem = ("conv_stem.", "bn1.", "blocks.0.", "blocks.1.")
    frozen = [k for k in before if k.startswith(tuple(f"face.backbone.{s}" for s in stem))]
    learned = [k for k in before if ".blocks.5." in k and k.endswith("weight")]
    assert frozen and learned
    assert all(torch.equal(before[k], after[k]) for k in frozen)  # BN statistics included
    assert any(not torch.equal(before[k], after[k]) for k in learned)


def test_channels_last_gives_the_same_logits_and_reloads() -> None:
    torch.manual_seed(0)
    plain = create_model("cnn_lstm", **KW).eval()
    nhwc = create_model("cnn_lstm", channels_last=True, **KW).eval()
    nhwc.load_state_dict(plain.state_dict())
    x = torch.randn(2, 2, 3, 64, 64)
    with torch.no_grad():
        assert torch.allclose(plain(x), nhwc(x), atol=1e-5)


def test_freezing_more_stages_than_there_are_is_refused() -> None:
    with pytest.raises(ValueError, match="cannot freeze"):
        create_model("cnn_lstm", frozen_blocks=99, **KW)
