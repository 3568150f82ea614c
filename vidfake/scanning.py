"""The scan stage: one video into face-track rows, and a whole archive into shards on Ray.

`scan_video` never raises for bad media: it returns a manifest row with status `error` and a
reason. It catches only media errors (`MEDIA_ERRORS`); anything else is a vidfake bug and
propagates. `scan_task`, the boundary of one video in a batch, turns such a bug into that
video's `error` row, named as a bug with the line that raised it, and logs the traceback: a
thousand-video scan does not stop for one bug, and no bug reads as damaged media.

`build_shards` runs one Ray task per video (bounded in flight, retried when a worker dies),
commits results atomically and skips the videos a previous run with the same settings
finished.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import time
import traceback
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import av
import decord
import numpy as np
import pyarrow as pa
import yaml

from vidfake import __version__
from vidfake.config import DetectConfig, ScanConfig, load_config, to_dict
from vidfake.datasets.item import path_problem, printable
from vidfake.dispatch import bounded
from vidfake.faces.crop import crop_face, encode_jpeg, eye_patches, laplacian_variance
from vidfake.faces.detect import Detections, FaceDetector, SequenceDetector
from vidfake.faces.lowlight import retry_config
from vidfake.faces.track import build_tracks
from vidfake.shards.schema import FACE_SCHEMA, STATUS_ERROR, STATUS_NO_FACE, STATUS_OK
from vidfake.shards.store import FACES_DIR, MANIFEST_DIR, SCAN_CONFIG, ShardWriter, read_manifest
from vidfake.video import (
    DecodeReport,
    VideoError,
    VideoInfo,
    check_strategy,
    probe,
    sample_frames,
)

if TYPE_CHECKING:
    from vidfake.datasets import DatasetItem

log = logging.getLogger(__name__)

# What bad media raises through the decode layer; any other exception is a vidfake bug.
MEDIA_ERRORS = (VideoError, av.error.FFmpegError, OSError, decord.DECORDError)

_ID_BLOCK = 1 << 20
_PACKAGE = Path(__file__).resolve().parent
_DETECTORS: dict[str, FaceDetector] = {}
_LANDMARKER: list[Any] = []


@dataclass
class ScanResult:
    """One video's manifest row (MANIFEST_SCHEMA fields) and face rows (FACE_SCHEMA)."""

    manifest: dict[str, Any]
    faces: pa.Table


@dataclass
class ScanSummary:
    """What a `build_shards` run did."""

    out_dir: str
    total: int = 0  # videos listed
    skipped: int = 0  # already in the shards from an earlier run
    ok: int = 0
    no_face: int = 0
    error: int = 0
    faces: int = 0
    frames: int = 0  # frames sampled and scanned in this run
    seconds: float = 0.0
    errors: list[tuple[str, str]] = field(default_factory=list)  # (path, reason)
    bugs: int = 0  # of the errors, vidfake bugs (`is_bug`) rather than bad media

    def to_pandas(self) -> Any:
        """The manifest of the shards folder (one row per video scanned) as a DataFrame."""
        return read_manifest(self.out_dir).to_pandas()

    @property
    def frames_per_s(self) -> float:
        """Sampled frames scanned per second of wall time."""
        return self.frames / self.seconds if self.seconds > 0 else 0.0


def video_id(path: str | Path) -> str:
    """A content id: sha256 of the size, the first and the last MiB (a rename keeps it)."""
    path = Path(path)
    size = path.stat().st_size
    h = hashlib.sha256(str(size).encode())
    with path.open("rb") as fh:
        h.update(fh.read(_ID_BLOCK))
        if size > _ID_BLOCK:
            fh.seek(max(size - _ID_BLOCK, _ID_BLOCK))
            h.update(fh.read(_ID_BLOCK))
    return h.hexdigest()[:32]


def cached_detector(cfg: DetectConfig) -> FaceDetector:
    """One FaceDetector per process and setting (Ray workers load MTCNN once)."""
    key = json.dumps(to_dict(cfg), sort_keys=True)
    if key not in _DETECTORS:
        _DETECTORS[key] = FaceDetector(cfg)
    return _DETECTORS[key]


