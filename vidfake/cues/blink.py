"""Eye aspect ratio, blink events and per-track blink statistics from dlib's 68 points.

EAR follows Soukupová and Čech (2016). Blinks are dips of the EAR below a threshold relative to
the track's own open-eye baseline (a rolling high percentile), so it adapts to face size, eye
shape and slow changes of pose; frames turned too far from the camera are not used. Method and
thresholds: docs/blinks.md.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

LEFT_EYE = slice(36, 42)  # iBUG 300-W points 37-42, the subject's right eye (image left)
RIGHT_EYE = slice(42, 48)

MIN_FPS = 10.0  # blinks last 100-400 ms: slower sampling misses them
BASELINE_WINDOW_S = 3.0  # rolling window of the open-eye baseline
BASELINE_PERCENTILE = 75.0  # the eyes are open most of the time, so a high percentile is "open"
CLOSE_DROP = 0.30  # a blink reaches an EAR below (1 - CLOSE_DROP) x baseline
EDGE_DROP = 0.15  # and spans the frames around it below (1 - EDGE_DROP) x baseline
MAX_BLINK_S = 1.5  # longer closures are counted as closed eyes, not as a blink
MERGE_GAP = 1  # closed runs this many frames apart are one blink (a one-frame landmark glitch)
MAX_GAP_S = 0.1  # missing frames up to this long are bridged by interpolation
MIN_TRACK_S = 1.0  # shorter tracks (valid frames) give NaN statistics
MIN_YAW_RATIO = 0.5  # frames whose left/right face-half ratio is lower are profile: invalid


@dataclass(frozen=True)
class BlinkEvent:
    """One blink: first and last frame (positions in the track's timeline, inclusive)."""

    start: int
    end: int
    duration: float  # seconds, (end - start + 1) / fps
    min_ear: float  # lowest EAR during the blink
    depth: float  # 1 - min_ear / baseline at the lowest point


BLINK_FEATURES: tuple[str, ...] = (
    "blink_valid",  # 1 if the statistics below were measured, 0 if they are fill values
    "blinks_per_min",
    "mean_duration",  # seconds
    "mean_interval",  # seconds between blink starts
    "median_interval",
    "closed_fraction",  # fraction of valid frames with closed eyes
    "ear_baseline",  # median open-eye EAR
    "mean_depth",  # mean relative EAR drop of the blinks
    "valid_fraction",  # fraction of the track's frames with usable landmarks
)

# Fill values used when a statistic is undefined (NaN): 0 for rates and fractions; intervals
# take the observed duration (no second blink was seen within it); the feature `blink_valid`
# tells the model which values were measured.
FEATURE_FILL = {
    "blink_valid": 0.0,
    "blinks_per_min": 0.0,
    "mean_duration": 0.0,
    "mean_interval": None,  # the observed duration
    "median_interval": None,
    "closed_fraction": 0.0,
    "ear_baseline": 0.0,
    "mean_depth": 0.0,
    "valid_fraction": 0.0,
}


def _eye_ratio(eye: np.ndarray) -> float:
    """EAR of one eye's six points p1..p6."""
    width = np.linalg.norm(eye[0] - eye[3])
    if not np.isfinite(width) or width <= 1e-6:
        return float("nan")
    height = np.linalg.norm(eye[1] - eye[5]) + np.linalg.norm(eye[2] - eye[4])
    return float(height / (2.0 * width))


def eye_aspect_ratio(pts68: np.ndarray | None) -> float:
    """Mean eye aspect ratio of both eyes from 68 landmarks; NaN if the points are unusable."""
    if pts68 is None:
        return float("nan")
    pts = np.asarray(pts68, dtype=np.float64).reshape(-1, 2)
    if pts.shape != (68, 2) or not np.isfinite(pts).all():
        return float("nan")
    return float(np.mean([_eye_ratio(pts[LEFT_EYE]), _eye_ratio(pts[RIGHT_EYE])]))


def yaw_ratio(pts68: np.ndarray | None) -> float:
    """Frontalness in [0, 1]: nose-tip distance to the nearer jaw side over the farther one."""
    if pts68 is None:
        return float("nan")
    pts = np.asarray(pts68, dtype=np.float64).reshape(-1, 2)
    if pts.shape != (68, 2) or not np.isfinite(pts).all():
        return float("nan")
    left = np.linalg.norm(pts[30] - pts[2])
    right = np.linalg.norm(pts[30] - pts[14])
    far = max(left, right)
    return float(min(left, right) / far) if far > 0 else float("nan")


def frame_cue(pts68: np.ndarray | None) -> tuple[float, str | None]:
    """EAR of one face with the reason it is unusable (None when usable): for timelines."""
    if pts68 is None:
        return float("nan"), "no landmarks"
    ear = eye_aspect_ratio(pts68)
    if not np.isfinite(ear):
        return float("nan"), "degenerate eye landmarks"
    yaw = yaw_ratio(pts68)
    if not np.isfinite(yaw) or yaw < MIN_YAW_RATIO:
        return ear, "profile face"
    return ear, None


def _bridge_gaps(ear: np.ndarray, max_gap: int) -> np.ndarray:
    """Linearly interpolate NaN runs of at most `max_gap` frames that have data on both sides."""
    out = ear.copy()
    good = np.flatnonzero(np.isfinite(ear))
    if good.size < 2:
        return out
    for a, b in zip(good[:-1], good[1:], strict=True):
        if 1 < b - a <= max_gap + 1:
            out[a + 1 : b] = np.interp(np.arange(a + 1, b), [a, b], [ear[a], ear[b]])
    return out


def open_eye_baseline(ear: np.ndarray, fps: float) -> np.ndarray:
    """Rolling open-eye EAR: the BASELINE_PERCENTILE of valid values within a few seconds."""
    half = max(1, int(round(BASELINE_WINDOW_S * fps / 2)))
    base = np.full(ear.shape, np.nan)
    for i in range(len(ear)):
        window = ear[max(0, i - half) : i + half + 1]
        if np.isfinite(window).sum() >= max(3, half // 2):
            base[i] = np.nanpercentile(window, BASELINE_PERCENTILE)
    return base


def _prepare(ear: np.ndarray, fps: float, valid: np.ndarray | None) -> np.ndarray:
    """EAR with invalid frames blanked and short gaps bridged; checks the sampling rate."""
    if fps < MIN_FPS:
        raise ValueError(f"blinks need contiguous frames at {MIN_FPS:g} fps or more, got {fps:g}")
    x = np.asarray(ear, dtype=np.float64).ravel()
    if valid is not None:
        mask = np.asarray(valid, dtype=bool).ravel()
        if mask.shape != x.shape:
            raise ValueError(f"valid has {mask.size} frames, ear has {x.size}")
        x = np.where(mask, x, np.nan)
    return _bridge_gaps(x, int(MAX_GAP_S * fps))


def _cores(closed: np.ndarray) -> list[tuple[int, int]]:
    """Runs of closed frames; runs split by one open frame (a landmark glitch) are joined."""
    runs: list[tuple[int, int]] = []
    for i in np.flatnonzero(closed):
        if runs and i - runs[-1][1] <= MERGE_GAP + 1:
            runs[-1] = (runs[-1][0], int(i))
        else:
            runs.append((int(i), int(i)))
    return runs


def _drop_glitches(x: np.ndarray, base: np.ndarray) -> np.ndarray:
    """Single open-eye frames between two frames below the edge threshold, interpolated.

    The lids cannot open and close again between two consecutive frames (the reopening phase
    of a blink alone takes 100 ms or more), so such a frame is a landmark glitch.
    """
    with np.errstate(invalid="ignore"):
        low = x / base < 1.0 - EDGE_DROP
    out = x.copy()
    inside = np.flatnonzero(low[:-2] & ~low[1:-1] & low[2:]) + 1
    out[inside] = (x[inside - 1] + x[inside + 1]) / 2
    return out


def _relative(ear: np.ndarray, fps: float, valid: np.ndarray | None) -> np.ndarray:
    """EAR over the rolling open-eye baseline, gaps bridged and one-frame glitches removed."""
    x = _prepare(ear, fps, valid)
    base = open_eye_baseline(x, fps)
    with np.errstate(invalid="ignore"):
        return _drop_glitches(x, base) / base


def detect_blinks(ear: np.ndarray, fps: float, valid: np.ndarray | None = None) -> list[BlinkEvent]:
    """Blink events in a per-frame EAR timeline (NaN = missing frame; `valid` False = unusable)."""
    x = _prepare(ear, fps, valid)
    rel = _relative(ear, fps, valid)
    closed = rel < 1.0 - CLOSE_DROP
    edge = rel < 1.0 - EDGE_DROP
    events: list[BlinkEvent] = []
    prev_end = -1
    for core_start, core_end in _cores(closed):
        start, end = core_start, core_end
        while start - 1 > prev_end and edge[start - 1] and not closed[start - 1]:
            start -= 1
        while end + 1 < len(x) and edge[end + 1] and not closed[end + 1]:
            end += 1
        prev_end = end
        length = end - start + 1
        if length / fps > MAX_BLINK_S:
            continue
        seg = x[start : end + 1]
        low = int(np.nanargmin(seg))
        events.append(
            BlinkEvent(
                start=start,
                end=end,
                duration=length / fps,
                min_ear=float(seg[low]),
                depth=float(1.0 - rel[start + low]),
            )
        )
    return events


def closed_mask(ear: np.ndarray, fps: float, valid: np.ndarray | None = None) -> np.ndarray:
    """Frames whose EAR is below the closing threshold of the rolling baseline."""
    with np.errstate(invalid="ignore"):
        return _relative(ear, fps, valid) < 1.0 - CLOSE_DROP


def _nan_stats(reason: str, n_frames: int, fps: float, valid_fraction: float) -> dict:
    """Statistics of a track on which blinks could not be measured, with the reason."""
    stats = {name: float("nan") for name in BLINK_FEATURES}
    stats.update(
        blink_valid=0.0,
        valid_fraction=valid_fraction,
        n_blinks=float("nan"),
        duration_s=n_frames / fps if fps > 0 else float("nan"),
        reason=reason,
    )
    return stats


def blink_stats(
    events: list[BlinkEvent], n_frames: int, fps: float, ear: np.ndarray | None
) -> dict:
    """Per-track statistics (keys: BLINK_FEATURES + n_blinks, duration_s, reason)."""
    x = np.full(n_frames, np.nan) if ear is None else np.asarray(ear, dtype=np.float64).ravel()
    n_valid = int(np.isfinite(x).sum())
    valid_fraction = n_valid / n_frames if n_frames else 0.0
    if fps < MIN_FPS:
        return _nan_stats(f"sampled at {fps:g} fps, below {MIN_FPS:g}", n_frames, fps, 0.0)
    if n_valid == 0:
        return _nan_stats("no usable eye landmarks", n_frames, fps, valid_fraction)
    if n_valid / fps < MIN_TRACK_S:
        return _nan_stats(
            f"track too short: {n_valid / fps:.2f} s of usable frames, need {MIN_TRACK_S:g}",
            n_frames,
            fps,
            valid_fraction,
        )
    seconds = n_valid / fps
    starts = np.array([e.start for e in events], dtype=np.float64) / fps
    intervals = np.diff(starts)
    closed = closed_mask(x, fps)
    return {
        "blink_valid": 1.0,
        "blinks_per_min": 60.0 * len(events) / seconds,
        "mean_duration": float(np.mean([e.duration for e in events])) if events else np.nan,
        "mean_interval": float(intervals.mean()) if intervals.size else np.nan,
        "median_interval": float(np.median(intervals)) if intervals.size else np.nan,
        "closed_fraction": float(closed.sum() / n_valid),
        "ear_baseline": float(np.nanmedian(open_eye_baseline(x, fps))),
        "mean_depth": float(np.mean([e.depth for e in events])) if events else np.nan,
        "valid_fraction": valid_fraction,
        "n_blinks": float(len(events)),
        "duration_s": n_frames / fps,
        "reason": None,
    }


def blink_features(stats: dict) -> np.ndarray:
    """The fixed-length, NaN-free float32 vector in BLINK_FEATURES order (fills: FEATURE_FILL)."""
    observed = stats.get("duration_s", 0.0)
    observed = float(observed) if np.isfinite(observed) else 0.0
    out = np.empty(len(BLINK_FEATURES), dtype=np.float32)
    for k, name in enumerate(BLINK_FEATURES):
        value = stats.get(name, float("nan"))
        if value is None or not np.isfinite(value):
            fill = FEATURE_FILL[name]
            value = observed if fill is None else fill
        out[k] = value
    return out


def analyse_track(
    positions: np.ndarray, ear: np.ndarray, fps: float
) -> tuple[np.ndarray, list[BlinkEvent], dict]:
    """Dense EAR timeline (NaN where the track has no usable face), its blinks and statistics.

    `positions` are consecutive-sample numbers (frame indices when every frame was sampled) and
    `fps` the sampling rate; `ear` is NaN for frames without usable landmarks. Event start/end
    are offsets from `positions.min()`. Never raises for short or empty tracks: their statistics
    are NaN with a `reason`.
    """
    pos = np.asarray(positions, dtype=np.int64).ravel()
    values = np.asarray(ear, dtype=np.float64).ravel()
    if pos.shape != values.shape:
        raise ValueError(f"{pos.size} positions but {values.size} EAR values")
    if pos.size == 0:
        return np.zeros(0), [], blink_stats([], 0, fps, None)
    timeline = np.full(int(pos.max() - pos.min()) + 1, np.nan)
    timeline[pos - pos.min()] = values
    stats = blink_stats([], timeline.size, fps, timeline)
    if not stats["blink_valid"]:
        return timeline, [], stats
    events = detect_blinks(timeline, fps)
    return timeline, events, blink_stats(events, timeline.size, fps, timeline)


def sampled_track_stats(
    timestamps: np.ndarray, clip_index: np.ndarray, ear: np.ndarray, fps: float
) -> dict:
    """Blink statistics of one track sampled as clips (`clip:T@FPS[xK]`), merged over clips.

    Each clip is a separate timeline (positions from its timestamps at `fps`); the statistics
    of the clips with valid blink measurements are averaged weighted by their duration, and
    blink counts and durations add up. NaN statistics with a reason when no clip is usable.
    """
    ts = np.asarray(timestamps, dtype=np.float64).ravel()
    clips = np.asarray(clip_index).ravel()
    values = np.asarray(ear, dtype=np.float64).ravel()
    if not ts.size == clips.size == values.size:
        raise ValueError(f"{ts.size} timestamps, {clips.size} clip indices, {values.size} EARs")
    parts = []
    for c in np.unique(clips):
        sel = clips == c
        if not np.isfinite(values[sel]).any():
            continue
        pos = np.round((ts[sel] - ts[sel].min()) * fps).astype(np.int64)
        pos, first = np.unique(pos, return_index=True)
        parts.append(analyse_track(pos, values[sel][first], fps)[2])
    valid = [s for s in parts if s.get("blink_valid")]
    if not valid:
        reason = parts[0]["reason"] if parts else "no usable eye landmarks"
        return _nan_stats(reason, int(ts.size), fps, 0.0)
    weights = np.array([s["duration_s"] for s in valid])
    merged: dict = {"reason": None}
    for name in BLINK_FEATURES:
        v = np.array([s[name] for s in valid], dtype=np.float64)
        ok = np.isfinite(v)
        merged[name] = float(np.average(v[ok], weights=weights[ok])) if ok.any() else np.nan
    merged["n_blinks"] = float(sum(s["n_blinks"] for s in valid))
    merged["duration_s"] = float(weights.sum())
    return merged
