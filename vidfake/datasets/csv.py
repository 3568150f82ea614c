"""A CSV listing videos: columns `path,label[,group,split]`, paths relative to the CSV."""

from __future__ import annotations

import csv
from pathlib import Path

from vidfake.datasets.item import SPLITS, DatasetError, DatasetItem

LABEL_WORDS = {"0": 0, "real": 0, "1": 1, "fake": 1, "-1": -1, "unknown": -1, "": -1}


def list_csv(path: str | Path, dataset: str | None = None) -> list[DatasetItem]:
    """One item per CSV row; label 0/1/-1 or real/fake; group defaults to the file stem.

    Files are not opened: a listed file that is missing gets its error row at scan time.
    """
    source = Path(path).expanduser().resolve()
    if not source.is_file():
        raise DatasetError(f"{path}: no such CSV file")
    with source.open(newline="") as handle:
        reader = csv.DictReader(handle)
        columns = {name.strip().lower() for name in reader.fieldnames or []}
        missing = {"path", "label"} - columns
        if missing:
            raise DatasetError(f"{path}: missing column(s) {', '.join(sorted(missing))}")
        items = []
        for line, raw in enumerate(reader, start=2):
            row = {k.strip().lower(): (v or "").strip() for k, v in raw.items() if k}
            items.append(_item(row, source, line, dataset or source.stem))
    return items


def _item(row: dict[str, str], source: Path, line: int, dataset: str) -> DatasetItem:
    """One CSV row as an item, or an error naming the line."""
    where = f"{source}:{line}"
    if not row["path"]:
        raise DatasetError(f"{where}: empty path")
    label = LABEL_WORDS.get(row["label"].lower())
    if label is None:
        raise DatasetError(f"{where}: label {row['label']!r} is not 0, 1, -1, real or fake")
    split = row.get("split") or "unassigned"
    if split not in SPLITS:
        raise DatasetError(f"{where}: split {split!r} is not one of {', '.join(SPLITS)}")
    video = Path(row["path"]).expanduser()
    if not video.is_absolute():
        video = source.parent / video
    return DatasetItem(str(video), label, row.get("group") or video.stem, split, dataset)
