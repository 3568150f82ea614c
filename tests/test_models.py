"""The model zoo: every registered model runs forward and backward, published sizes hold, and
the temporal models really use time and space. Inputs are random tensors (synthetic), models
start from random weights; nothing downloads."""

from __future__ import annotations

import time

import pytest
import timm
import torch
from safetensors.torch import save_file

from vidfake.models import create_model, list_models

EXPECTED = {
    "meso4",
    "mesoinception4",
    "vgg16",
    "efficientnet_b0",
    "densenet121",
    "xception",
    "resnet50",
    "tf_efficientnet_lite0",
    "tf_efficientnet_lite1",
    "tf_efficientnet_lite2",
    "inception_resnet_v1",
    "cnn_lstm",
    "cnn_lstm_eye",
    "cvit",
    "eye_lrcn",
}

# Tiny settings: (kwargs, batch). Frame CNNs keep their real backbone, at 64 px with B=1, T=2.
TINY: dict[str, tuple[dict, int]] = {
    "meso4": ({"img_size": 64, "frames": 4}, 2),
    "mesoinception4": ({"img_size": 64, "frames": 4}, 2),
    "vgg16": ({"img_size": 64, "frames": 2}, 1),
    "efficientnet_b0": ({"img_size": 64, "frames": 2}, 1),
    "densenet121": ({"img_size": 64, "frames": 2}, 1),
    "xception": ({"img_size": 64, "frames": 2}, 1),
    "resnet50": ({"img_size": 64, "frames": 2}, 1),
    "tf_efficientnet_lite0": ({"img_size": 64, "frames": 2}, 1),
    "tf_efficientnet_lite1": ({"img_size": 64, "frames": 2}, 1),
    "tf_efficientnet_lite2": ({"img_size": 64, "frames": 2}, 1),
    "inception_resnet_v1": ({"img_size": 96, "frames": 2}, 1),
    "cnn_lstm": ({"backbone": "resnet10t", "img_size": 64, "frames": 4, "hidden": 16}, 2),
    "cnn_lstm_eye": (
        {"backbone": "resnet10t", "img_size": 64, "frames": 4, "hidden": 16, "eye_hidden": 8},
        2,
    ),
    "cvit": (
        {"size": "tiny", "backbone": "resnet10t", "feature_index": -2, "img_size": 64, "frames": 4},
        2,
    ),
    "eye_lrcn": ({"eye_size": 16, "frames": 4, "channels": (4, 8), "hidden": 8}, 2),
}
CFG_KEYS = {"input_size", "frames", "mean", "std", "temporal", "uses_eyes", "uses_blink"}
SLOW = {"vgg16"}  # 134 M parameters: building and one step take several seconds on 2 cores


def inputs(model, batch: int, frames: int | None = None, seed: int = 0) -> dict:
    """Synthetic normalised inputs shaped from the model's default_cfg."""
    gen = torch.Generator().manual_seed(seed)
    cfg = model.default_cfg
    t = frames or cfg["frames"]
    out = {"x": torch.randn(batch, t, *cfg["input_size"], generator=gen)}
    if cfg["uses_eyes"]:
        out["eyes"] = torch.randn(batch, t, 2, *cfg["eye_size"], generator=gen)
    if cfg["uses_blink"]:
        out["blink"] = torch.randn(batch, cfg["blink_features"], generator=gen)
    return out


def n_trainable(model: torch.nn.Module) -> int:
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


def test_registry_lists_every_family():
    assert set(list_models()) == EXPECTED
    assert set(TINY) == set(list_models()), "every registered model needs a tiny test setting"
    assert list_models("meso*") == ["meso4", "mesoinception4"]