def _landmarker() -> Any:
    """dlib's 68-point predictor, loaded once per process on first use."""
    if not _LANDMARKER:
        from vidfake.cues.landmarks import Landmarker

        _LANDMARKER.append(Landmarker())
    return _LANDMARKER[0]


def _manifest(item: DatasetItem, cfg: ScanConfig, vid: str, seconds: float) -> dict[str, Any]:
    """A manifest row with the item's facts and no decode facts yet."""
    return {
        "video_id": vid,
        "path": str(item.path),
        "status": STATUS_ERROR,
        "error": None,
        "frames": None,
        "fps": None,
        "width": None,
        "height": None,
        "duration": None,
        "rotation": None,
        "decoder": None,
        "codec": None,
        "frames_damaged": None,
        "frames_sampled": None,
        "n_faces": 0,
        "n_tracks": 0,
        "label": int(item.label),
        "dataset": str(item.dataset),
        "group": str(item.group),
        "split": str(item.split),
        "settings_hash": cfg.settings_hash(),
        "vidfake_version": __version__,
        "seconds": float(seconds),
    }


def error_result(
    item: DatasetItem, cfg: ScanConfig, reason: str, seconds: float = 0.0
) -> ScanResult:
    """The result of a video that could not be scanned: an `error` row and no faces.

    Its id hashes the path, not the content: the row has no faces to join, the file is never
    opened (it may be a pipe), and a copy of a good video keeps its own row. The row's path
    is printable text even when the file name is not UTF-8.
    """
    vid = "path-" + hashlib.sha256(os.fsencode(item.path)).hexdigest()[:27]
    row = _manifest(item, cfg, vid, seconds)
    row["path"] = printable(str(item.path))
    row["error"] = reason
    return ScanResult(row, FACE_SCHEMA.empty_table())


@dataclass
class _Candidate:
    """A detection's crops and cues, computed while its full-resolution frame is in memory."""

    face: bytes
    eyes: tuple[bytes, bytes]
    blur: float
    landmarks68: list[float] | None
    ear: float | None


def _candidates(frame: np.ndarray, dets: Detections, cfg: ScanConfig) -> list[_Candidate]:
    """Crops, eye patches, blur and (optionally) 68 landmarks for each detection of a frame."""
    out = []
    for box, lm5 in zip(dets.boxes, dets.landmarks, strict=True):
        face = crop_face(frame, box, cfg.crop.margin, cfg.crop.size)
        left, right = eye_patches(frame, lm5, cfg.crop.eye_size)
        pts68, ear = None, None
        if cfg.landmarks68:
            from vidfake.cues.blink import eye_aspect_ratio

            pts = _landmarker().predict(frame, box)
            if pts is not None:
                pts68 = np.asarray(pts, np.float32).reshape(-1).tolist()
                value = float(eye_aspect_ratio(pts))
                ear = value if np.isfinite(value) else None
        q = cfg.crop.jpeg_quality
        out.append(
            _Candidate(
                encode_jpeg(face, q),
                (encode_jpeg(left, q), encode_jpeg(right, q)),
                laplacian_variance(face),
                pts68,
                ear,
            )
        )
    return out


def media_reason(exc: BaseException) -> str:
    """A plain sentence for one of MEDIA_ERRORS."""
    if isinstance(exc, VideoError):
        return exc.reason
    if isinstance(exc, OSError) and exc.strerror:
        return f"cannot read the file: {exc.strerror}"
    lines = str(exc).strip().splitlines()
    return f"cannot decode it: {lines[0] if lines else type(exc).__name__}"


BUG_PREFIX = "vidfake bug, not a problem with the video"
STRICT_ENV = "VIDFAKE_STRICT"


