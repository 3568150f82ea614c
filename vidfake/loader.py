"""A torch IterableDataset that streams face-track sequences out of Parquet shards.

Shards are read batch by batch with pyarrow (never a whole table in memory); rows are grouped
per video into track sequences (a video's rows are contiguous in a shard, as the scan writes
them), filtered by split (splits are assigned per group, so groups never cross), shuffled
within a buffer, optionally class-balanced by per-class oversampling, and sharded over
distributed ranks and DataLoader workers.
"""

from __future__ import annotations

import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import torch
from torch.utils.data import IterableDataset, get_worker_info

from vidfake.sequences import (
    EYE_COLUMNS,
    SEQUENCE_COLUMNS,
    Sequence,
    SequenceTransform,
    table_sequences,
)
from vidfake.shards.schema import check_version

BALANCE_MODES = ("none", "oversample")


def face_files(shards_dir: str | Path) -> list[Path]:
    """The face Parquet files of a shards folder, sorted; a clear error when there are none."""
    root = Path(shards_dir)
    if not root.is_dir():
        raise FileNotFoundError(f"shards folder {root} does not exist")
    files = sorted((root / "faces").glob("*.parquet"))
    if not files:
        raise FileNotFoundError(f"{root}: no face shards (expected {root}/faces/*.parquet)")
    return files


def _split_mask(batch: pa.RecordBatch, splits: tuple[str, ...] | None) -> pa.Array:
    """Rows of the wanted splits that carry a real/fake label."""
    mask = pc.greater_equal(batch["label"], 0)
    if splits:
        mask = pc.and_(mask, pc.is_in(batch["split"], value_set=pa.array(list(splits))))
    return mask


def class_counts(shards_dir: str | Path, splits: tuple[str, ...] | None) -> dict[int, int]:
    """Face rows per label (0 real, 1 fake) in the given splits, reading two columns only."""
    counts = {0: 0, 1: 0}
    for f in face_files(shards_dir):
        for batch in pq.ParquetFile(f).iter_batches(columns=["label", "split"]):
            labels = batch.filter(_split_mask(batch, splits))["label"].to_numpy()
            for value in (0, 1):
                counts[value] += int((labels == value).sum())
    return counts


def stream_sequences(
    files: list[Path],
    T: int,
    stride: int,
    splits: tuple[str, ...] | None = None,
    with_eyes: bool = False,
    pad: bool = False,
    batch_rows: int = 512,
) -> Iterator[Sequence]:
    """Sequences of every labelled track in `files`, holding at most one video's rows at once."""
    columns = SEQUENCE_COLUMNS + (EYE_COLUMNS if with_eyes else [])
    for f in files:
        pf = pq.ParquetFile(f)
        check_version(pf.schema_arrow)
        pending: dict[str, list[pa.RecordBatch]] = {}
        for batch in pf.iter_batches(batch_size=batch_rows, columns=columns):
            batch = batch.filter(_split_mask(batch, splits))
            present = set(batch["video_id"].to_pylist())
            for vid in [v for v in pending if v not in present]:
                yield from table_sequences(pa.Table.from_batches(pending.pop(vid)), T, stride, pad)
            for vid in sorted(present):
                pending.setdefault(vid, []).append(batch.filter(pc.equal(batch["video_id"], vid)))
        for parts in pending.values():
            yield from table_sequences(pa.Table.from_batches(parts), T, stride, pad)


def _shard_of(video_id: str, n: int) -> int:
    """A stable shard number for a video (the same on every process)."""
    return zlib.crc32(video_id.encode()) % n


