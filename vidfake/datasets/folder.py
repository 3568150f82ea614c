"""A folder with `real/` and `fake/` subfolders; group = file stem or a regex over it."""

from __future__ import annotations

import re
from pathlib import Path

from vidfake.datasets.item import DatasetError, DatasetItem, require_dir, video_files

CLASS_DIRS = {"real": 0, "fake": 1}


def class_dirs(root: Path) -> dict[Path, int]:
    """The `real`/`fake` subfolders of root (any letter case) with their labels."""
    return {
        child: CLASS_DIRS[child.name.lower()]
        for child in sorted(root.iterdir())
        if child.is_dir() and child.name.lower() in CLASS_DIRS
    }


def list_folder(
    root: str | Path, group_regex: str | None = None, dataset: str | None = None
) -> list[DatasetItem]:
    """Videos under root/real (label 0) and root/fake (label 1), split unassigned.

    With `group_regex`, the group is its first capture group (or whole match) in the file
    stem, so e.g. `(\\d+)_` ties `12_a.mp4` and `12_b.mp4` together.
    """
    base = require_dir(root)
    dirs = class_dirs(base)
    if not dirs:
        raise DatasetError(f"{root}: no real/ or fake/ subfolder for the folder layout")
    pattern = re.compile(group_regex) if group_regex else None
    items = []
    for folder, label in dirs.items():
        for path in video_files(folder):
            items.append(
                DatasetItem(str(path), label, _group(path, pattern), dataset=dataset or base.name)
            )
    return items


def _group(path: Path, pattern: re.Pattern[str] | None) -> str:
    """The group of one file: its stem, or what the regex picks out of the stem."""
    if pattern is None:
        return path.stem
    match = pattern.search(path.stem)
    if match is None:
        raise DatasetError(f"{path}: group regex {pattern.pattern!r} does not match the name")
    return match.group(1) if pattern.groups else match.group(0)
