"""Score a whole collection into a ranked CSV, with resume: in this process, or on Ray.

Input is a folder (any dataset layout), a CSV or text file listing videos, one video, or an
existing shards folder. Every input gets exactly one CSV row, whatever happened to it. Rows are
appended to `<out>.partial.jsonl` as they finish, so an interrupted run resumes where it
stopped; the final CSV is written atomically, sorted by score.
"""

from __future__ import annotations

import json
import logging
import os
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pyarrow as pa

from vidfake.config import ScanConfig, load_config, to_dict
from vidfake.datasets import DatasetItem, list_items
from vidfake.datasets.item import VIDEO_SUFFIXES, printable
from vidfake.scanning import is_bug, strict
from vidfake.scoring.ranking import (
    CSV_COLUMNS,
    json_default,
    rank_rows,
    read_previous,
    refuse_other_input,
    result_row,
    write_csv,
    write_details,
)
from vidfake.scoring.ray_pool import scan_and_score, score_on_ray
from vidfake.scoring.scorer import Scorer, VideoScore
from vidfake.shards.store import MANIFEST_DIR, SCAN_CONFIG, iter_face_batches, read_manifest

log = logging.getLogger(__name__)


@dataclass
class ScoreSummary:
    """What a scoring run did and where it wrote."""

    out_csv: str
    total: int = 0
    skipped: int = 0  # already in the output from an earlier run
    scored: int = 0
    no_face: int = 0
    error: int = 0
    bugs: int = 0  # of the errors, vidfake bugs rather than bad media (vidfake.scanning.is_bug)
    seconds: float = 0.0
    details: str | None = None
    rows: list[dict[str, Any]] = field(default_factory=list)  # the final ranking

    def to_pandas(self) -> Any:
        """The ranking as a pandas DataFrame, one row per input, in CSV column order."""
        import pandas as pd

        return pd.DataFrame(self.rows, columns=list(CSV_COLUMNS))

    @property
    def videos_per_minute(self) -> float:
        """Videos processed in this run per minute of wall time."""
        done = self.scored + self.no_face + self.error
        return 60.0 * done / self.seconds if self.seconds > 0 else 0.0


def is_shards(path: str | Path) -> bool:
    """Whether `path` is a vidfake shards folder (it has a manifest)."""
    return (Path(path) / MANIFEST_DIR).is_dir()


def resolve_items(source: str | Path, layout: str = "auto") -> list[DatasetItem]:
    """The videos named by a folder, a CSV, a text file of paths (one per line) or one video."""
    path = Path(source).expanduser()
    if path.is_file() and path.suffix.lower() in VIDEO_SUFFIXES:
        return [DatasetItem(str(path.resolve()), -1, path.stem, "unassigned", "input")]
    if path.is_file() and path.suffix.lower() != ".csv":
        items = []
        for line in path.read_text(errors="surrogateescape").splitlines():  # names are bytes
            line = line.strip()
            if line and not line.startswith("#"):
                p = Path(line).expanduser()
                p = p if p.is_absolute() else (path.parent / p)
                items.append(DatasetItem(os.path.abspath(p), -1, p.stem, "unassigned", "input"))
        if not items:
            raise ValueError(f"{path}: lists no videos")
        return items
    return list_items(path, layout=layout)


class _Progress:
    """Appends finished rows to `<out>.partial.jsonl` (for resume) and keeps the tallies."""

    def __init__(self, out_csv: Path, summary: ScoreSummary, bar: Any) -> None:
        self.partial = out_csv.with_name(out_csv.name + ".partial.jsonl")
        self.summary = summary
        self.bar = bar
        self.rows: list[dict[str, Any]] = []
        self.details: list[dict[str, Any]] = []
        self._fh = self.partial.open("a")

    def add(self, row: dict[str, Any], vs: VideoScore | None) -> None:
        self._fh.write(json.dumps(row, default=json_default) + "\n")
        self._fh.flush()
        self.rows.append(row)
        status = row["status"]
        if status == "ok":
            self.summary.scored += 1
        elif status == "no_face":
            self.summary.no_face += 1
        else:
            self.summary.error += 1
            self.summary.bugs += is_bug(row.get("error"))
        if vs is not None:
            for ts in vs.tracks:
                for w, (p, fr) in enumerate(zip(ts.probs, ts.frames, strict=True)):
                    self.details.append(
                        {
                            "path": row["path"],
                            "video_id": vs.video_id,
                            "track_id": ts.track_id,
                            "track_score": ts.score,
                            "window": w,
                            "frames": fr,
                            "prob": p,
                        }
                    )
        self.bar.update(1)
        self.bar.set_postfix(failed=self.summary.error)

    def close(self) -> None:
        self._fh.close()


def _group_by_video(batches: Iterable[pa.RecordBatch]) -> Iterator[tuple[str, pa.Table]]:
    """Face rows of a shards folder, one table per video (rows of a video are contiguous)."""
    current: str | None = None
    parts: list[pa.RecordBatch] = []
    for batch in batches:
        ids = batch.column("video_id").to_pylist()
        start = 0
        for i in range(1, len(ids) + 1):
            if i == len(ids) or ids[i] != ids[start]:
                if current is not None and ids[start] != current:
                    yield current, pa.Table.from_batches(parts)
                    parts = []
                current = ids[start]
                parts.append(batch.slice(start, i - start))
                start = i
    if current is not None:
        yield current, pa.Table.from_batches(parts)


