"""`list_items`: pick a layout (or detect it) and list a dataset root as DatasetItems."""

from __future__ import annotations

import inspect
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from vidfake.datasets.celebdf import FOLDERS as CELEBDF_FOLDERS
from vidfake.datasets.celebdf import TEST_LIST, list_celebdf
from vidfake.datasets.csv import list_csv
from vidfake.datasets.dfdc import PART_GLOB, list_dfdc
from vidfake.datasets.ffpp import list_ffpp
from vidfake.datasets.files import list_files
from vidfake.datasets.folder import class_dirs, list_folder
from vidfake.datasets.item import DatasetError, DatasetItem, video_files
from vidfake.datasets.split import RATIOS, balance, split_by_group

ADAPTERS: dict[str, Callable[..., list[DatasetItem]]] = {
    "folder": list_folder,
    "csv": list_csv,
    "ffpp": list_ffpp,
    "celebdf": list_celebdf,
    "dfdc": list_dfdc,
    "files": list_files,
}
LAYOUTS = tuple(ADAPTERS)


def detect_layout(root: str | Path) -> str:
    """The layout a root looks like, checked from the most to the least specific."""
    path = Path(root).expanduser()
    if path.is_file():
        if path.suffix.lower() == ".csv":
            return "csv"
        raise DatasetError(f"{root}: a file, and not a .csv; give a folder or a CSV listing")
    if not path.is_dir():
        raise DatasetError(f"{root}: no such file or folder")
    if (path / "original_sequences").is_dir() or (path / "manipulated_sequences").is_dir():
        return "ffpp"
    if (path / TEST_LIST).is_file() or any((path / name).is_dir() for name in CELEBDF_FOLDERS):
        return "celebdf"
    if (path / "metadata.json").is_file() or any(path.glob(PART_GLOB)):
        return "dfdc"
    if class_dirs(path):
        return "folder"
    if next(video_files(path), None) is not None:
        return "files"
    raise DatasetError(
        f"{root}: cannot tell the layout (no videos found); pass one of {', '.join(LAYOUTS)}"
    )


def list_items(
    root: str | Path,
    layout: str = "auto",
    *,
    ratios: Sequence[float] = RATIOS,
    seed: int = 0,
    balanced: bool = False,
    balance_seed: int = 2,
    **opts: Any,
) -> list[DatasetItem]:
    """List a dataset root; labelled items without an official split get one by group.

    `opts` go to the layout's adapter (e.g. `group_regex` for folder, `compression` for ffpp);
    `balanced=True` downsamples fakes to the number of reals in each split.
    """
    if layout == "auto":
        layout = detect_layout(root)
    if layout not in ADAPTERS:
        raise DatasetError(f"unknown layout {layout!r}; choose auto or one of {', '.join(LAYOUTS)}")
    adapter = ADAPTERS[layout]
    try:
        inspect.signature(adapter).bind(root, **opts)
    except TypeError as err:
        raise DatasetError(f"layout {layout!r}: bad option ({err})") from err
    items = adapter(root, **opts)
    items = split_by_group(items, ratios, seed)
    return balance(items, balance_seed) if balanced else items
