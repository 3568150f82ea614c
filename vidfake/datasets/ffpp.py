"""FaceForensics++: originals and manipulations, groups that tie a fake to both identities."""

from __future__ import annotations

import json
from pathlib import Path

from vidfake.datasets.item import DatasetError, DatasetItem, require_dir, video_files
from vidfake.datasets.split import link_groups

COMPRESSIONS = ("raw", "c23", "c40")
SPLIT_FILES = {"train": "train.json", "val": "val.json", "test": "test.json"}
ACTOR_SETS = ("actors", "DeepFakeDetection")  # Google's actor clips: ids like `01__scene`


def list_ffpp(
    root: str | Path, compression: str | None = None, dataset: str = "ffpp"
) -> list[DatasetItem]:
    """Videos under `original_sequences/<source>/<compression>/videos` (label 0) and
    `manipulated_sequences/<method>/<compression>/videos` (label 1, named `target_source`).

    Group = connected set of identities (a fake links its target and source); the split comes
    from `splits/{train,val,test}.json` (lists of [a, b] id pairs) when present.
    """
    base = require_dir(root)
    if compression is not None and compression not in COMPRESSIONS:
        raise DatasetError(f"compression must be one of {COMPRESSIONS}, not {compression!r}")
    found: list[tuple[Path, int, tuple[str, ...]]] = []
    for kind, label in (("original_sequences", 0), ("manipulated_sequences", 1)):
        for videos in sorted((base / kind).glob("*/*/videos")):
            if videos.parent.name not in COMPRESSIONS or (
                compression and videos.parent.name != compression
            ):
                continue
            actor = videos.parent.parent.name in ACTOR_SETS
            for path in video_files(videos):
                found.append((path, label, _identities(path, label, actor)))
    if not found:
        raise DatasetError(
            f"{root}: no videos under original_sequences/*/<raw|c23|c40>/videos "
            "or manipulated_sequences/*/<raw|c23|c40>/videos"
        )
    groups = link_groups(ids for _, _, ids in found)
    official = _official_splits(base)
    return [
        DatasetItem(str(path), label, groups[ids[0]], _split(ids, official, path), dataset)
        for path, label, ids in found
    ]


def _identities(path: Path, label: int, actor: bool) -> tuple[str, ...]:
    """The identity ids in a file name: `000` for an original, (`000`, `003`) for a fake."""
    stem = path.stem
    if actor:
        head = stem.split("__")[0]
        ids = head.split("_") if label == 1 else [head]
        return tuple(f"actor:{i}" for i in ids)
    ids = stem.split("_")
    expected = 2 if label == 1 else 1
    if len(ids) != expected or not all(i.isdigit() for i in ids):
        shape = "TTT_SSS" if label == 1 else "NNN"
        raise DatasetError(f"{path}: FaceForensics++ names here look like {shape}.mp4")
    return tuple(ids)


def _official_splits(base: Path) -> dict[str, str]:
    """Identity id -> split from the official JSON files, or {} when they are absent."""
    folder = base / "splits"
    official: dict[str, str] = {}
    for split, name in SPLIT_FILES.items():
        path = folder / name
        if not path.is_file():
            continue
        try:
            pairs = json.loads(path.read_text())
            official.update((str(i), split) for pair in pairs for i in pair)
        except (ValueError, TypeError) as err:
            raise DatasetError(f"{path}: not a JSON list of [a, b] id pairs ({err})") from err
    return official


def _split(ids: tuple[str, ...], official: dict[str, str], path: Path) -> str:
    """The official split of a video's identities, `unassigned` when the files do not say."""
    splits = {official[i] for i in ids if i in official}
    if len(splits) > 1:
        raise DatasetError(f"{path}: the official splits put its identities in {sorted(splits)}")
    return splits.pop() if splits else "unassigned"
