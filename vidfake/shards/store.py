"""Atomic, resumable Parquet shards: face rows and a per-video manifest.

Layout: `SHARDS/faces/part-<id>-<n>.parquet`, `SHARDS/manifest/part-<id>.parquet` and
`SHARDS/scan.yaml`. Files are written under a hidden temporary name and renamed; a manifest
part is the commit marker of the faces files that share its `<id>`. Faces files without one
are leftovers of an interrupted run: readers ignore them and `ShardWriter` deletes them.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.dataset as pads
import pyarrow.parquet as pq

from vidfake.shards.schema import FACE_SCHEMA, MANIFEST_SCHEMA, check_version

FACES_DIR = "faces"
MANIFEST_DIR = "manifest"
SCAN_CONFIG = "scan.yaml"


def _part_id(name: str) -> str:
    """The commit id of a part file: `part-<id>[-<n>].parquet` -> `<id>`."""
    return name.removeprefix("part-").removesuffix(".parquet").split("-")[0]


def _committed(shards_dir: Path) -> set[str]:
    """Ids of the manifest parts present, i.e. the commits that finished."""
    mdir = shards_dir / MANIFEST_DIR
    return {_part_id(p.name) for p in mdir.glob("part-*.parquet")} if mdir.is_dir() else set()


def committed_face_files(shards_dir: str | Path) -> list[Path]:
    """The faces files a finished commit made visible, in name order.

    The one reader of which shard files hold data: files of an interrupted scan (no manifest
    part names them) are never read, by the store, training, `eval` or the Ray Data path.
    """
    shards_dir = Path(shards_dir)
    done = _committed(shards_dir)
    fdir = shards_dir / FACES_DIR
    return sorted(p for p in fdir.glob("part-*.parquet") if _part_id(p.name) in done)


def _require(shards_dir: str | Path) -> Path:
    """The shards folder, or FileNotFoundError saying it holds no manifest."""
    path = Path(shards_dir)
    if not (path / MANIFEST_DIR).is_dir():
        raise FileNotFoundError(f"{path} holds no vidfake shards (no {MANIFEST_DIR}/ folder)")
    return path


def read_manifest(shards_dir: str | Path) -> pa.Table:
    """Every manifest row (one per video) of a shards folder."""
    path = _require(shards_dir)
    files = sorted((path / MANIFEST_DIR).glob("part-*.parquet"))
    if not files:
        return MANIFEST_SCHEMA.empty_table()
    check_version(pq.read_schema(files[0]))
    return pads.dataset(files, schema=MANIFEST_SCHEMA, format="parquet").to_table()


def _faces_dataset(shards_dir: str | Path) -> pads.Dataset:
    """A pyarrow dataset over the committed faces files."""
    files = committed_face_files(_require(shards_dir))
    if files:
        check_version(pq.read_schema(files[0]))
    return pads.dataset([str(f) for f in files], schema=FACE_SCHEMA, format="parquet")


def read_faces(
    shards_dir: str | Path, columns: list[str] | None = None, filter: pads.Expression | None = None
) -> pa.Table:
    """Face rows (optionally some columns, filtered with a pyarrow expression) in one table."""
    return _faces_dataset(shards_dir).to_table(columns=columns, filter=filter)


def iter_face_batches(
    shards_dir: str | Path,
    columns: list[str] | None = None,
    batch_size: int = 256,
    filter: pads.Expression | None = None,
) -> Iterator[pa.RecordBatch]:
    """Stream face rows batch by batch; memory follows `batch_size`, not the shards' size."""
    yield from _faces_dataset(shards_dir).to_batches(
        columns=columns, filter=filter, batch_size=batch_size
    )


def _write_atomic(table: pa.Table, dst: Path, row_group_rows: int) -> None:
    """Write `table` to a hidden temporary file beside `dst`, then rename it into place."""
    tmp = dst.with_name(f".{dst.name}.tmp")
    pq.write_table(table, tmp, row_group_size=row_group_rows, compression="zstd")
    os.replace(tmp, dst)


class ShardWriter:
    """Buffers scan results into bounded Parquet files and commits them with a manifest part.

    Faces files roll over at `max_file_bytes`; a commit happens every `commit_videos` videos
    (and on `close`), so an interrupted run loses at most that many videos' work, never rows.
    """

    def __init__(
        self,
        out_dir: str | Path,
        max_file_bytes: int = 64 << 20,
        row_group_rows: int = 256,
        commit_videos: int = 16,
    ) -> None:
        self.out_dir = Path(out_dir)
        self.max_file_bytes = max_file_bytes
        self.row_group_rows = row_group_rows
        self.commit_videos = commit_videos
        (self.out_dir / FACES_DIR).mkdir(parents=True, exist_ok=True)
        (self.out_dir / MANIFEST_DIR).mkdir(parents=True, exist_ok=True)
        self.clean_orphans()
        self._manifest: list[dict[str, Any]] = []
        self._faces: list[pa.Table] = []
        self._faces_bytes = 0
        self._part = uuid.uuid4().hex[:12]
        self._file_no = 0

    def clean_orphans(self) -> list[Path]:
        """Delete temporary files and faces files no manifest part commits; return them."""
        done = _committed(self.out_dir)
        gone = []
        for sub in (FACES_DIR, MANIFEST_DIR):
            for p in (self.out_dir / sub).iterdir():
                tmp = p.name.startswith(".") and p.name.endswith(".tmp")
                if tmp or (sub == FACES_DIR and _part_id(p.name) not in done):
                    p.unlink()
                    gone.append(p)
        return gone

    def add(self, manifest_row: dict[str, Any], faces: pa.Table) -> None:
        """Queue one video's manifest row and face rows; commits when enough are queued."""
        self._manifest.append(manifest_row)
        if faces.num_rows:
            self._faces.append(faces.cast(FACE_SCHEMA))
            self._faces_bytes += faces.nbytes
            if self._faces_bytes >= self.max_file_bytes:
                self._flush_faces()
        if len(self._manifest) >= self.commit_videos:
            self.commit()

    def _flush_faces(self) -> None:
        """Write the queued face rows as the next faces file of the current part."""
        if not self._faces:
            return
        name = f"part-{self._part}-{self._file_no:04d}.parquet"
        _write_atomic(
            pa.concat_tables(self._faces), self.out_dir / FACES_DIR / name, self.row_group_rows
        )
        self._faces, self._faces_bytes = [], 0
        self._file_no += 1

    def commit(self) -> None:
        """Write the queued faces, then the manifest part that makes them visible."""
        if not self._manifest:
            return
        self._flush_faces()
        table = pa.Table.from_pylist(self._manifest, schema=MANIFEST_SCHEMA)
        _write_atomic(table, self.out_dir / MANIFEST_DIR / f"part-{self._part}.parquet", 1024)
        self._manifest = []
        self._part, self._file_no = uuid.uuid4().hex[:12], 0

    def close(self) -> None:
        """Commit whatever is queued."""
        self.commit()

    def __enter__(self) -> ShardWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