def bug_reason(exc: BaseException) -> str:
    """The error text of an exception vidfake did not expect: a bug, and the line it came from.

    Names the innermost frame, and the innermost vidfake frame when that one is in a library.
    """
    frames = traceback.extract_tb(exc.__traceback__)
    own = [f for f in frames if Path(f.filename).is_relative_to(_PACKAGE)]
    spots = dict.fromkeys(_where(f) for f in frames[-1:] + own[-1:])
    place = f" at {', called from '.join(spots)}" if spots else ""
    return f"{BUG_PREFIX} (please report it): {type(exc).__name__}: {exc}{place}"


def _where(frame: traceback.FrameSummary) -> str:
    """`vidfake/faces/track.py:80 in build_tracks`; a library's file by its last two parts."""
    path = Path(frame.filename)
    if path.is_relative_to(_PACKAGE):
        name = path.relative_to(_PACKAGE.parent).as_posix()
    else:
        name = "/".join(path.parts[-2:])
    return f"{name}:{frame.lineno} in {frame.name}"


def _decode_facts(row: dict[str, Any], info: VideoInfo) -> None:
    """Copy decode facts into a manifest row."""
    row.update(
        frames=info.frames,
        fps=info.fps,
        width=info.width,
        height=info.height,
        duration=info.duration,
        rotation=info.rotation,
        codec=info.codec,
    )


def scan_video(
    item: DatasetItem, cfg: ScanConfig, detector: FaceDetector | None = None
) -> ScanResult:
    """Decode, detect, track and crop one video; never raises for bad media (status `error`)."""
    start = time.perf_counter()
    problem = path_problem(item.path)
    if problem is not None:
        return error_result(item, cfg, problem)
    try:
        info = probe(item.path)  # first: its checks keep `video_id` from opening a pipe
        vid = video_id(item.path)
    except MEDIA_ERRORS as exc:
        return error_result(item, cfg, media_reason(exc))
    row = _manifest(item, cfg, vid, 0.0)
    _decode_facts(row, info)
    detector = detector or cached_detector(cfg.detect)
    report = DecodeReport()
    try:
        dets, faces = _detect_faces(item, vid, info, cfg, detector, report)
        retry = retry_config(cfg) if dets and not faces.num_rows else None
        if retry is not None:  # no face track: once more as a dim video (vidfake.faces.lowlight)
            retried = cached_detector(retry.detect)
            dets, faces = _detect_faces(item, vid, info, retry, retried, DecodeReport())
    except MEDIA_ERRORS as exc:
        row["error"] = media_reason(exc)
        row["seconds"] = time.perf_counter() - start
        return ScanResult(row, FACE_SCHEMA.empty_table())
    row["decoder"] = report.decoder
    row["frames_damaged"] = report.damaged
    row["frames_sampled"] = len(dets)
    if not dets:
        row["error"] = f"no frame decoded ({report.damaged} damaged packets)"
        row["seconds"] = time.perf_counter() - start
        return ScanResult(row, FACE_SCHEMA.empty_table())
    row["n_faces"] = faces.num_rows
    row["n_tracks"] = len(set(faces.column("track_id").to_pylist()))
    row["status"] = STATUS_OK if faces.num_rows else STATUS_NO_FACE
    row["seconds"] = time.perf_counter() - start
    return ScanResult(row, faces)


def _detect_faces(
    item: DatasetItem,
    vid: str,
    info: VideoInfo,
    cfg: ScanConfig,
    detector: FaceDetector,
    report: DecodeReport,
) -> tuple[list[Detections], pa.Table]:
    """One pass over the sampled frames: their detections and the face rows of kept tracks."""
    dets: list[Detections] = []
    cands: list[list[_Candidate]] = []
    meta: list[tuple[int, int, float]] = []  # (frame index, clip index, timestamp)
    sequence = SequenceDetector(detector, cfg.detect.refresh)
    for batch in sample_frames(item.path, cfg.sampling, cfg.chunk_size, info, report):
        found = sequence.detect(batch.frames, batch.clip_index)
        for i, frame_dets in enumerate(found):
            dets.append(frame_dets)
            cands.append(_candidates(batch.frames[i], frame_dets, cfg))
            meta.append(
                (int(batch.indices[i]), int(batch.clip_index[i]), float(batch.timestamps[i]))
            )
    return dets, _face_rows(item, vid, dets, cands, meta, cfg)


