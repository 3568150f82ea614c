"""Face-track shards for the training tests, built from the bundled real clips.

Frames are real (Decord); the face box comes from real MTCNN on the middle frame of each clip and
is held fixed (a square crop around the face area). The manipulations are SYNTHETIC:
- `spatial`: fakes have a blended, colour-shifted and slightly blurred elliptic face region,
  the same in every frame (a blending trace any architecture can learn);
- `temporal`: reals are cropped at one random offset for the whole clip, fakes at a new random
  offset on every frame (per-frame jitter of the face region). Each single frame has the same
  distribution in both classes, so only a model that looks across frames can tell them apart.
Each clip is one group; whole groups are held out for val and test.
"""

from __future__ import annotations

import io
from pathlib import Path

import cv2
import decord
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from vidfake.shards.schema import FACE_SCHEMA, MANIFEST_SCHEMA

CLIPS = Path(__file__).resolve().parents[1] / "vidfake" / "data" / "clips"
# short_hamilton_clip.mp4 has several people; one fixed box per clip needs one face.
SKIP = {"short_hamilton_clip"}
TEST_GROUPS = ("OpenTalker__s", "liveportrait_d18", "retalking_3")
VAL_GROUPS = ("cosanlab__single_face", "liveportrait_d12", "retalking_5")
CROP = 64
JITTER = 0.2  # largest crop offset, as a fraction of the crop side
VERSIONS = 3  # temporal: crops of each clip at this many independent random offsets


def _split(group: str) -> str:
    return "test" if group in TEST_GROUPS else "val" if group in VAL_GROUPS else "train"


def _jpeg(img: np.ndarray) -> bytes:
    ok, buf = cv2.imencode(
        ".jpg", np.ascontiguousarray(img[..., ::-1]), [cv2.IMWRITE_JPEG_QUALITY, 95]
    )
    return io.BytesIO(buf).getvalue()


