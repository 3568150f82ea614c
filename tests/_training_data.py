"""Face-track shards for the training tests, built from the bundled real clips.

Frames are real (Decord); the face box and five landmarks come from real MTCNN on the middle
frame of each clip and are held fixed (a square crop around the face area, eye patches cut as
the scan cuts them). The manipulations are SYNTHETIC:
- `spatial`: fakes have a blended, colour-shifted and slightly blurred elliptic face region,
  painted into the frame before cropping, so the face crop and both eye patches carry it (a
  blending trace every architecture, the eye-only one included, can learn);
- `temporal`: reals are cropped along a smooth drift of the crop's offset, scale and brightness
  (a slow pan, zoom and fade between a random setting and its mirror image); fakes hold exactly
  the same crops in shuffled order, so the face region jumps and flickers from frame to frame. Both classes have the very same frames, so only
  a model that looks across frames can tell them apart.
Each clip is one group; whole groups are held out for val and test.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import decord
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from vidfake.faces.crop import encode_jpeg, eye_patches
from vidfake.shards.schema import FACE_SCHEMA, MANIFEST_SCHEMA

CLIPS = Path(__file__).resolve().parents[1] / "vidfake" / "data" / "clips"
# short_hamilton_clip.mp4 has several people; one fixed box per clip needs one face.
SKIP = {"short_hamilton_clip"}
TEST_GROUPS = ("OpenTalker__s", "liveportrait_d18", "retalking_3")
VAL_GROUPS = ("cosanlab__single_face", "liveportrait_d12", "retalking_5")
CROP = 64
EYE = 32
JITTER = 0.2  # largest crop offset, as a fraction of the crop side
ZOOM = 0.25  # crop side scaled by up to 1 +- this
GAIN = 0.35  # brightness drifts between 1 - GAIN and 1 + GAIN
VERSIONS = 3  # temporal: each clip drifts along this many random paths


def _split(group: str) -> str:
    return "test" if group in TEST_GROUPS else "val" if group in VAL_GROUPS else "train"


def _jpeg(img: np.ndarray) -> bytes:
    return encode_jpeg(img, 95)


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


def _side(box: np.ndarray) -> float:
    return 1.5 * float(max(box[2] - box[0], box[3] - box[1]))


def _crop(
    frame: np.ndarray, box: np.ndarray, dx: float = 0.0, dy: float = 0.0, zoom: float = 1.0
) -> np.ndarray:
    """Square crop of side `zoom` x 1.5 x the box, shifted by (dx, dy) sides, resized to CROP."""
    side = _side(box) * zoom
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


def _blend(frame: np.ndarray, box: np.ndarray, shift: np.ndarray) -> np.ndarray:
    """SYNTHETIC spatial fake: a colour-shifted, blurred ellipse blended into the face."""
    side = _side(box)
    h, w = frame.shape[:2]
    x0, y0 = max(int((box[0] + box[2] - side) / 2), 0), max(int((box[1] + box[3] - side) / 2), 0)
    x1, y1 = min(int(x0 + side) + 1, w), min(int(y0 + side) + 1, h)
    roi = frame[y0:y1, x0:x1]
    cx, cy = (box[0] + box[2]) / 2 - x0, (box[1] + box[3]) / 2 - y0 + side / 32
    mask = np.zeros(roi.shape[:2], np.float32)
    axes = (int(side / 4), int(side / 3))
    cv2.ellipse(mask, (int(cx), int(cy)), axes, 0, 0, 360, 1.0, -1)
    mask = cv2.GaussianBlur(mask, (0, 0), side / 48)[..., None] * 0.9
    src = cv2.GaussianBlur(roi, (0, 0), side / 64).astype(np.float32) + shift
    out = frame.copy()
    out[y0:y1, x0:x1] = np.clip(roi * (1 - mask) + src * mask, 0, 255).astype(np.uint8)
    return out


def _view(frame: np.ndarray, box: np.ndarray, marks: np.ndarray) -> dict:
    """A face crop and the two eye patches of `frame`, as JPEG."""
    left, right = (_jpeg(e) for e in eye_patches(frame, marks, EYE))
    return {"face_jpeg": _jpeg(_crop(frame, box)), "left": left, "right": right}


def _moved(
    frame: np.ndarray, box: np.ndarray, dx: float, dy: float, zoom: float, gain: float
) -> dict:
    """A face crop moved by (dx, dy) sides, scaled by `zoom` and brightened by `gain` (no eyes)."""
    face = np.clip(_crop(frame, box, dx, dy, zoom) * gain, 0, 255).astype(np.uint8)
    return {"face_jpeg": _jpeg(face), "left": None, "right": None}


def _rows(vid, group, label, idx, views, box, marks) -> list[dict]:
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
            "face_jpeg": v["face_jpeg"],
            "left_eye_jpeg": v["left"],
            "right_eye_jpeg": v["right"],
            "label": label,
            "dataset": "fixture",
            "group": group,
            "split": _split(group),
        }
        for i, v in zip(idx, views, strict=True)
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
    """Two face files (each with real and fake videos of its groups) committed by one manifest part."""
    (out / "faces").mkdir(parents=True)
    (out / "manifest").mkdir()
    for k in range(2):
        rows = [r for i, rs in enumerate(faces) if (i // 2) % 2 == k for r in rs]
        pq.write_table(
            pa.Table.from_pylist(rows, schema=FACE_SCHEMA),
            out / "faces" / f"part-0-{k:04d}.parquet",
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

    def add(name: str, vid: str, group: str, label: int, views: list[dict], n: int) -> None:
        faces[name].append(_rows(vid, group, label, idx, views, box, marks))
        manifest[name].append(_manifest(vid, group, label, n, len(views)))

    for clip in sorted(CLIPS.glob("*.mp4")):
        if clip.stem in SKIP:
            continue
        vr = decord.VideoReader(str(clip))
        idx = np.arange(0, min(len(vr), n_frames * step), step)[:n_frames]
        frames = vr.get_batch(idx).asnumpy()
        box, marks = _face_box(frames, mtcnn)
        group, n = clip.stem, len(vr)
        shift = rng.uniform(-1, 1, 3).astype(np.float32) * 8 + np.float32([32, 6, -26])
        add("spatial", f"spatial-{group}-0", group, 0, [_view(f, box, marks) for f in frames], n)
        fake = [_view(_blend(f, box, shift), box, marks) for f in frames]
        add("spatial", f"spatial-{group}-1", group, 1, fake, n)
        for version in range(VERSIONS):
            # a drift from a random setting to its mirror image: pan, zoom and brightness
            start = rng.uniform(-1, 1, 4) * [JITTER, JITTER, ZOOM, 0] + [0, 0, 0, GAIN]
            start[3] *= rng.choice([-1.0, 1.0])
            drift = np.linspace(start, -start, len(frames)) + [0, 0, 1, 1]
            steady = [_moved(f, box, *move) for f, move in zip(frames, drift, strict=True)]
            shuffled = [steady[i] for i in rng.permutation(len(steady))]
            add("temporal", f"temporal-{group}-0-{version}", group, 0, steady, n)
            add("temporal", f"temporal-{group}-1-{version}", group, 1, shuffled, n)
    for name, path in out.items():
        _write(path, faces[name], manifest[name])
    return out