def _face_rows(
    item: DatasetItem,
    vid: str,
    dets: list[Detections],
    cands: list[list[_Candidate]],
    meta: list[tuple[int, int, float]],
    cfg: ScanConfig,
) -> pa.Table:
    """FACE_SCHEMA rows for every detection that belongs to a kept track."""
    cols: dict[str, list[Any]] = {name: [] for name in FACE_SCHEMA.names}
    for track in build_tracks(dets, cfg.track):
        for pos, c in zip(track.frames, track.det_index, strict=True):
            cand = cands[pos][c]
            if cfg.crop.blur_min is not None and cand.blur < cfg.crop.blur_min:
                continue
            frame_index, clip_index, timestamp = meta[pos]
            values = {
                "video_id": vid,
                "track_id": track.track_id,
                "frame_index": frame_index,
                "clip_index": clip_index,
                "timestamp": timestamp,
                "bbox": dets[pos].boxes[c].tolist(),
                "landmarks": dets[pos].landmarks[c].reshape(-1).tolist(),
                "landmarks68": cand.landmarks68,
                "ear": cand.ear,
                "det_score": float(dets[pos].scores[c]),
                "blur": cand.blur,
                "face_jpeg": cand.face,
                "left_eye_jpeg": cand.eyes[0],
                "right_eye_jpeg": cand.eyes[1],
                "label": int(item.label),
                "dataset": str(item.dataset),
                "group": str(item.group),
                "split": str(item.split),
            }
            for name, value in values.items():
                cols[name].append(value)
    return pa.Table.from_pydict(cols, schema=FACE_SCHEMA)


def scan_task(
    item: DatasetItem,
    cfg: ScanConfig,
    scan_fn: Callable[..., ScanResult] | None = None,
    raise_bugs: bool = False,
) -> tuple[dict[str, Any], pa.Table]:
    """The body of one Ray task: scan a video so that it fails alone, whatever happens.

    Bad media is already an error row; what `scan_fn` raises is a vidfake bug, logged with its
    traceback and recorded as the video's error row (`bug_reason`, counted apart as `bugs`),
    so a batch goes on. With `raise_bugs` (the driver's `strict()`) a bug propagates.
    """
    fn = scan_fn or scan_video
    try:
        result = fn(item, cfg)
    except Exception as exc:  # the batch boundary: a bug fails this video alone, named a bug
        if raise_bugs:
            raise
        log.exception("vidfake bug while scanning %s", printable(str(item.path)))
        result = error_result(item, cfg, bug_reason(exc))
    return result.manifest, result.faces


def strict() -> bool:
    """Whether bugs propagate instead of becoming error rows: `VIDFAKE_STRICT=1` in the
    driver's environment (the test suite sets it), passed on to the tasks it starts."""
    return os.environ.get(STRICT_ENV) == "1"


def is_bug(reason: str | None) -> bool:
    """Whether an error row's reason is a vidfake bug (`bug_reason`), not a media problem."""
    return bool(reason) and reason.startswith(BUG_PREFIX)


def prepare_out_dir(out_dir: str | Path, cfg: ScanConfig, force: bool) -> Path:
    """Create or reuse a shards folder; refuse one built with other settings unless `force`."""
    out = Path(out_dir)
    saved = out / SCAN_CONFIG
    if force:
        for sub in (FACES_DIR, MANIFEST_DIR):
            shutil.rmtree(out / sub, ignore_errors=True)
    elif saved.exists():
        old = load_config(ScanConfig, saved)
        if old.settings_hash() != cfg.settings_hash():
            raise ValueError(
                f"{out} was built with other scan settings (hash {old.settings_hash()}, now "
                f"{cfg.settings_hash()}): use --force to rebuild it, or another output folder"
            )
    out.mkdir(parents=True, exist_ok=True)
    tmp = out / f".{SCAN_CONFIG}.tmp"
    tmp.write_text(yaml.safe_dump(to_dict(cfg), sort_keys=False))
    os.replace(tmp, saved)
    return out