def test_unknown_names_are_clear_errors():
    with pytest.raises(ValueError, match="unknown model 'nope'.*cvit"):
        create_model("nope")
    with pytest.raises(ValueError, match="unknown timm backbone 'not_a_net'"):
        create_model("cnn_lstm", backbone="not_a_net")
    with pytest.raises(ValueError, match="unknown cvit size 'huge'"):
        create_model("cvit", size="huge")
    with pytest.raises(ValueError, match="attention must be"):
        create_model("cvit", **{**TINY["cvit"][0], "attention": "sparse"})
    with pytest.raises(TypeError, match="unexpected keyword"):
        create_model("meso4", colour="blue")


@pytest.mark.parametrize(
    "name", [pytest.param(n, marks=pytest.mark.slow) if n in SLOW else n for n in sorted(TINY)]
)
def test_forward_backward(name):
    torch.manual_seed(0)
    kwargs, batch = TINY[name]
    model = create_model(name, **kwargs)
    assert CFG_KEYS <= set(model.default_cfg)
    assert model.arch == name and model.model_kwargs == kwargs
    feed = inputs(model, batch)
    logits = model(**feed)
    assert logits.shape == (batch,) and torch.isfinite(logits).all()
    torch.nn.functional.binary_cross_entropy_with_logits(logits, torch.ones(batch)).backward()
    grads = [p.grad for p in model.parameters() if p.requires_grad]
    assert all(g is not None for g in grads), "some parameters took no part in the output"
    assert sum(float(g.abs().sum()) for g in grads) > 0


def test_published_parameter_counts():
    assert n_trainable(create_model("meso4")) == 27_977
    assert n_trainable(create_model("mesoinception4")) == 28_615
    assert create_model("meso4").default_cfg["input_size"] == (3, 256, 256)


def test_default_cfg_follows_backbone_and_settings():
    xcp = create_model("xception", **TINY["xception"][0])
    assert xcp.default_cfg["mean"] == (0.5, 0.5, 0.5) and not xcp.default_cfg["temporal"]
    assert create_model("resnet50", backbone="resnet10t").default_cfg["input_size"] == (3, 176, 176)
    irv1 = create_model("inception_resnet_v1").default_cfg
    assert irv1["input_size"] == (3, 160, 160) and irv1["std"][0] == pytest.approx(128 / 255)
    fused = create_model("meso4", img_size=64, eyes=True, eye_size=24, blink_features=6)
    cfg = fused.default_cfg
    assert cfg["uses_eyes"] and cfg["uses_blink"] and cfg["eye_size"] == (3, 24, 24)
    assert cfg["temporal"] and cfg["blink_features"] == 6