class ShardSequenceDataset(IterableDataset):
    """Streams `{"x", "label", "video_id", "track_id"[, "eyes"]}` items from a shards folder."""

    def __init__(
        self,
        shards_dir: str | Path,
        transform: SequenceTransform,
        splits: tuple[str, ...] | None = ("train",),
        stride: int | None = None,
        shuffle_buffer: int = 0,
        seed: int = 0,
        balance: str = "none",
        with_eyes: bool = False,
        pad: bool = False,
        augment: bool = False,
        rank: int = 0,
        world_size: int = 1,
    ) -> None:
        if balance not in BALANCE_MODES:
            raise ValueError(f"balance must be one of {BALANCE_MODES}, got {balance!r}")
        self.files = face_files(shards_dir)
        self.shards_dir = Path(shards_dir)
        self.transform = transform
        self.splits = tuple(splits) if splits else None
        self.T = transform.frames
        self.stride = stride or self.T
        self.shuffle_buffer = shuffle_buffer
        self.seed = seed
        self.balance = balance
        self.with_eyes = with_eyes
        self.pad = pad
        self.augment = augment
        self.rank = rank
        self.world_size = world_size
        self.epoch = 0
        self._repeat: dict[int, float] | None = None

    def set_epoch(self, epoch: int) -> None:
        """Reseed shuffling and augmentation for a new epoch."""
        self.epoch = epoch

    def repeat_factors(self) -> dict[int, float]:
        """How many times each class is drawn so both classes weigh the same (1.0 when off)."""
        if self._repeat is None:
            self._repeat = {0: 1.0, 1: 1.0}
            if self.balance == "oversample":
                counts = class_counts(self.shards_dir, self.splits)
                top = max(counts.values())
                self._repeat = {k: (top / v if v else 0.0) for k, v in counts.items()}
        return self._repeat

    def _slot(self) -> tuple[int, int]:
        """This reader's index among all ranks x DataLoader workers, and their number."""
        info = get_worker_info()
        workers, wid = (info.num_workers, info.id) if info else (1, 0)
        return self.rank * workers + wid, self.world_size * workers

    def _my_sequences(self, slot: int, n: int) -> Iterator[Sequence]:
        """This reader's share: whole files when there are enough, else videos by hash."""
        if len(self.files) >= n:
            files = self.files[slot::n]
            yield from stream_sequences(
                files, self.T, self.stride, self.splits, self.with_eyes, self.pad
            )
            return
        for seq in stream_sequences(
            self.files, self.T, self.stride, self.splits, self.with_eyes, self.pad
        ):
            if _shard_of(seq.video_id, n) == slot:
                yield seq

    def _item(self, seq: Sequence, rng: np.random.Generator) -> dict[str, Any]:
        """Decode and transform one sequence into a training item."""
        x, eyes = self.transform.prepare(
            seq.faces, seq.eyes if self.with_eyes else None, rng if self.augment else None
        )
        item: dict[str, Any] = {
            "x": x,
            "label": torch.tensor(float(seq.label)),
            "video_id": seq.video_id,
            "track_id": seq.track_id,
        }
        if self.with_eyes:
            item["eyes"] = eyes
        return item

    def __iter__(self) -> Iterator[dict[str, Any]]:
        slot, n = self._slot()
        rng = np.random.default_rng([self.seed, self.epoch, slot])
        repeat = self.repeat_factors()
        buffer: list[Sequence] = []
        for seq in self._my_sequences(slot, n):
            r = repeat.get(seq.label, 1.0)
            copies = int(r) + int(rng.random() < r - int(r))
            for _ in range(copies):
                if self.shuffle_buffer <= 1:
                    yield self._item(seq, rng)
                    continue
                buffer.append(seq)
                if len(buffer) >= self.shuffle_buffer:
                    pick = int(rng.integers(len(buffer)))
                    buffer[pick], buffer[-1] = buffer[-1], buffer[pick]
                    yield self._item(buffer.pop(), rng)
        rng.shuffle(buffer)
        for seq in buffer:
            yield self._item(seq, rng)


def count_sequences(
    shards_dir: str | Path, T: int, stride: int, splits: tuple[str, ...] | None
) -> dict[int, int]:
    """Sequences per label in the given splits, from the small index columns only."""
    from vidfake.sequences import track_windows

    counts = {0: 0, 1: 0}
    cols = ["video_id", "track_id", "clip_index", "label", "split"]
    for f in face_files(shards_dir):
        table = pq.read_table(f, columns=cols)
        table = table.filter(_split_mask(table, splits)).drop_columns(["split"])
        if table.num_rows == 0:
            continue
        sizes = table.group_by(["video_id", "track_id", "clip_index", "label"]).aggregate(
            [([], "count_all")]
        )
        for n, label in zip(
            sizes["count_all"].to_pylist(), sizes["label"].to_pylist(), strict=True
        ):
            counts[label] += len(track_windows(n, T, stride))
    return counts
