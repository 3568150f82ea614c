"""The row every dataset adapter yields, and the helpers the adapters share."""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

LABELS = {-1: "unknown", 0: "real", 1: "fake"}
SPLITS = ("train", "val", "test", "unassigned")
VIDEO_SUFFIXES = frozenset(
    {".mp4", ".avi", ".mov", ".mkv", ".webm", ".mpg", ".mpeg", ".m4v", ".flv", ".wmv"}
    | {".gif", ".264", ".h264", ".ts", ".3gp"}
)
NOT_UTF8 = (
    "the file name is not valid UTF-8 (the path shows its other bytes as \\xNN): "
    "rename the file to scan it"
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
        for name in ("group", "dataset"):  # they go into Parquet, which holds UTF-8 text only
            value = getattr(self, name)
            if isinstance(value, str):
                object.__setattr__(self, name, printable(value))
        if self.label not in LABELS:
            raise DatasetError(f"{self.path}: label must be -1, 0 or 1, not {self.label!r}")
        if self.split not in SPLITS:
            raise DatasetError(f"{self.path}: split must be one of {SPLITS}, not {self.split!r}")
        if not self.group:
            raise DatasetError(f"{self.path}: empty group")


def video_files(folder: Path) -> Iterator[Path]:
    """Every entry under a folder named like a video (recursive, hidden ones skipped), sorted.

    Nothing named like a video is dropped here: broken links, folders named `x.mp4`, named
    pipes and sub-folders that cannot be read are listed too, and the scan gives each an
    `error` row that says what it is.
    """
    found: list[Path] = []

    def unreadable(err: OSError) -> None:
        if Path(err.filename) == folder:
            raise DatasetError(f"{folder}: cannot list this folder ({err.strerror})")
        found.append(Path(err.filename))

    for top, dirs, files in os.walk(folder, onerror=unreadable):
        dirs[:] = [name for name in dirs if not name.startswith(".")]
        for name in dirs + files:
            if not name.startswith(".") and Path(name).suffix.lower() in VIDEO_SUFFIXES:
                found.append(Path(top) / name)
    yield from sorted(set(found))


def printable(text: str) -> str:
    """`text` as valid UTF-8: the bytes of a non-UTF-8 file name are shown as `\\xNN`."""
    try:
        return text.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")
    except UnicodeEncodeError:
        return text.encode("utf-8", "backslashreplace").decode("utf-8")


def path_problem(path: str) -> str | None:
    """Why a listed path cannot be scanned, known before opening it; None when nothing is.

    A name that is not UTF-8 cannot be a manifest or CSV key; a file or folder this process
    may not read would otherwise look like damaged media. Missing files, broken links,
    folders, pipes and empty files are for the decoder's own checks.
    """
    try:
        path.encode("utf-8")
    except UnicodeEncodeError:
        return NOT_UTF8
    if os.path.isdir(path) and not os.access(path, os.R_OK | os.X_OK):
        return "a folder vidfake may not read (permission denied): videos in it are not listed"
    if os.path.isfile(path) and not os.access(path, os.R_OK):
        return "permission denied: vidfake may not read this file (check its owner and mode)"
    return None


def require_dir(root: str | Path) -> Path:
    """The root as an absolute folder path, or a clear error."""
    path = Path(root).expanduser().resolve()
    if not path.is_dir():
        raise DatasetError(f"{root}: not a folder")
    return path
