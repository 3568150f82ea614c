"""A torch IterableDataset that streams face-track sequences out of Parquet shards.

Shards are read batch by batch with pyarrow (never a whole table in memory); rows are grouped
per video into track sequences (a video's rows are contiguous in a shard, as the scan writes
them), filtered by split (splits are assigned per group, so groups never cross), shuffled
within a buffer, optionally class-balanced by per-class oversampling, and sharded over
distributed ranks and DataLoader workers. Real sequences can be turned into self-blended
pseudo-fakes on the fly (`pseudo_fake`), before the shared augmentations (docs/synthetic.md).
"""

from __future__ import annotations

import zlib
from collections.abc import Iterator
from dataclasses import dataclass, fields
from pathlib import Path
from typing import TYPE_CHECKING, Any

import cv2
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import torch
import yaml
from torch.utils.data import IterableDataset, get_worker_info

from vidfake.sequences import (
    BLINK_COLUMNS,
    EYE_COLUMNS,
    SEQUENCE_COLUMNS,
    Sequence,
    SequenceTransform,
    decode_jpeg,
    table_sequences,
)
from vidfake.shards.schema import check_version
from vidfake.shards.store import committed_face_files
from vidfake.video import sampling_fps

if TYPE_CHECKING:
    from vidfake.synth.sbi import SelfBlend

BALANCE_MODES = ("none", "oversample")
GEOMETRY_COLUMNS = ["landmarks", "bbox"]
PSEUDO_SUFFIX = "#sbi"  # video_id suffix of a pseudo-fake, so video metrics count it apart


@dataclass
class GeoSequence(Sequence):
    """A Sequence with each frame's full-frame MTCNN landmarks (T, 5, 2) and box (T, 4)."""

    landmarks: np.ndarray | None = None
    bbox: np.ndarray | None = None


def scan_settings(shards_dir: str | Path) -> dict[str, Any] | None:
    """The ScanConfig the shards were built with (SHARDS/scan.yaml), when recorded."""
    path = Path(shards_dir) / "scan.yaml"
    return (yaml.safe_load(path.read_text()) or {}) if path.is_file() else None


def crop_settings(shards_dir: str | Path) -> dict[str, Any]:
    """The crop settings (margin, size, jpeg_quality) the shards were scanned with."""
    settings = scan_settings(shards_dir)
    if settings is None:
        raise FileNotFoundError(
            f"{Path(shards_dir) / 'scan.yaml'} is missing: pseudo-fakes need the scan's crop "
            "margin to place landmarks"
        )
    crop = settings.get("crop") or {}
    return {
        "margin": float(crop.get("margin", 1.3)),
        "size": int(crop.get("size", 224)),
        "jpeg_quality": int(crop.get("jpeg_quality", 95)),
    }


def blink_rate_of(shards_dir: str | Path) -> float | None:
    """The sampling rate blink features are measured at; an error when the shards hold no EAR."""
    settings = scan_settings(shards_dir) or {}
    if not settings.get("landmarks68"):
        raise ValueError(
            f"{shards_dir} was scanned without landmarks68, so it holds no eye aspect ratios; "
            "a model with blink features needs shards scanned with `--set landmarks68=true`"
        )
    return sampling_fps(str(settings.get("sampling", "")))


def model_inputs(batch: dict[str, Any], device: str) -> dict[str, torch.Tensor | None]:
    """The keyword inputs besides the faces (`eyes`, `blink`) of a batch, on `device`."""
    return {k: batch[k].to(device) if k in batch else None for k in ("eyes", "blink")}


def pseudo_fake_faces(
    seq: GeoSequence,
    crop: dict[str, Any],
    rng: np.random.Generator,
    flicker: bool = False,
    blender: SelfBlend | None = None,
) -> list[bytes]:
    """The sequence's crops self-blended with one parameter draw, re-encoded as the scan did.

    The fake is JPEG-encoded at the scan's quality, so real and fake crops reach the shared
    augmentations with the same compression history.
    """
    from vidfake.synth.sbi import landmarks_in_crop, pseudo_fake_sequence

    imgs = [decode_jpeg(b) for b in seq.faces]
    marks = [
        landmarks_in_crop(lm, bb, crop["margin"], img.shape[0])
        for lm, bb, img in zip(seq.landmarks, seq.bbox, imgs, strict=True)
    ]
    fakes = pseudo_fake_sequence(imgs, marks, rng, flicker=flicker, blender=blender)
    quality = [int(cv2.IMWRITE_JPEG_QUALITY), crop["jpeg_quality"]]
    out = []
    for img in fakes:
        ok, buf = cv2.imencode(".jpg", np.ascontiguousarray(img[..., ::-1]), quality)
        if not ok:
            raise ValueError(f"{seq.video_id}: could not re-encode a pseudo-fake crop")
        out.append(buf.tobytes())
    return out


