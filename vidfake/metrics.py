"""Detection metrics with scikit-learn, at sequence level and video level.

A video's score is the max over its tracks of the mean over each track's sequences: a video is
fake if any person in it is. The decision threshold is chosen on validation (at the EER point).
`bootstrap_auc` gives a video-level ROC AUC with a stratified bootstrap interval.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats
from sklearn import metrics as skm

METRIC_NAMES = ("auc", "ap", "log_loss", "accuracy", "eer")


def sigmoid(x: np.ndarray) -> np.ndarray:
    """Logits to probabilities."""
    return 1.0 / (1.0 + np.exp(-np.asarray(x, dtype=np.float64)))


def eer(labels: np.ndarray, scores: np.ndarray) -> tuple[float, float]:
    """Equal error rate and the score threshold where false accepts equal false rejects."""
    fpr, tpr, thr = skm.roc_curve(labels, scores)
    fnr = 1.0 - tpr
    i = int(np.nanargmin(np.abs(fnr - fpr)))
    return float((fpr[i] + fnr[i]) / 2.0), float(min(thr[i], 1.0))


def binary_metrics(
    labels: np.ndarray, probs: np.ndarray, threshold: float = 0.5
) -> dict[str, float]:
    """ROC AUC, average precision, log loss, accuracy at `threshold`, and EER; NaN when undefined."""
    y = np.asarray(labels, dtype=int)
    p = np.clip(np.asarray(probs, dtype=np.float64), 1e-7, 1 - 1e-7)
    out = {name: math.nan for name in METRIC_NAMES}
    out["n"] = float(len(y))
    if len(y) == 0:
        return out
    out["accuracy"] = float(skm.accuracy_score(y, p >= threshold))
    out["log_loss"] = float(skm.log_loss(y, p, labels=[0, 1]))
    if len(np.unique(y)) == 2:
        out["auc"] = float(skm.roc_auc_score(y, p))
        out["ap"] = float(skm.average_precision_score(y, p))
        out["eer"] = eer(y, p)[0]
    return out


def video_scores(seq: pd.DataFrame) -> pd.DataFrame:
    """Per-video score from window rows (`video_id, track_id, label, prob`): the mean over
    each track's windows, the maximum over tracks, as the scorer's default `mean` aggregate."""
    tracks = seq.groupby(["video_id", "track_id"], as_index=False).agg(
        prob=("prob", "mean"), label=("label", "first")
    )
    return tracks.groupby("video_id", as_index=False).agg(
        prob=("prob", "max"), label=("label", "first")
    )


def evaluate_predictions(seq: pd.DataFrame, threshold: float = 0.5) -> dict[str, Any]:
    """Sequence- and video-level metrics as one flat dict (`seq_auc`, `video_auc`, ...)."""
    videos = video_scores(seq)
    out: dict[str, Any] = {}
    for prefix, frame in (("seq", seq), ("video", videos)):
        for key, value in binary_metrics(frame["label"], frame["prob"], threshold).items():
            out[f"{prefix}_{key}"] = value
    return out


def choose_threshold(labels: np.ndarray, probs: np.ndarray) -> float:
    """The validation threshold: the EER point, or 0.5 when only one class is present."""
    y = np.asarray(labels, dtype=int)
    if len(np.unique(y)) < 2:
        return 0.5
    return eer(y, np.asarray(probs, dtype=np.float64))[1]


def roc_points(labels: np.ndarray, probs: np.ndarray) -> pd.DataFrame:
    """The ROC curve as a table: false positive rate, true positive rate, threshold."""
    fpr, tpr, thr = skm.roc_curve(np.asarray(labels, dtype=int), np.asarray(probs))
    return pd.DataFrame({"fpr": fpr, "tpr": tpr, "threshold": np.minimum(thr, 1.0)})


def _auc_u(fake: np.ndarray, real: np.ndarray, axis: int = -1) -> np.ndarray:
    """ROC AUC of fakes over reals as the Mann-Whitney U over pairs, vectorised for resampling."""
    u = stats.mannwhitneyu(fake, real, axis=axis).statistic
    return u / (fake.shape[axis] * real.shape[axis])


def bootstrap_auc(
    labels: np.ndarray,
    scores: np.ndarray,
    resamples: int = 2000,
    seed: int = 0,
    level: float = 0.95,
) -> tuple[float, float, float]:
    """ROC AUC and its percentile bootstrap interval `(auc, low, high)`, reproducible by `seed`.

    Resampling is stratified: reals and fakes are each drawn with replacement at their own
    size, so every resample holds both classes. NaN throughout when a class is missing; the
    interval alone is NaN when a class has a single video (nothing to resample).
    """
    y = np.asarray(labels, dtype=int)
    s = np.asarray(scores, dtype=np.float64)
    fake, real = s[y == 1], s[y == 0]
    if fake.size == 0 or real.size == 0:
        return math.nan, math.nan, math.nan
    point = float(skm.roc_auc_score(y, s))
    if fake.size < 2 or real.size < 2:
        return point, math.nan, math.nan
    res = stats.bootstrap(
        (fake, real),
        _auc_u,
        n_resamples=resamples,
        vectorized=True,
        method="percentile",
        confidence_level=level,
        rng=np.random.default_rng(seed),
    )
    return point, float(res.confidence_interval.low), float(res.confidence_interval.high)
