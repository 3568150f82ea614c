"""Parquet shards: the versioned schema and the atomic, resumable store."""

from vidfake.shards.schema import FACE_SCHEMA, MANIFEST_SCHEMA, SCHEMA_VERSION
from vidfake.shards.store import ShardWriter, iter_face_batches, read_faces, read_manifest

__all__ = [
    "FACE_SCHEMA",
    "MANIFEST_SCHEMA",
    "SCHEMA_VERSION",
    "ShardWriter",
    "iter_face_batches",
    "read_faces",
    "read_manifest",
]
