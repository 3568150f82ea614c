"""A registry of model names to builder functions, in the manner of timm's `create_model`.

A family module decorates its builders with `@register_model`; `create_model(name, **kwargs)`
builds one. Every registered model maps face sequences `(B, T, C, H, W)` to one logit per
sequence, and may take per-sequence eye patches and blink features as keyword arguments.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Callable
from typing import Any

from torch import nn

_MODELS: dict[str, Callable[..., nn.Module]] = {}
_FAMILIES: dict[str, str] = {}


def register_model(fn: Callable[..., nn.Module]) -> Callable[..., nn.Module]:
    """Register `fn` under its own name; the name must be new."""
    name = fn.__name__
    if name in _MODELS:
        raise ValueError(f"model {name!r} is registered twice")
    _MODELS[name] = fn
    _FAMILIES[name] = fn.__module__.rsplit(".", 1)[-1]
    return fn


def list_models(pattern: str = "*") -> list[str]:
    """Names of the registered models matching a shell-style pattern, sorted."""
    return sorted(n for n in _MODELS if fnmatch.fnmatch(n, pattern))


def model_family(name: str) -> str:
    """The module (family) a model name is defined in, e.g. `cvit` or `frame`."""
    return _FAMILIES[name]


def is_model(name: str) -> bool:
    """Whether `name` is a registered model."""
    return name in _MODELS


def split_tag(name: str) -> tuple[str, str | None]:
    """`"meso4.df"` -> `("meso4", "df")`: a registered name and its pretrained tag, as in timm."""
    if name in _MODELS or "." not in name:
        return name, None
    arch, tag = name.split(".", 1)
    return arch, tag


def create_model(name: str, **kwargs: Any) -> nn.Module:
    """Build the registered model `name` (optionally `name.tag`) with keyword settings.

    A pretrained tag (`meso4.df`) is the same as `pretrained="df"`; the builder resolves it to
    weights on this disk or raises naming what is missing. The model gets `arch` (the name) and
    `model_kwargs` (the settings minus `pretrained`), which is what a checkpoint needs to
    rebuild it.
    """
    name, tag = split_tag(name)
    if tag is not None:
        if kwargs.get("pretrained") not in (None, False, True, tag):
            raise ValueError(f"tag {tag!r} and pretrained={kwargs['pretrained']!r} disagree")
        kwargs["pretrained"] = tag
    if name not in _MODELS:
        raise ValueError(f"unknown model {name!r}; known: {', '.join(list_models())}")
    model = _MODELS[name](**kwargs)
    model.arch = name
    model.model_kwargs = {k: v for k, v in kwargs.items() if k != "pretrained"}
    return model