def sequence_seed(seq: Sequence, seed: int) -> list[int]:
    """A seed that depends only on the sequence's identity (video, track, clip, first frame)."""
    key = f"{seq.video_id}/{seq.track_id}/{seq.clip_index}/{int(seq.frame_index[0])}"
    return [seed, zlib.crc32(key.encode())]


def _with_geometry(table: pa.Table, seqs: Iterator[Sequence]) -> Iterator[GeoSequence]:
    """Attach each frame's landmarks and box, looked up by (track, clip, frame), to `seqs`."""
    d = table.select(["track_id", "clip_index", "frame_index", *GEOMETRY_COLUMNS]).to_pydict()
    index = {
        (t, c, f): (lm, bb)
        for t, c, f, lm, bb in zip(
            d["track_id"], d["clip_index"], d["frame_index"], d["landmarks"], d["bbox"], strict=True
        )
    }
    for seq in seqs:
        geo = [index[(seq.track_id, seq.clip_index, int(f))] for f in seq.frame_index]
        yield GeoSequence(
            **{f.name: getattr(seq, f.name) for f in fields(Sequence)},
            landmarks=np.asarray([g[0] for g in geo], dtype=np.float32).reshape(-1, 5, 2),
            bbox=np.asarray([g[1] for g in geo], dtype=np.float32),
        )


def _table_sequences(
    table: pa.Table,
    T: int,
    stride: int,
    pad: bool,
    geometry: bool,
    blink: bool,
    blink_fps: float | None,
) -> Iterator[Sequence]:
    """Windows of one video's rows, with their geometry and blink vectors when asked."""
    seqs = table_sequences(table, T, stride, pad, blink=blink, fps=blink_fps)
    yield from (_with_geometry(table, seqs) if geometry else seqs)


def face_files(shards_dir: str | Path) -> list[Path]:
    """The committed face Parquet files of a shards folder; a clear error when there are none.

    Only files a manifest part commits (`committed_face_files`): rows of an interrupted scan
    never reach training, `eval` or a count.
    """
    root = Path(shards_dir)
    if not root.is_dir():
        raise FileNotFoundError(f"shards folder {root} does not exist")
    files = committed_face_files(root)
    if not files:
        raise FileNotFoundError(
            f"{root}: no committed face shards (expected {root}/faces/part-*.parquet named by a "
            f"{root}/manifest/ part; an interrupted scan commits nothing until it is resumed)"
        )
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
    geometry: bool = False,
    blink: bool = False,
    blink_fps: float | None = None,
) -> Iterator[Sequence]:
    """Sequences of every labelled track in `files`, holding at most one video's rows at once.

    With `geometry` they are `GeoSequence`s carrying each frame's landmarks and box; with
    `blink` they carry their track's blink vector (EAR sampled at `blink_fps`).
    """
    columns = SEQUENCE_COLUMNS + (EYE_COLUMNS if with_eyes else [])
    columns += GEOMETRY_COLUMNS if geometry else []
    columns += BLINK_COLUMNS if blink else []
    more = (geometry, blink, blink_fps)
    for f in files:
        pf = pq.ParquetFile(f)
        check_version(pf.schema_arrow)
        pending: dict[str, list[pa.RecordBatch]] = {}
        for batch in pf.iter_batches(batch_size=batch_rows, columns=columns):
            batch = batch.filter(_split_mask(batch, splits))
            present = set(batch["video_id"].to_pylist())
            for vid in [v for v in pending if v not in present]:
                table = pa.Table.from_batches(pending.pop(vid))
                yield from _table_sequences(table, T, stride, pad, *more)
            for vid in sorted(present):
                pending.setdefault(vid, []).append(batch.filter(pc.equal(batch["video_id"], vid)))
        for parts in pending.values():
            yield from _table_sequences(pa.Table.from_batches(parts), T, stride, pad, *more)


def _shard_of(video_id: str, n: int) -> int:
    """A stable shard number for a video (the same on every process)."""
    return zlib.crc32(video_id.encode()) % n


