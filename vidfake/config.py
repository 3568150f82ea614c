"""Configuration as data: YAML files loaded into typed dataclasses, with `key=value` overrides.

Every setting vidfake reads lives in one of the dataclasses below, and its docstring field
comment is the one place that says what it means. `load_config(ScanConfig, "configs/scan.yaml",
["detect.min_face=40"])` gives a validated, typed object.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import yaml

T = TypeVar("T")


@dataclass
class DetectConfig:
    """Face detection with MTCNN."""

    min_face: int = 40  # smallest face side wanted, in pixels of the original frame
    max_side: int = 480  # frames are downscaled so the detector sees at most this side
    thresholds: tuple[float, float, float] = (0.6, 0.7, 0.7)  # MTCNN P/R/O-net thresholds
    min_score: float = 0.92  # detections below this confidence are dropped
    batch: bool = False  # facenet-pytorch's batched detect on each chunk (slower here: 2 cores)
    refresh: int = 16  # full MTCNN every N sampled frames, new window, lost face; else O-Net
    dim_range: int = 128  # MTCNN sees frames whose 0.1-99.9th percentiles span less stretched
    max_gain: float = 8.0  # the most that stretch multiplies levels by (black frames' noise)
    retry_min_score: float | None = 0.8  # no face track: rescan, all stretched, at this score


@dataclass
class TrackConfig:
    """Associating detections across sampled frames into identity tracks."""

    iou: float = 0.3  # minimum IoU between a track's last box and a new detection
    max_gap: int = 5  # sampled frames a track may miss before it ends
    min_length: int = 4  # tracks with fewer faces are dropped
    min_mean_score: float = 0.95  # tracks whose mean detection score is lower are dropped
    retry_min_mean_score: float = 0.8  # min_mean_score of the low-light retry (detect.retry_*)


@dataclass
class CropConfig:
    """Face and eye crops stored in the shards."""

    margin: float = 1.3  # square crop side = margin x the box's longer side
    size: int = 224  # face crops are resized to size x size
    eye_size: int = 32  # eye patches are eye_size x eye_size
    jpeg_quality: int = 95  # JPEG quality of the stored crops
    blur_min: float | None = None  # drop crops whose Laplacian variance is below (seed: 30)


@dataclass
class ScanConfig:
    """Everything that decides what a scan writes; its hash goes into every manifest row."""

    sampling: str = "clip:32@10"  # `uniform:N` or `clip:T@FPS[xK]` (K windows of T frames)
    chunk_size: int = 32  # frames decoded at once; bounds memory whatever the video length
    landmarks68: bool = False  # run dlib's 68-point predictor and store eye aspect ratios
    detect: DetectConfig = field(default_factory=DetectConfig)
    track: TrackConfig = field(default_factory=TrackConfig)
    crop: CropConfig = field(default_factory=CropConfig)

    def settings_hash(self) -> str:
        """A short stable hash of every setting, so a rerun can tell whether work is reusable."""
        blob = json.dumps(to_dict(self), sort_keys=True).encode()
        return hashlib.sha256(blob).hexdigest()[:16]


def to_dict(obj: Any) -> Any:
    """A dataclass (nested) as plain dicts, lists and scalars, ready for YAML or JSON."""
    if dataclasses.is_dataclass(obj):
        return {f.name: to_dict(getattr(obj, f.name)) for f in dataclasses.fields(obj)}
    if isinstance(obj, (list, tuple)):
        return [to_dict(v) for v in obj]
    if isinstance(obj, dict):
        return {k: to_dict(v) for k, v in obj.items()}
    return obj


def _coerce(tp: Any, value: Any, where: str) -> Any:
    """Convert a YAML value to the annotated type, failing with the setting's name."""
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if tp is Any:
        return value
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        inner = [a for a in args if a is not type(None)]
        return _coerce(inner[0], value, where)
    if dataclasses.is_dataclass(tp):
        if not isinstance(value, dict):
            raise ValueError(f"{where}: expected a mapping, got {value!r}")
        return from_dict(tp, value, where)
    if origin is tuple:
        if not isinstance(value, (list, tuple)) or len(value) != len(args):
            raise ValueError(f"{where}: expected {len(args)} values, got {value!r}")
        return tuple(_coerce(a, v, where) for a, v in zip(args, value, strict=True))
    if origin is list:
        return [_coerce(args[0], v, where) for v in value]
    if origin is dict:
        return dict(value)
    if tp is bool:
        if isinstance(value, str):
            if value.lower() in ("true", "yes", "1", "on"):
                return True
            if value.lower() in ("false", "no", "0", "off"):
                return False
        if isinstance(value, bool):
            return value
        raise ValueError(f"{where}: expected true or false, got {value!r}")
    if tp in (int, float, str):
        try:
            return tp(value)
        except (TypeError, ValueError):
            raise ValueError(f"{where}: expected {tp.__name__}, got {value!r}") from None
    return value


def from_dict(cls: type[T], data: dict[str, Any], where: str = "") -> T:
    """Build dataclass `cls` from a mapping; unknown keys are an error, not silently ignored."""
    hints = typing.get_type_hints(cls)
    names = {f.name for f in dataclasses.fields(cls)}
    unknown = set(data) - names
    if unknown:
        raise ValueError(
            f"{where or cls.__name__}: unknown setting(s) {sorted(unknown)}; known: {sorted(names)}"
        )
    kwargs = {k: _coerce(hints[k], v, f"{where}.{k}" if where else k) for k, v in data.items()}
    return cls(**kwargs)


def apply_overrides(data: dict[str, Any], overrides: list[str]) -> dict[str, Any]:
    """Apply `a.b=value` strings (value parsed as YAML) to a nested mapping, in place."""
    for item in overrides:
        if "=" not in item:
            raise ValueError(f"override {item!r} is not of the form key=value")
        key, raw = item.split("=", 1)
        node = data
        parts = key.strip().split(".")
        for part in parts[:-1]:
            node = node.setdefault(part, {})
            if not isinstance(node, dict):
                raise ValueError(f"override {item!r}: {part} is not a section")
        node[parts[-1]] = yaml.safe_load(raw)
    return data


def load_config(
    cls: type[T], path: str | Path | None = None, overrides: list[str] | None = None
) -> T:
    """Load `cls` from a YAML file (or its defaults when `path` is None) plus overrides."""
    data: dict[str, Any] = {}
    if path is not None:
        text = Path(path).read_text()
        data = yaml.safe_load(text) or {}
        if not isinstance(data, dict):
            raise ValueError(f"{path}: expected a mapping at the top level")
    data = apply_overrides(data, overrides or [])
    return from_dict(cls, data)
