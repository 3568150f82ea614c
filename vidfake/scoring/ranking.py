"""The ranked CSV: one row per input, its columns, the order, and resume from a partial log.

`result_row` turns a scanned video and its score into a row; `rank_rows` orders them (scores
highest first, then no-face, then errors); `write_csv` writes atomically; `read_previous`
reads an earlier run's rows back for resume; `refuse_other_input` keeps rows of another input
out of this one's CSV.
"""

from __future__ import annotations

import csv
import json
import math
import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from vidfake.scoring.scorer import Scorer, VideoScore
from vidfake.shards.schema import STATUS_ERROR, STATUS_NO_FACE, STATUS_OK

CSV_COLUMNS = (
    "rank",
    "path",
    "video_id",
    "score",
    "verdict",
    "tracks",
    "faces",
    "top_track",
    "frames_scored",
    "blink_rate",
    "status",
    "error",
    "seconds",
    "label",
)


def track_blink_rate(faces: pa.Table, track_id: int | None, sample_fps: float | None) -> float:
    """Blinks per minute of one track from the stored eye aspect ratios (NaN when unknown)."""
    if track_id is None or not sample_fps or "ear" not in faces.column_names or faces.num_rows == 0:
        return float("nan")
    from vidfake.cues.blink import sampled_track_stats

    mask = np.asarray(faces.column("track_id").to_numpy()) == track_id
    ts = np.asarray(faces.column("timestamp").to_numpy())[mask]
    clips = np.asarray(faces.column("clip_index").to_numpy())[mask]
    ear = np.asarray(faces.column("ear").to_numpy(zero_copy_only=False), dtype=np.float64)[mask]
    return float(sampled_track_stats(ts, clips, ear, sample_fps)["blinks_per_min"])


def result_row(
    scorer: Scorer, manifest: dict[str, Any], faces: pa.Table, vs: VideoScore | None
) -> dict[str, Any]:
    """One CSV row (without rank) for a scanned video and its score."""
    status = manifest["status"]
    row: dict[str, Any] = {
        "path": manifest["path"],
        "video_id": manifest["video_id"],
        "score": float("nan"),
        "verdict": "",
        "tracks": int(manifest.get("n_tracks") or 0),
        "faces": int(manifest.get("n_faces") or 0),
        "top_track": None,
        "frames_scored": 0,
        "blink_rate": float("nan"),
        "status": status,
        "error": manifest.get("error") or "",
        "seconds": float(manifest.get("seconds") or 0.0),
        "label": int(manifest.get("label", -1)),
    }
    if status == STATUS_OK and vs is not None and vs.top_track is not None:
        row.update(
            score=vs.score,
            verdict=scorer.verdict(vs.score),
            top_track=vs.top_track,
            frames_scored=vs.frames_scored,
            blink_rate=track_blink_rate(faces, vs.top_track, scorer.sample_fps),
        )
    elif status == STATUS_OK:
        row.update(status=STATUS_NO_FACE, error="faces were found but no track could be scored")
    elif status not in (STATUS_NO_FACE, STATUS_ERROR):
        row.update(status=STATUS_ERROR, error=f"unknown scan status {status!r}")
    return row


def rank_rows(rows: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    """Sort by score, highest first (unscored rows last, errors after no-face), and number them."""

    def key(r: dict[str, Any]) -> tuple[int, float, str]:
        s = r.get("score")
        scored = s is not None and np.isfinite(float(s))
        tier = 0 if scored else (1 if r.get("status") == STATUS_NO_FACE else 2)
        return (tier, -float(s) if scored else 0.0, str(r.get("path")))

    ranked = sorted(rows, key=key)
    for i, r in enumerate(ranked, 1):
        r["rank"] = i
    return ranked


def json_default(value: Any) -> Any:
    if hasattr(value, "item"):
        return value.item()
    raise TypeError(f"cannot write {type(value).__name__} to JSON")


def read_previous(out_csv: Path) -> list[dict[str, Any]]:
    """Rows of an earlier run: the finished CSV, then whatever its partial log holds."""
    rows: dict[str, dict[str, Any]] = {}
    if out_csv.is_file():
        with out_csv.open(newline="") as fh:
            for r in csv.DictReader(fh):
                rows[r["path"]] = _typed(r)
    partial = out_csv.with_name(out_csv.name + ".partial.jsonl")
    if partial.is_file():
        for line in partial.read_text().splitlines():
            try:
                r = json.loads(line)
            except json.JSONDecodeError:
                continue  # a line cut short by the interruption: that video is redone
            rows[r["path"]] = r
    return list(rows.values())


def _typed(r: dict[str, str]) -> dict[str, Any]:
    """A CSV row with its numbers parsed back."""
    out: dict[str, Any] = dict(r)
    for k in ("score", "blink_rate", "seconds"):
        out[k] = float(r[k]) if r.get(k) not in (None, "") else float("nan")
    for k in ("tracks", "faces", "frames_scored", "label"):
        out[k] = int(r[k]) if r.get(k) not in (None, "") else 0
    out["top_track"] = int(r["top_track"]) if r.get("top_track") not in (None, "") else None
    return out


def write_csv(rows: list[dict[str, Any]], out_csv: Path) -> None:
    """Write the ranking atomically (temporary file, then rename)."""
    tmp = out_csv.with_name(f".{out_csv.name}.tmp")
    with tmp.open("w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=CSV_COLUMNS, extrasaction="ignore")
        w.writeheader()
        for r in rows:
            w.writerow({k: _cell(r.get(k)) for k in CSV_COLUMNS})
    os.replace(tmp, out_csv)


def _cell(v: Any) -> Any:
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return ""
    if isinstance(v, float):
        return f"{v:.6f}"
    return v


def write_details(details: list[dict[str, Any]], path: Path) -> None:
    """Per-window scores as Parquet, merged with an earlier run's file when resuming."""
    table = pa.Table.from_pylist(
        details,
        schema=pa.schema(
            [
                ("path", pa.string()),
                ("video_id", pa.string()),
                ("track_id", pa.int32()),
                ("track_score", pa.float32()),
                ("window", pa.int32()),
                ("frames", pa.list_(pa.int32())),
                ("prob", pa.float32()),
            ]
        ),
    )
    if path.is_file():
        old = pq.read_table(path)
        keep = pc.invert(pc.is_in(old["path"], table["path"].unique()))
        table = pa.concat_tables([old.filter(keep).cast(table.schema), table])
    tmp = path.with_name(f".{path.name}.tmp")
    pq.write_table(table, tmp)
    os.replace(tmp, path)


def refuse_other_input(previous: list[dict[str, Any]], wanted: set[str], out: Path) -> None:
    """Resume only the same input: an output holding rows of other videos is refused.

    The CSV holds exactly the current input's rows; rows of another input would otherwise
    be ranked beside them.
    """
    other = sorted(r["path"] for r in previous if r["path"] not in wanted)
    if other:
        raise ValueError(
            f"{out} (or its partial log) holds {len(other)} rows of videos that are not in "
            f"this input (first: {other[0]}); it is the output of another run. Pass --force "
            "to replace it, or write to another -o"
        )
