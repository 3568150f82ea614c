"""DFDC: `dfdc_train_part_*/metadata.json` mapping each file to its label and original."""

from __future__ import annotations

import json
from pathlib import Path

from vidfake.datasets.item import DatasetError, DatasetItem, require_dir, video_files

LABELS = {"REAL": 0, "FAKE": 1}
PART_GLOB = "dfdc_train_part_*"


def list_dfdc(root: str | Path, dataset: str = "dfdc") -> list[DatasetItem]:
    """Every file in each part's metadata.json; group = the original (source) video's stem.

    Root is the folder of parts or one part. Videos on disk missing from the metadata are
    listed with label -1. The metadata's `split` is `train` for the whole public training set,
    so it carries no split: items stay `unassigned` for the group split.
    """
    base = require_dir(root)
    parts = sorted(p for p in base.glob(PART_GLOB) if p.is_dir())
    if not parts:
        if not (base / "metadata.json").is_file():
            raise DatasetError(f"{root}: no {PART_GLOB} folders and no metadata.json")
        parts = [base]
    items: list[DatasetItem] = []
    for part in parts:
        items.extend(_part(part, dataset))
    return items


def _part(part: Path, dataset: str) -> list[DatasetItem]:
    """The items of one DFDC part folder."""
    meta_path = part / "metadata.json"
    if not meta_path.is_file():
        raise DatasetError(f"{part}: missing metadata.json")
    try:
        meta = json.loads(meta_path.read_text())
    except ValueError as err:
        raise DatasetError(f"{meta_path}: not valid JSON ({err})") from err
    if not isinstance(meta, dict):
        raise DatasetError(f"{meta_path}: expected an object mapping file names to entries")
    items = []
    for name, entry in sorted(meta.items()):
        label = LABELS.get(str(entry.get("label", "")).upper()) if isinstance(entry, dict) else None
        if label is None:
            raise DatasetError(f"{meta_path}: {name}: label must be REAL or FAKE, got {entry!r}")
        original = entry.get("original") or name
        items.append(DatasetItem(str(part / name), label, Path(original).stem, dataset=dataset))
    for path in video_files(part):
        if path.name not in meta:
            items.append(DatasetItem(str(path), -1, path.stem, dataset=dataset))
    return items