def _face_box(frames: np.ndarray, mtcnn) -> tuple[np.ndarray, np.ndarray]:
    """MTCNN box and landmarks of the best face on the middle frame, seen at most 320 px wide."""
    frame = frames[len(frames) // 2]
    scale = min(1.0, 320 / max(frame.shape[:2]))
    small = cv2.resize(frame, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
    boxes, probs, marks = mtcnn.detect(small, landmarks=True)
    if boxes is None:
        raise RuntimeError("no face found")
    best = int(np.argmax(probs))
    return boxes[best] / scale, marks[best] / scale


def _crop(frame: np.ndarray, box: np.ndarray, dx: float = 0.0, dy: float = 0.0) -> np.ndarray:
    """Square crop of side 1.5x the box, shifted by (dx, dy) crop sides, resized to CROP."""
    h, w = frame.shape[:2]
    side = 1.5 * max(box[2] - box[0], box[3] - box[1])
    cx, cy = (box[0] + box[2]) / 2 + dx * side, (box[1] + box[3]) / 2 + dy * side
    m = np.float32(
        [
            [CROP / side, 0, CROP / 2 - cx * CROP / side],
            [0, CROP / side, CROP / 2 - cy * CROP / side],
        ]
    )
    return cv2.warpAffine(
        frame, m, (CROP, CROP), flags=cv2.INTER_AREA, borderMode=cv2.BORDER_REFLECT
    )


def _blend(crop: np.ndarray, shift: np.ndarray) -> np.ndarray:
    """SYNTHETIC spatial fake: a colour-shifted, blurred ellipse blended into the face."""
    mask = np.zeros(crop.shape[:2], np.float32)
    cv2.ellipse(mask, (CROP // 2, CROP // 2 + 2), (CROP // 4, CROP // 3), 0, 0, 360, 1.0, -1)
    mask = cv2.GaussianBlur(mask, (0, 0), 2.0)[..., None] * 0.8
    src = cv2.GaussianBlur(crop, (0, 0), 1.0).astype(np.float32) + shift
    return np.clip(crop * (1 - mask) + src * mask, 0, 255).astype(np.uint8)


def _rows(vid, group, label, frames, idx, crops, box, marks) -> list[dict]:
    return [
        {
            "video_id": vid,
            "track_id": 0,
            "frame_index": int(i),
            "clip_index": 0,
            "timestamp": float(i) / 25.0,
            "bbox": box.astype(np.float32).tolist(),
            "landmarks": marks.astype(np.float32).ravel().tolist(),
            "landmarks68": None,
            "ear": None,
            "det_score": 0.99,
            "blur": 100.0,
            "face_jpeg": _jpeg(c),
            "left_eye_jpeg": None,
            "right_eye_jpeg": None,
            "label": label,
            "dataset": "fixture",
            "group": group,
            "split": _split(group),
        }
        for i, c in zip(idx, crops, strict=True)
    ]


def _manifest(vid, group, label, n_frames, n_faces) -> dict:
    return {
        "video_id": vid,
        "path": f"{group}.mp4",
        "status": "ok",
        "error": None,
        "frames": n_frames,
        "fps": 25.0,
        "width": None,
        "height": None,
        "duration": None,
        "rotation": 0,
        "decoder": "decord",
        "frames_sampled": n_faces,
        "n_faces": n_faces,
        "n_tracks": 1,
        "label": label,
        "dataset": "fixture",
        "group": group,
        "split": _split(group),
        "settings_hash": "fixture",
        "vidfake_version": "test",
        "seconds": 0.0,
    }


def _write(out: Path, faces: list[list[dict]], manifest: list[dict]) -> None:
    """Two face files (each with real and fake videos of its groups) and one manifest file."""
    (out / "faces").mkdir(parents=True)
    (out / "manifest").mkdir()
    for k in range(2):
        rows = [r for i, rs in enumerate(faces) if (i // 2) % 2 == k for r in rs]
        pq.write_table(
            pa.Table.from_pylist(rows, schema=FACE_SCHEMA), out / "faces" / f"part-{k}.parquet"
        )
    pq.write_table(
        pa.Table.from_pylist(manifest, schema=MANIFEST_SCHEMA), out / "manifest" / "part-0.parquet"
    )


def build_fixture_shards(root: Path, n_frames: int = 32, step: int = 2) -> dict[str, Path]:
    """Write `spatial` and `temporal` shards under `root` (reused when already there)."""
    out = {name: root / name for name in ("spatial", "temporal")}
    if all((p / "manifest").is_dir() for p in out.values()):
        return out
    from facenet_pytorch import MTCNN

    mtcnn = MTCNN(keep_all=True, device="cpu", min_face_size=60)
    rng = np.random.default_rng(0)
    faces: dict[str, list[list[dict]]] = {"spatial": [], "temporal": []}
    manifest: dict[str, list[dict]] = {"spatial": [], "temporal": []}
    for clip in sorted(CLIPS.glob("*.mp4")):
        if clip.stem in SKIP:
            continue
        vr = decord.VideoReader(str(clip))
        idx = np.arange(0, min(len(vr), n_frames * step), step)[:n_frames]
        frames = vr.get_batch(idx).asnumpy()
        vr.seek(0)
        box, marks = _face_box(frames, mtcnn)
        group = clip.stem
        for version in range(VERSIONS):
            real = [_crop(f, box) for f in frames]
            shift = rng.uniform(-1, 1, 3).astype(np.float32) * 12 + np.float32([18, 4, -14])
            fake = [_blend(c, shift) for c in real]
            dx, dy = rng.uniform(-JITTER, JITTER, 2)
            steady = [_crop(f, box, dx, dy) for f in frames]
            offsets = rng.uniform(-JITTER, JITTER, (len(frames), 2))
            jitter = [_crop(f, box, ox, oy) for f, (ox, oy) in zip(frames, offsets, strict=True)]
            pairs = {"spatial": (real, fake), "temporal": (steady, jitter)}
            for name, (r_crops, f_crops) in pairs.items():
                if name == "spatial" and version > 0:
                    continue
                for label, crops in ((0, r_crops), (1, f_crops)):
                    vid = f"{name}-{group}-{label}-{version}"
                    faces[name].append(_rows(vid, group, label, frames, idx, crops, box, marks))
                    manifest[name].append(_manifest(vid, group, label, len(vr), len(crops)))
    for name, path in out.items():
        _write(path, faces[name], manifest[name])
    return out