def check_shard_settings(shards: Path, scorer: Scorer) -> None:
    """Refuse shards whose crops differ from the ones the model was trained on."""
    saved = shards / SCAN_CONFIG
    if not saved.is_file():
        return
    built = to_dict(load_config(ScanConfig, saved).crop)
    wanted = to_dict(scorer.scan_config().crop)
    diff = {k: (built[k], wanted[k]) for k in wanted if built.get(k) != wanted[k]}
    diff.pop("blur_min", None)
    if diff:
        detail = ", ".join(f"{k}: shards {a} vs model {b}" for k, (a, b) in diff.items())
        raise ValueError(
            f"{shards} was scanned with other crop settings than the model was trained on "
            f"({detail}); rescan with the model's settings or score the videos directly"
        )


def _score_shards(
    shards: Path, scorer: Scorer, progress: _Progress, skip: set[str], video_batch: int
) -> None:
    """Score a shards folder in this process, a few videos at a time.

    One row per manifest path: identical files at two paths share a video id (the content
    hash) and are scored once, but each path gets its own row.
    """
    check_shard_settings(shards, scorer)
    rows: dict[str, list[dict[str, Any]]] = {}
    for m in read_manifest(shards).to_pylist():
        if m["path"] not in skip:
            rows.setdefault(m["video_id"], []).append(m)
    for ms in rows.values():
        for m in ms:
            if m["status"] != "ok":
                progress.add(result_row(scorer, m, pa.table({}), None), None)
    todo = {v for v, ms in rows.items() if any(m["status"] == "ok" for m in ms)}
    buffer: list[tuple[str, pa.Table]] = []
    seen: set[str] = set()

    def flush() -> None:
        scores = scorer.score_videos(buffer)
        for vid, table in buffer:
            for m in rows[vid]:
                if m["status"] == "ok":
                    progress.add(result_row(scorer, m, table, scores[vid]), scores[vid])
        buffer.clear()

    for vid, table in _group_by_video(iter_face_batches(shards)):
        if vid in todo and vid not in seen:
            seen.add(vid)
            n_faces = max(int(m["n_faces"] or 0) for m in rows[vid])
            buffer.append((vid, table.slice(0, n_faces)))  # the rows of one of its scans
            if len(buffer) >= video_batch:
                flush()
    if buffer:
        flush()
    for vid in sorted(todo - seen):
        for m in rows[vid]:
            if m["status"] == "ok":
                m = dict(m, status="no_face", error="no face rows in the shards")
                progress.add(result_row(scorer, m, pa.table({}), None), None)


def _score_local(items: list[DatasetItem], scorer: Scorer, progress: _Progress) -> None:
    """Scan and score one video after another in this process (small jobs, no Ray start)."""
    raise_bugs = strict()
    for item in items:
        progress.add(*scan_and_score(scorer, item, raise_bugs))


def score_collection(
    source: str | Path,
    out_csv: str | Path,
    model: str | Path | None = None,
    *,
    layout: str = "auto",
    aggregate: str = "mean",
    stride: int | None = None,
    batch_size: int = 32,
    video_batch: int = 8,
    workers: int | None = None,
    address: str | None = None,
    gpus: float = 0.0,
    actors: int | None = None,
    local: bool = False,
    details: str | Path | None = None,
    force: bool = False,
    progress: bool = True,
    tta: str | None = None,
) -> ScoreSummary:
    """Score `source` into a ranked CSV at `out_csv`; resumes an interrupted run unless `force`.

    The CSV holds one row per input path, exactly the current input's; an existing output
    with rows of other videos is refused (`force` replaces it).

    `local=True` scans and scores in this process; otherwise `actors` workers (default one per
    CPU of the Ray: a local one with `workers` CPUs, the running one, or the cluster at
    `address`), each holding the model and `gpus` GPUs, scan and score the videos. A shards
    folder is read, not rescanned. `tta` overrides the checkpoint's test-time augmentation
    (`none` or `flip`).
    """
    from tqdm import tqdm

    out = Path(out_csv)
    out.parent.mkdir(parents=True, exist_ok=True)
    scorer = Scorer(model, aggregate, stride, batch_size, tta=tta)
    shards = is_shards(source)
    items = [] if shards else resolve_items(source, layout)
    if force:
        for p in (out, out.with_name(out.name + ".partial.jsonl")):
            p.unlink(missing_ok=True)
    wanted = (
        set(read_manifest(source).column("path").to_pylist())
        if shards
        else {printable(str(i.path)) for i in items}
    )
    previous = read_previous(out)
    refuse_other_input(previous, wanted, out)
    done = {r["path"] for r in previous}
    total = len(wanted)
    if not shards:
        items = [i for i in items if printable(str(i.path)) not in done]
    summary = ScoreSummary(str(out), total=total, skipped=len(done))
    t0 = time.perf_counter()
    bar = tqdm(total=max(0, total - len(done)), unit="video", desc="score", disable=not progress)
    prog = _Progress(out, summary, bar)
    try:
        if shards:
            _score_shards(Path(source), scorer, prog, done, video_batch)
        elif local or not items:
            _score_local(items, scorer, prog)
        else:
            score_on_ray(items, scorer, prog.add, workers, address, gpus, actors)
    finally:
        bar.close()
        prog.close()
    summary.seconds = time.perf_counter() - t0
    rows = rank_rows(previous + prog.rows)
    write_csv(rows, out)
    prog.partial.unlink(missing_ok=True)
    if details is not None:
        write_details(prog.details, Path(details))
        summary.details = str(details)
    summary.rows = rows
    return summary
