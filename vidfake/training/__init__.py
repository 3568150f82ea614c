"""Training, one job per module: `loader` streams shard windows (with on-the-fly self-blended
pseudo-fakes), `loop` runs epochs, validation, early stopping and checkpoints (`train`,
`load_train_config`, `TrainConfig`, loaded on first use so `vidfake.training.loader` can be
imported without the loop)."""

from importlib import import_module
from typing import Any

__all__ = ["TrainConfig", "load_train_config", "train"]


def __getattr__(name: str) -> Any:
    if name in __all__:
        return getattr(import_module("vidfake.training.loop"), name)
    raise AttributeError(f"module 'vidfake.training' has no attribute {name!r}")
