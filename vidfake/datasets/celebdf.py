"""Celeb-DF v2: `Celeb-real`, `YouTube-real`, `Celeb-synthesis` and the official test list."""

from __future__ import annotations

import dataclasses
from pathlib import Path

from vidfake.datasets.item import DatasetError, DatasetItem, require_dir, video_files
from vidfake.datasets.split import split_by_group

FOLDERS = {"Celeb-real": 0, "YouTube-real": 0, "Celeb-synthesis": 1}
TEST_LIST = "List_of_testing_videos.txt"
TRAIN_VAL = (8.0, 1.0, 0.0)  # what is not official test is split train:val like 80:10


def list_celebdf(root: str | Path, seed: int = 0, dataset: str = "celebdf") -> list[DatasetItem]:
    """Real (label 0) and synthesised (label 1) videos; the test list sets the test split.

    Group = the identity whose footage the video is (`id3` for `id3_0001` and `id3_id7_0001`;
    `yt:00012` for YouTube-real). The rest is split train:val 8:1 by group.
    """
    base = require_dir(root)
    items = []
    for name, label in FOLDERS.items():
        for path in video_files(base / name) if (base / name).is_dir() else ():
            items.append(DatasetItem(str(path), label, _group(name, path), dataset=dataset))
    if not items:
        raise DatasetError(f"{root}: none of {', '.join(FOLDERS)} holds videos")
    test = _test_list(base)
    listed = {item.path for item in items}
    extra = [
        DatasetItem(str(base / rel), label, _group(rel.split("/")[0], base / rel), dataset=dataset)
        for rel, label in test.items()
        if str(base / rel) not in listed
    ]
    marked = []
    for item in items + extra:
        rel = Path(item.path).relative_to(base).as_posix()
        if rel in test:
            if test[rel] != item.label:
                raise DatasetError(f"{base / TEST_LIST}: {rel} is labelled against its folder")
            item = dataclasses.replace(item, split="test")
        marked.append(item)
    rest = [item for item in marked if item.split != "test"]
    assigned = {item.path: item for item in split_by_group(rest, TRAIN_VAL, seed)}
    return [assigned.get(item.path, item) for item in marked]


def _group(folder: str, path: Path) -> str:
    """The identity or source video a Celeb-DF file comes from."""
    if folder == "YouTube-real":
        return f"yt:{path.stem}"
    if folder not in FOLDERS:
        raise DatasetError(f"{path}: not in {', '.join(FOLDERS)}")
    return path.stem.split("_")[0]


def _test_list(base: Path) -> dict[str, int]:
    """Relative path -> our label (0 real, 1 fake) from the official list (1 = real there)."""
    path = base / TEST_LIST
    if not path.is_file():
        return {}
    test: dict[str, int] = {}
    for number, line in enumerate(path.read_text().splitlines(), start=1):
        if not line.strip():
            continue
        parts = line.split()
        if len(parts) != 2 or parts[0] not in ("0", "1"):
            raise DatasetError(
                f"{path}:{number}: expected `1 Celeb-real/id0_0000.mp4`, got {line!r}"
            )
        test[parts[1]] = 0 if parts[0] == "1" else 1
    return test
