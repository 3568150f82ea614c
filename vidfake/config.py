"""Configuration as data: YAML files loaded into typed dataclasses, with `key=value` overrides.

Every setting vidfake reads lives in one of the dataclasses below, and its docstring field
comment is the one place that says what it means. `load_config(ScanConfig, "configs/scan.yaml",
["detect.min_face=40"])` gives a validated, typed object. Validation is pydantic's: a value
that does not fit its setting (40.9 or `true` for a whole number, `null` for a string, an
unknown key) is an error that names the setting and the file, never silently converted.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import json
import re
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, TypeVar

import yaml
from pydantic import ConfigDict, Strict, TypeAdapter, ValidationError

T = TypeVar("T")

# A whole number that must be written as one: 40.9, "40" and `true` are errors, not 40 and 1.
Int = Annotated[int, Strict()]
# A number: an integer or a decimal, never `true` or a string.
Float = Annotated[float, Strict()]
# Settings sections refuse keys they do not have (a typo is an error, not a silent default).
FORBID_EXTRA = ConfigDict(extra="forbid")


@dataclass
class DetectConfig:
    """Face detection with MTCNN."""

    __pydantic_config__ = FORBID_EXTRA

    min_face: Int = 40  # smallest face side wanted, in pixels of the original frame
    max_side: Int = 480  # frames are downscaled so the detector sees at most this side
    thresholds: tuple[Float, Float, Float] = (0.6, 0.7, 0.7)  # MTCNN P/R/O-net thresholds
    min_score: Float = 0.92  # detections below this confidence are dropped
    batch: bool = False  # facenet-pytorch's batched detect on each chunk (slower here: 2 cores)
    refresh: Int = 16  # full MTCNN every N sampled frames, new window, lost face; else O-Net
    dim_range: Int = 128  # MTCNN sees frames whose 0.1-99.9th percentiles span less stretched
    max_gain: Float = 8.0  # the most that stretch multiplies levels by (black frames' noise)
    retry_min_score: Float | None = 0.8  # no face track: rescan, all stretched, at this score


@dataclass
class TrackConfig:
    """Associating detections across sampled frames into identity tracks."""

    __pydantic_config__ = FORBID_EXTRA

    iou: Float = 0.3  # minimum IoU between a track's last box and a new detection
    max_gap: Int = 5  # sampled frames a track may miss before it ends
    min_length: Int = 4  # tracks with fewer faces are dropped
    min_mean_score: Float = 0.95  # tracks whose mean detection score is lower are dropped
    retry_min_mean_score: Float = 0.8  # min_mean_score of the low-light retry (detect.retry_*)


@dataclass
class CropConfig:
    """Face and eye crops stored in the shards."""

    __pydantic_config__ = FORBID_EXTRA

    margin: Float = 1.3  # square crop side = margin x the box's longer side
    size: Int = 224  # face crops are resized to size x size
    eye_size: Int = 32  # eye patches are eye_size x eye_size
    jpeg_quality: Int = 95  # JPEG quality of the stored crops
    blur_min: Float | None = None  # drop crops whose Laplacian variance is below (seed: 30)


@dataclass
class ScanConfig:
    """Everything that decides what a scan writes; its hash goes into every manifest row."""

    __pydantic_config__ = FORBID_EXTRA

    sampling: str = "clip:32@10"  # `uniform:N` or `clip:T@FPS[xK]` (K windows of T frames)
    chunk_size: Int = 32  # frames decoded at once; bounds memory whatever the video length
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


@functools.cache
def _adapter(cls: type) -> TypeAdapter:
    return TypeAdapter(cls)


def _section(cls: Any, loc: tuple[Any, ...]) -> Any:
    """The settings class at `loc` below `cls` (for naming the keys a section knows)."""
    for part in loc:
        hints = typing.get_type_hints(cls) if dataclasses.is_dataclass(cls) else {}
        cls = hints.get(part)
    return cls


def _explain(exc: ValidationError, cls: type, source: str) -> str:
    """pydantic's errors as lines that name each setting by its dotted path, and the file."""
    lines = []
    for err in exc.errors():
        loc = tuple(p for p in err["loc"] if not isinstance(p, int) or p >= 0)
        name = ".".join(str(p) for p in loc) or cls.__name__
        if err["type"] == "unexpected_keyword_argument":
            section = _section(cls, loc[:-1])
            known = sorted(f.name for f in dataclasses.fields(section)) if section else []
            lines.append(f"unknown setting {name!r}; known here: {', '.join(known)}")
        else:
            lines.append(f"setting {name}: {err['msg'].lower()}, got {err.get('input')!r}")
    where = f"{source}: " if source else ""
    return where + "; ".join(lines)


def from_dict(cls: type[T], data: dict[str, Any], source: str = "") -> T:
    """Build and validate dataclass `cls` from a mapping (`source` names the file in errors)."""
    try:
        return _adapter(cls).validate_python(data)
    except ValidationError as exc:
        raise ValueError(_explain(exc, cls, source)) from None


class _Loader(yaml.SafeLoader):
    """PyYAML's safe loader, also reading `1e-4` as a number (YAML 1.2; 1.1 wants `1.0e-4`)."""


_Loader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(r"^[-+]?(\d+\.?\d*|\.\d+)[eE][-+]?\d+$"),
    list("-+0123456789."),
)


def load_yaml(text: str) -> Any:
    """Parse YAML settings text (safe: plain data only)."""
    return yaml.load(text, Loader=_Loader)  # a SafeLoader subclass: plain data only


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
        node[parts[-1]] = load_yaml(raw)
    return data


def load_config(
    cls: type[T], path: str | Path | None = None, overrides: list[str] | None = None
) -> T:
    """Load `cls` from a YAML file (or its defaults when `path` is None) plus overrides."""
    data: dict[str, Any] = {}
    if path is not None:
        text = Path(path).read_text()
        data = load_yaml(text) or {}
        if not isinstance(data, dict):
            raise ValueError(f"{path}: expected a mapping at the top level")
    data = apply_overrides(data, overrides or [])
    return from_dict(cls, data, str(path) if path is not None else "")
