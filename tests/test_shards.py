"""Shards: atomic commits, orphan cleanup, bounded files, and readers that are not vidfake."""

from __future__ import annotations

import duckdb
import pandas as pd
import pyarrow as pa
import pyarrow.dataset as pads
import pyarrow.parquet as pq
import pytest

from vidfake.config import ScanConfig, TrackConfig
from vidfake.datasets import DatasetItem
from vidfake.faces.crop import decode_jpeg
from vidfake.scanning import scan_video
from vidfake.shards import (
    FACE_SCHEMA,
    ShardWriter,
    iter_face_batches,
    read_faces,
    read_manifest,
)


@pytest.fixture(scope="module")
def scanned(sample_dir, one_torch_thread):
    """Two real clips scanned once (6 frames each) for the writer tests."""
    cfg = ScanConfig(sampling="uniform:6", track=TrackConfig(min_length=2))
    out = []
    for name in ("cosanlab__single_face.mp4", "liveportrait_d18.mp4"):
        item = DatasetItem(str(sample_dir / "clips" / name), 0, name, "train", "samples")
        out.append(scan_video(item, cfg))
    assert all(r.faces.num_rows == 6 for r in out)
    return out


def _write(out_dir, results, **kw):
    with ShardWriter(out_dir, **kw) as writer:
        for r in results:
            writer.add(r.manifest, r.faces)


def test_roundtrip(tmp_path, scanned):
    _write(tmp_path, scanned)
    manifest = read_manifest(tmp_path)
    assert manifest.num_rows == 2 and set(manifest.column("status").to_pylist()) == {"ok"}
    faces = read_faces(tmp_path)
    assert faces.schema.equals(FACE_SCHEMA) and faces.num_rows == 12
    assert decode_jpeg(faces.column("face_jpeg")[0].as_py()).shape == (224, 224, 3)
    vid = scanned[0].manifest["video_id"]
    one = read_faces(tmp_path, columns=["frame_index"], filter=pads.field("video_id") == vid)
    assert one.num_rows == 6 and one.column_names == ["frame_index"]
    batches = list(iter_face_batches(tmp_path, columns=["video_id", "blur"], batch_size=4))
    assert max(b.num_rows for b in batches) <= 4 and sum(b.num_rows for b in batches) == 12


def test_orphans_are_invisible_then_deleted(tmp_path, scanned):
    _write(tmp_path, scanned[:1])
    # what a run killed between its faces file and its manifest part leaves behind
    orphan = tmp_path / "faces" / "part-deadbeef0000-0000.parquet"
    pq.write_table(scanned[1].faces, orphan)
    (tmp_path / "manifest" / ".part-deadbeef0000.parquet.tmp").write_bytes(b"half")
    assert read_faces(tmp_path).num_rows == 6
    assert read_manifest(tmp_path).num_rows == 1
    ShardWriter(tmp_path).close()
    assert not orphan.exists()
    assert not list((tmp_path / "manifest").glob(".*"))
    assert read_faces(tmp_path).num_rows == 6


def test_files_roll_over_at_the_size_bound(tmp_path, scanned):
    _write(tmp_path, scanned * 3, max_file_bytes=150_000, row_group_rows=4)
    files = sorted((tmp_path / "faces").glob("*.parquet"))
    assert len(files) >= 3
    for f in files:
        meta = pq.ParquetFile(f).metadata
        assert all(meta.row_group(i).num_rows <= 4 for i in range(meta.num_row_groups))
    assert read_faces(tmp_path).num_rows == 36


def test_commit_every_n_videos(tmp_path, scanned):
    writer = ShardWriter(tmp_path, commit_videos=2)
    writer.add(scanned[0].manifest, scanned[0].faces)
    assert read_manifest(tmp_path).num_rows == 0  # not committed yet: invisible
    writer.add(scanned[1].manifest, scanned[1].faces)
    assert read_manifest(tmp_path).num_rows == 2
    writer.close()


def test_not_shards(tmp_path):
    with pytest.raises(FileNotFoundError, match="no vidfake shards"):
        read_manifest(tmp_path)


def test_readable_without_vidfake(tmp_path, scanned, ray_cluster):
    _write(tmp_path, scanned)
    faces_glob = str(tmp_path / "faces" / "*.parquet")
    df = pd.read_parquet(tmp_path / "faces")
    assert len(df) == 12 and isinstance(df["face_jpeg"].iloc[0], bytes)
    counts = duckdb.sql(
        f"SELECT m.path, count(*) AS n FROM '{faces_glob}' f "
        f"JOIN '{tmp_path / 'manifest' / '*.parquet'}' m USING (video_id) GROUP BY m.path"
    ).fetchall()
    assert sorted(n for _, n in counts) == [6, 6]
    ds = ray_cluster.data.read_parquet(str(tmp_path / "faces"))
    assert ds.count() == 12
    assert set(ds.schema().names) == set(FACE_SCHEMA.names)
    assert pa.types.is_binary(
        pq.read_schema(sorted((tmp_path / "faces").glob("*"))[0]).field("face_jpeg").type
    )
