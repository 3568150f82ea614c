"""dlib's 68-point face landmarks, run on a face box from any detector (here MTCNN's).

The predictor file ships with the `face-recognition-models` wheel; it is found on disk without
importing that package (its `__init__` needs the retired `pkg_resources`). Licence: docs/blinks.md.
"""

from __future__ import annotations

import importlib.util
import threading
from pathlib import Path

import dlib
import numpy as np

MODEL_FILE = "shape_predictor_68_face_landmarks.dat"

# dlib's predictor was trained on boxes from its HOG detector, which sit lower and wider than
# MTCNN's (they cut the forehead and reach the chin). The MTCNN box is moved down by `shift` and
# scaled by `scale` of its height before prediction; measured in docs/blinks.md.
BOX_SHIFT = 0.08
BOX_SCALE = 0.95

_LOCK = threading.Lock()
_PREDICTORS: dict[str, dlib.shape_predictor] = {}


def model_path() -> Path:
    """Path of the 68-point predictor inside the installed `face-recognition-models` wheel."""
    spec = importlib.util.find_spec("face_recognition_models")
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError(
            "dlib's 68-point model needs the face-recognition-models package "
            "(pip install face-recognition-models)"
        )
    for root in spec.submodule_search_locations:
        path = Path(root) / "models" / MODEL_FILE
        if path.is_file():
            return path
    raise FileNotFoundError(f"{MODEL_FILE} not found in face-recognition-models")


def _predictor(path: Path) -> dlib.shape_predictor:
    """Load the predictor once per process (it is ~100 MB and takes about a second)."""
    key = str(path)
    with _LOCK:
        if key not in _PREDICTORS:
            _PREDICTORS[key] = dlib.shape_predictor(key)
        return _PREDICTORS[key]


def adjust_box(box_xyxy: np.ndarray, shift: float = BOX_SHIFT, scale: float = BOX_SCALE):
    """MTCNN box -> the box dlib's predictor expects (shifted down, rescaled about its centre)."""
    x1, y1, x2, y2 = (float(v) for v in box_xyxy)
    w, h = x2 - x1, y2 - y1
    cx, cy = (x1 + x2) / 2, (y1 + y2) / 2 + shift * h
    half_w, half_h = w * scale / 2, h * scale / 2
    return cx - half_w, cy - half_h, cx + half_w, cy + half_h


class Landmarker:
    """dlib's 68-point shape predictor, loaded offline, applied to detector boxes."""

    def __init__(
        self, path: str | Path | None = None, shift: float = BOX_SHIFT, scale: float = BOX_SCALE
    ) -> None:
        self.path = Path(path) if path is not None else model_path()
        if not self.path.is_file():
            raise FileNotFoundError(f"68-point landmark model not found: {self.path}")
        self.shift = shift
        self.scale = scale
        self._sp = _predictor(self.path)

    def predict(self, frame_rgb: np.ndarray, box_xyxy: np.ndarray) -> np.ndarray | None:
        """68 (x, y) points in frame pixels (iBUG 300-W order), or None for an unusable box."""
        if frame_rgb.ndim != 3 or frame_rgb.shape[2] != 3:
            raise ValueError(f"expected an RGB frame (H,W,3), got shape {frame_rgb.shape}")
        box = np.asarray(box_xyxy, dtype=np.float64)
        if box.shape != (4,) or not np.isfinite(box).all():
            return None
        x1, y1, x2, y2 = adjust_box(box, self.shift, self.scale)
        height, width = frame_rgb.shape[:2]
        if x2 - x1 < 8 or y2 - y1 < 8 or x2 <= 0 or y2 <= 0 or x1 >= width or y1 >= height:
            return None
        rect = dlib.rectangle(round(x1), round(y1), round(x2), round(y2))
        image = np.ascontiguousarray(frame_rgb, dtype=np.uint8)
        shape = self._sp(image, rect)
        return np.array([(p.x, p.y) for p in shape.parts()], dtype=np.float32)
