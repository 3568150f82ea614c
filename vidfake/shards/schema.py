"""The Arrow schemas of vidfake's shards: face rows and the per-video manifest.

The schema is versioned: readers refuse shards whose major version they do not know, and
checkpoints record the version they were trained on. docs/shard-format.md describes every column.
"""

from __future__ import annotations

import pyarrow as pa

SCHEMA_VERSION = "1.1"

LABEL_REAL = 0
LABEL_FAKE = 1
LABEL_UNKNOWN = -1

STATUS_OK = "ok"
STATUS_NO_FACE = "no_face"
STATUS_ERROR = "error"
STATUSES = (STATUS_OK, STATUS_NO_FACE, STATUS_ERROR)

_META = {b"vidfake.schema_version": SCHEMA_VERSION.encode()}

FACE_SCHEMA = pa.schema(
    [
        pa.field("video_id", pa.string(), nullable=False),
        pa.field("track_id", pa.int32(), nullable=False),
        pa.field("frame_index", pa.int32(), nullable=False),
        pa.field("clip_index", pa.int16(), nullable=False),
        pa.field("timestamp", pa.float32(), nullable=False),
        pa.field("bbox", pa.list_(pa.float32(), 4), nullable=False),
        pa.field("landmarks", pa.list_(pa.float32(), 10), nullable=False),
        pa.field("landmarks68", pa.list_(pa.float32(), 136), nullable=True),
        pa.field("ear", pa.float32(), nullable=True),
        pa.field("det_score", pa.float32(), nullable=False),
        pa.field("blur", pa.float32(), nullable=False),
        pa.field("face_jpeg", pa.binary(), nullable=False),
        pa.field("left_eye_jpeg", pa.binary(), nullable=True),
        pa.field("right_eye_jpeg", pa.binary(), nullable=True),
        pa.field("label", pa.int8(), nullable=False),
        pa.field("dataset", pa.string(), nullable=False),
        pa.field("group", pa.string(), nullable=False),
        pa.field("split", pa.string(), nullable=False),
    ],
    metadata=_META,
)

MANIFEST_SCHEMA = pa.schema(
    [
        pa.field("video_id", pa.string(), nullable=False),
        pa.field("path", pa.string(), nullable=False),
        pa.field("status", pa.string(), nullable=False),
        pa.field("error", pa.string(), nullable=True),
        pa.field("frames", pa.int64(), nullable=True),
        pa.field("fps", pa.float32(), nullable=True),
        pa.field("width", pa.int32(), nullable=True),
        pa.field("height", pa.int32(), nullable=True),
        pa.field("duration", pa.float32(), nullable=True),
        pa.field("rotation", pa.int16(), nullable=True),
        pa.field("decoder", pa.string(), nullable=True),
        pa.field("codec", pa.string(), nullable=True),
        pa.field("frames_damaged", pa.int32(), nullable=True),
        pa.field("frames_sampled", pa.int32(), nullable=True),
        pa.field("n_faces", pa.int32(), nullable=False),
        pa.field("n_tracks", pa.int32(), nullable=False),
        pa.field("label", pa.int8(), nullable=False),
        pa.field("dataset", pa.string(), nullable=False),
        pa.field("group", pa.string(), nullable=False),
        pa.field("split", pa.string(), nullable=False),
        pa.field("settings_hash", pa.string(), nullable=False),
        pa.field("vidfake_version", pa.string(), nullable=False),
        pa.field("seconds", pa.float32(), nullable=False),
    ],
    metadata=_META,
)


def check_version(schema: pa.Schema) -> None:
    """Raise if `schema` was written by an incompatible (other major) shard version."""
    meta = schema.metadata or {}
    found = meta.get(b"vidfake.schema_version", b"").decode()
    if not found:
        raise ValueError("not a vidfake shard: no vidfake.schema_version in the Parquet metadata")
    if found.split(".")[0] != SCHEMA_VERSION.split(".")[0]:
        raise ValueError(f"shard schema version {found} is not compatible with {SCHEMA_VERSION}")