def test_frame_models_average_frame_logits_and_ignore_order():
    model = create_model("efficientnet_b0", backbone="resnet10t", img_size=64, frames=4).eval()
    x = inputs(model, 2)["x"]
    with torch.no_grad():
        seq = model(x)
        per_frame = torch.stack([model(x[:, i : i + 1]) for i in range(4)], dim=1)
        shuffled = model(x[:, [2, 0, 3, 1]])
    torch.testing.assert_close(seq, per_frame.mean(dim=1), rtol=1e-4, atol=1e-5)
    torch.testing.assert_close(seq, shuffled, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("pool", ["last", "mean"])
def test_cnn_lstm_is_batch_first_and_order_sensitive(pool):
    torch.manual_seed(0)
    model = create_model("cnn_lstm", **{**TINY["cnn_lstm"][0], "pool": pool}).eval()
    lstm = model.face.lstm.lstm
    assert lstm.batch_first and lstm.bias and not lstm.bidirectional
    x = inputs(model, 2)["x"]
    with torch.no_grad():
        a, b = model(x), model(x[:, [3, 1, 0, 2]])
        other = model(x[[1, 0]])
    if pool == "last":
        assert (a - b).abs().max() > 1e-4, "reordering the frames did not change the output"
    torch.testing.assert_close(other, a[[1, 0]], rtol=1e-4, atol=1e-5)  # batch stays apart


def test_cnn_lstm_bidirectional_doubles_hidden():
    kwargs = TINY["cnn_lstm"][0]
    single = create_model("cnn_lstm", **kwargs)
    double = create_model("cnn_lstm", **kwargs, bidirectional=True, layers=2)
    lstm = double.face.lstm.lstm
    assert lstm.bidirectional and lstm.bias and lstm.batch_first and lstm.num_layers == 2
    assert double.face.num_features == 2 * single.face.num_features == 2 * kwargs["hidden"]
    assert double.head[-1].in_features == 2 * kwargs["hidden"]
    feed = inputs(double, 2)
    assert double(**feed).shape == (2,)


def test_cnn_lstm_backbone_cut_after_a_stage():
    kwargs = {"backbone": "resnet18", "img_size": 64, "frames": 4, "hidden": 8}
    full = create_model("cnn_lstm", **kwargs)
    cut = create_model("cnn_lstm", **kwargs, feature_index=-2)
    assert cut.face.backbone.num_features == 256 and full.face.backbone.num_features == 512
    count = lambda m: sum(p.numel() for p in m.parameters())  # noqa: E731
    assert count(cut) < 0.3 * count(full)
    assert cut(torch.randn(2, 4, 3, 64, 64)).shape == (2,)


@pytest.mark.parametrize("attention", ["joint", "factorised"])
def test_cvit_attends_every_cell_of_every_frame(attention):
    torch.manual_seed(0)
    model = create_model("cvit", **{**TINY["cvit"][0], "attention": attention}).eval()
    assert model.face.grid == (4, 4)  # 16 tokens per frame, 64 per sequence, not one
    kept = {}

    def keep(_module, _inputs, output):
        output[-1].retain_grad()
        kept["fmap"] = output[-1]

    hook = model.face.stem.register_forward_hook(keep)
    x = inputs(model, 2)["x"]
    model(x)[0].backward()
    hook.remove()
    reach = kept["fmap"].grad.abs().sum(dim=1).reshape(2, 4, 4, 4)  # (b, t, h, w)
    assert (reach[0] > 0).all(), "some cell of some frame does not reach the output"
    assert (reach[1] == 0).all(), "sequences in a batch leak into each other"
    with torch.no_grad():
        a = model(x)
        b = model(x[:, [1, 0, 2, 3]])
    assert (a - b).abs().max() > 1e-5, "swapping two frames did not change the output"


def test_cvit_rejects_sizes_it_was_not_built_for():
    model = create_model("cvit", **TINY["cvit"][0])
    with pytest.raises(ValueError, match="built for 64x64"):
        model(torch.randn(1, 4, 3, 96, 96))
    with pytest.raises(ValueError, match="time positions for 4 frames; got 6"):
        model(torch.randn(1, 6, 3, 64, 64))
    assert model(torch.randn(1, 3, 3, 64, 64)).shape == (1,)  # shorter sequences are fine


def test_fusion_inputs_are_checked():
    model = create_model("cnn_lstm_eye", **TINY["cnn_lstm_eye"][0], blink_features=6)
    feed = inputs(model, 2)
    assert model(**feed).shape == (2,)
    with pytest.raises(ValueError, match="built with eyes=True"):
        model(feed["x"], blink=feed["blink"])
    with pytest.raises(ValueError, match=r"blink must be a \(B, 6\)"):
        model(feed["x"], feed["eyes"], torch.randn(2, 5))
    with pytest.raises(ValueError, match="eyes hold 1 sequences but faces hold 2"):
        model(feed["x"], feed["eyes"][:1], feed["blink"])
    with pytest.raises(ValueError, match=r"\(B, T, 3, H, W\)"):
        model(feed["x"][0], feed["eyes"], feed["blink"])
    with pytest.raises(ValueError, match="always uses eyes"):
        create_model("cnn_lstm_eye", eyes=False)
    with pytest.raises(ValueError, match="built for 256x256"):
        create_model("meso4")(torch.randn(1, 1, 3, 128, 128))


def test_eye_lrcn_reads_only_eyes_and_blinks():
    model = create_model("eye_lrcn", **TINY["eye_lrcn"][0], blink_features=4).eval()
    eyes, blink = torch.randn(2, 4, 2, 3, 16, 16), torch.randn(2, 4)
    with torch.no_grad():
        a = model(None, eyes, blink)
        b = model(torch.randn(2, 4, 3, 64, 64), eyes, blink)
        c = model(None, eyes, blink + 1)
    torch.testing.assert_close(a, b)
    assert (a - c).abs().max() > 0
    assert model.default_cfg["temporal"] and model.default_cfg["uses_eyes"]


BACKBONES = {  # model kwargs, and how to reach the part `pretrained=` loads
    "resnet50": ({"backbone": "resnet10t"}, lambda m: m.face.encoder),
    "meso4": ({"img_size": 64}, lambda m: m.face.encoder),
    "inception_resnet_v1": ({}, lambda m: m.face.encoder),
    "cnn_lstm": (TINY["cnn_lstm"][0], lambda m: m.face.backbone),
    "cvit": (TINY["cvit"][0], lambda m: m.face.stem),
    "eye_lrcn": (TINY["eye_lrcn"][0], lambda m: m.eye.cnn),
}


@pytest.mark.parametrize("name", sorted(BACKBONES))
def test_pretrained_state_dict_round_trips(name, tmp_path):
    kwargs, part = BACKBONES[name]
    torch.manual_seed(1)
    source = part(create_model(name, **kwargs))
    for buf in source.buffers():  # make BatchNorm statistics distinctive too
        if buf.is_floating_point():
            buf.uniform_(0.5, 1.5)
    state = {k: v.contiguous() for k, v in source.state_dict().items()}
    suffix = ".pt" if name in ("cnn_lstm", "meso4") else ".safetensors"  # both kinds of file
    path = tmp_path / f"weights{suffix}"
    save_file(state, path) if suffix == ".safetensors" else torch.save(state, path)
    torch.manual_seed(2)
    loaded = part(create_model(name, **kwargs, pretrained=str(path))).state_dict()
    assert loaded.keys() == state.keys()
    for key, value in state.items():
        torch.testing.assert_close(loaded[key], value, msg=key)


def test_pretrained_takes_a_full_timm_checkpoint_and_refuses_misfits(tmp_path):
    imagenet = timm.create_model("resnet10t", pretrained=False, num_classes=7)
    full = tmp_path / "resnet10t.safetensors"
    save_file(imagenet.state_dict(), full)  # carries a classifier the backbone drops
    model = create_model("cvit", **TINY["cvit"][0], pretrained=str(full))
    torch.testing.assert_close(model.face.stem.conv1[0].weight, imagenet.conv1[0].weight)
    with pytest.raises(ValueError, match="does not fit.*missing"):
        create_model(
            "cnn_lstm",
            **{**TINY["cnn_lstm"][0], "backbone": "efficientnet_b0"},
            pretrained=str(full),
        )
    with pytest.raises(FileNotFoundError, match="pretrained weights not found"):
        create_model("meso4", pretrained=str(tmp_path / "absent.pt"))
    pickled = tmp_path / "code.pt"
    torch.save({"conv1.weight": imagenet.conv1[0].weight, "hook": time.perf_counter}, pickled)
    with pytest.raises(ValueError, match="not a plain tensor state dict"):
        create_model("resnet50", backbone="resnet10t", pretrained=str(pickled))


def test_rebuilt_from_model_kwargs_gives_the_same_outputs():
    torch.manual_seed(0)
    model = create_model("cvit", **{**TINY["cvit"][0], "attention": "factorised"}).eval()
    again = create_model(model.arch, **model.model_kwargs).eval()
    again.load_state_dict(model.state_dict())
    x = inputs(model, 2)["x"]
    with torch.no_grad():
        torch.testing.assert_close(again(x), model(x))
