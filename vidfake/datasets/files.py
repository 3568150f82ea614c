"""Any folder of videos, unlabelled: what `vidfake score` runs over."""

from __future__ import annotations

from pathlib import Path

from vidfake.datasets.item import DatasetError, DatasetItem, require_dir, video_files


def list_files(root: str | Path, dataset: str | None = None) -> list[DatasetItem]:
    """Every video under root (recursive), label -1, group = path relative to root sans suffix."""
    base = require_dir(root)
    items = [
        DatasetItem(
            str(path),
            -1,
            str(path.relative_to(base).with_suffix("")),
            dataset=dataset or base.name,
        )
        for path in video_files(base)
    ]
    if not items:
        raise DatasetError(f"{root}: no video files found")
    return items
