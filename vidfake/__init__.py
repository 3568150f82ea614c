"""vidfake: find deepfakes in video collections.

The public API, for notebooks and scripts (the command line calls the same verbs):
`vidfake.scan`, `vidfake.score`, `vidfake.train`, `vidfake.create_model`, `vidfake.list_models`,
with settings in `vidfake.ScanConfig`, `vidfake.TrainConfig`, `vidfake.ScoreOptions` and
`vidfake.Runtime`. They load on first use, so `import vidfake` stays light.
"""

from importlib import import_module
from importlib.metadata import PackageNotFoundError, version
from typing import Any

try:
    __version__ = version("vidfake")
except PackageNotFoundError:  # running from a source tree that is not installed
    __version__ = "0.0.0+local"

_EXPORTS = {
    "scan": "vidfake.api",
    "score": "vidfake.api",
    "train": "vidfake.api",
    "ScoreOptions": "vidfake.api",
    "Runtime": "vidfake.api",
    "ScanConfig": "vidfake.config",
    "TrainConfig": "vidfake.training.loop",
    "load_config": "vidfake.config",
    "create_model": "vidfake.models",
    "list_models": "vidfake.models",
}

__all__ = ["__version__", *_EXPORTS]


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        return getattr(import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'vidfake' has no attribute {name!r}")