def start_ray(workers: int | None, address: str | None) -> bool:
    """Join `address`, start a local Ray with `workers` CPUs, or reuse one; True if started."""
    import ray

    if ray.is_initialized():
        return False
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    os.environ.setdefault("RAY_AUTH_MODE", "disabled")
    if address:
        ray.init(address=address, log_to_driver=False)
    else:
        ray.init(
            address="local",
            num_cpus=workers or os.cpu_count(),
            include_dashboard=False,
            log_to_driver=False,
        )
    return True


def _tally(summary: ScanSummary, manifest: dict[str, Any]) -> None:
    """Count one finished video into the summary."""
    status = manifest["status"]
    if status == STATUS_OK:
        summary.ok += 1
    elif status == STATUS_NO_FACE:
        summary.no_face += 1
    else:
        summary.error += 1
        summary.bugs += is_bug(manifest["error"])
        summary.errors.append((manifest["path"], manifest["error"] or "unknown error"))
    summary.faces += manifest["n_faces"]
    summary.frames += manifest["frames_sampled"] or 0


def build_shards(
    items: Iterable[DatasetItem],
    out_dir: str | Path,
    cfg: ScanConfig,
    workers: int | None = None,
    address: str | None = None,
    force: bool = False,
    progress: bool = True,
    scan_fn: Callable[..., ScanResult] | None = None,
    max_retries: int = 2,
) -> ScanSummary:
    """Scan `items` into shards at `out_dir`, one Ray task per video; resumes unless `force`.

    Uses the running Ray when there is one, joins `address`, or starts a local Ray with
    `workers` CPUs. `workers` also bounds the videos in flight. `scan_fn(item, cfg)` replaces
    `scan_video` in the tasks (it must be picklable). A task whose worker dies is retried
    `max_retries` times, then gets an `error` row.
    """
    import ray
    from tqdm import tqdm

    check_strategy(cfg.sampling)
    items = list(items)
    out = prepare_out_dir(out_dir, cfg, force)
    writer = ShardWriter(out)
    done = set(read_manifest(out).column("path").to_pylist())
    todo, seen = [], set(done)
    for item in items:
        key = printable(str(item.path))  # the manifest's path, also for non-UTF-8 names
        if key not in seen:
            seen.add(key)
            todo.append(item)
    summary = ScanSummary(str(out), total=len(items), skipped=len(items) - len(todo))
    if not todo:
        writer.close()
        return summary
    started = start_ray(workers, address)
    raise_bugs = strict()
    task = ray.remote(num_cpus=1, max_retries=max_retries)(scan_task)
    limit = workers or max(1, int(ray.available_resources().get("CPU", 1))) * 2
    t0 = time.perf_counter()
    bar = tqdm(total=len(todo), unit="video", disable=not progress, desc="scan")
    try:
        for item, value, failure in bounded(
            todo, lambda i: task.remote(i, cfg, scan_fn, raise_bugs), limit
        ):
            if isinstance(failure, ray.exceptions.RayTaskError):
                raise failure  # the task raised (a bug under VIDFAKE_STRICT), not a lost worker
            if failure is None:
                manifest, faces = value
            else:
                reason = (
                    f"the worker scanning it died {max_retries + 1} times "
                    f"({type(failure).__name__})"
                )
                result = error_result(item, cfg, reason)
                manifest, faces = result.manifest, result.faces
            writer.add(manifest, faces)
            _tally(summary, manifest)
            summary.seconds = time.perf_counter() - t0
            bar.update(1)
            bar.set_postfix(failed=summary.error, fps=f"{summary.frames_per_s:.1f}")
    finally:
        bar.close()
        writer.close()
        if started:
            ray.shutdown()
    summary.seconds = time.perf_counter() - t0
    return summary