class ShardSequenceDataset(IterableDataset):
    """Streams `{"x", "label", "video_id", "track_id"[, "eyes"][, "blink"]}` items from shards.

    `pseudo_fake` p: each real sequence becomes a self-blended fake (label 1, video_id +
    `#sbi`) with probability p, one parameter draw per sequence. `pseudo_twins` (validation,
    test): every real sequence is yielded AND followed by its fake twin, drawn from a seed of
    the sequence's identity, so the figures do not move between runs. `pseudo_pairs`
    (training): every real sequence is followed by a fake of it with a fresh blend draw and the
    same augmentation draw, so the pair differs by the blend alone. `pseudo_aligned`: the share
    of the fakes (twins included) whose source is not moved (`SelfBlend.p_aligned`);
    `pseudo_sharpen` the share whose source is sharpened rather than blurred.
    """

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
        pseudo_fake: float = 0.0,
        pseudo_twins: bool = False,
        pseudo_flicker: bool = False,
        with_blink: bool = False,
        pseudo_pairs: bool = False,
        pseudo_aligned: float = 0.0,
        pseudo_sharpen: float = 0.5,
    ) -> None:
        if balance not in BALANCE_MODES:
            raise ValueError(f"balance must be one of {BALANCE_MODES}, got {balance!r}")
        if not 0.0 <= pseudo_fake <= 1.0:
            raise ValueError(f"pseudo_fake is a probability in [0, 1], got {pseudo_fake}")
        if (pseudo_fake > 0 or pseudo_twins) and with_eyes:
            raise ValueError("pseudo-fakes do not re-cut eye patches; use a model without eyes")
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
        self.pseudo_fake = float(pseudo_fake)
        self.pseudo_twins = pseudo_twins
        self.pseudo_flicker = pseudo_flicker
        self.pseudo_pairs = pseudo_pairs and self.pseudo_fake > 0
        self.geometry = self.pseudo_fake > 0 or pseudo_twins
        self.blender: SelfBlend | None = None
        if self.geometry:  # the synth package loads its video tools: only when blending
            from vidfake.synth.sbi import SelfBlend

            self.blender = SelfBlend(p_aligned=pseudo_aligned, p_sharpen=pseudo_sharpen)
        self.crop = crop_settings(shards_dir) if self.geometry else {}
        self.with_blink = with_blink
        self.blink_fps = blink_rate_of(shards_dir) if with_blink else None

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
        geo = {"geometry": self.geometry, "blink": self.with_blink, "blink_fps": self.blink_fps}
        if len(self.files) >= n:
            files = self.files[slot::n]
            yield from stream_sequences(
                files, self.T, self.stride, self.splits, self.with_eyes, self.pad, **geo
            )
            return
        for seq in stream_sequences(
            self.files, self.T, self.stride, self.splits, self.with_eyes, self.pad, **geo
        ):
            if _shard_of(seq.video_id, n) == slot:
                yield seq

    def _item(
        self, seq: Sequence, rng: np.random.Generator, fake_rng: np.random.Generator | None = None
    ) -> dict[str, Any]:
        """Decode and transform one sequence (self-blended first when `fake_rng` is given)."""
        faces, label, video_id = seq.faces, seq.label, seq.video_id
        if fake_rng is not None:
            faces = pseudo_fake_faces(seq, self.crop, fake_rng, self.pseudo_flicker, self.blender)
            label, video_id = 1, seq.video_id + PSEUDO_SUFFIX
        x, eyes = self.transform.prepare(
            faces, seq.eyes if self.with_eyes else None, rng if self.augment else None
        )
        item: dict[str, Any] = {
            "x": x,
            "label": torch.tensor(float(label)),
            "video_id": video_id,
            "track_id": seq.track_id,
        }
        if self.with_eyes:
            item["eyes"] = eyes
        if self.with_blink:
            item["blink"] = torch.from_numpy(seq.blink)
        return item

    def _items(self, seq: Sequence, rng: np.random.Generator) -> Iterator[dict[str, Any]]:
        """The item(s) one drawn sequence gives: itself, its pseudo-fake, or both (twins)."""
        if seq.label != 0 or not self.geometry:
            yield self._item(seq, rng)
        elif self.pseudo_twins:
            yield self._item(seq, rng)
            yield self._item(seq, rng, np.random.default_rng(sequence_seed(seq, self.seed)))
        elif self.pseudo_pairs:
            # One augmentation draw for both, so only the blend differs.
            shared = int(rng.integers(2**63))
            yield self._item(seq, np.random.default_rng(shared))
            yield self._item(seq, np.random.default_rng(shared), rng)
        elif rng.random() < self.pseudo_fake:
            yield self._item(seq, rng, rng)
        else:
            yield self._item(seq, rng)

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
                    yield from self._items(seq, rng)
                    continue
                buffer.append(seq)
                if len(buffer) >= self.shuffle_buffer:
                    pick = int(rng.integers(len(buffer)))
                    buffer[pick], buffer[-1] = buffer[-1], buffer[pick]
                    yield from self._items(buffer.pop(), rng)
        rng.shuffle(buffer)
        for seq in buffer:
            yield from self._items(seq, rng)


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
