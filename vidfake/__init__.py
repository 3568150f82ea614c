"""vidfake: find deepfakes in video collections."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("vidfake")
except PackageNotFoundError:  # running from a source tree that is not installed
    __version__ = "0.0.0+local"

__all__ = ["__version__"]
