"""The row every dataset adapter yields, and the helpers the adapters share."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

LABELS = {-1: "unknown", 0: "real", 1: "fake"}
SPLITS = ("train", "val", "test", "unassigned")
VIDEO_SUFFIXES = frozenset(
    {".mp4", ".avi", ".mov", ".mkv", ".webm", ".mpg", ".mpeg", ".m4v", ".flv", ".wmv"}
    | {".gif", ".264", ".h264", ".ts", ".3gp"}
)


class DatasetError(ValueError):
    """A dataset root that cannot be listed as asked; the message says what to fix."""


@dataclass(frozen=True)
class DatasetItem:
    """One video to scan: label 0 real, 1 fake, -1 unknown; group never spans two splits."""

    path: str
    label: int
    group: str
    split: str = "unassigned"
    dataset: str = ""

    def __post_init__(self) -> None:
        if self.label not in LABELS:
            raise DatasetError(f"{self.path}: label must be -1, 0 or 1, not {self.label!r}")
        if self.split not in SPLITS:
            raise DatasetError(f"{self.path}: split must be one of {SPLITS}, not {self.split!r}")
        if not self.group:
            raise DatasetError(f"{self.path}: empty group")


def video_files(folder: Path) -> Iterator[Path]:
    """Video files under a folder (recursive, by suffix, hidden files skipped), sorted."""
    for path in sorted(folder.rglob("*")):
        if (
            path.is_file()
            and path.suffix.lower() in VIDEO_SUFFIXES
            and not any(part.startswith(".") for part in path.relative_to(folder).parts)
        ):
            yield path


def require_dir(root: str | Path) -> Path:
    """The root as an absolute folder path, or a clear error."""
    path = Path(root).expanduser().resolve()
    if not path.is_dir():
        raise DatasetError(f"{root}: not a folder")
    return path
