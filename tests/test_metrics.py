"""Metrics at sequence and video level against hand-computed values."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from vidfake.metrics import (
    binary_metrics,
    choose_threshold,
    eer,
    evaluate_predictions,
    roc_points,
    video_scores,
)


def test_perfect_separation() -> None:
    m = binary_metrics(np.array([0, 0, 1, 1]), np.array([0.1, 0.2, 0.8, 0.9]))
    assert m["auc"] == 1.0 and m["ap"] == 1.0 and m["accuracy"] == 1.0 and m["eer"] == 0.0
    assert m["log_loss"] == pytest.approx(-np.mean(np.log([0.9, 0.8, 0.8, 0.9])))


def test_one_class_gives_nan_auc_not_an_error() -> None:
    m = binary_metrics(np.array([1, 1]), np.array([0.3, 0.9]))
    assert math.isnan(m["auc"]) and m["accuracy"] == 0.5
    assert choose_threshold(np.array([1, 1]), np.array([0.3, 0.9])) == 0.5


def test_eer_of_overlapping_scores() -> None:
    labels = np.array([0, 0, 0, 0, 1, 1, 1, 1])
    scores = np.array([0.1, 0.2, 0.3, 0.6, 0.4, 0.7, 0.8, 0.9])
    rate, thr = eer(labels, scores)
    assert rate == pytest.approx(0.25)
    assert 0.4 <= thr <= 0.6


def test_video_score_is_max_over_tracks_of_mean_over_sequences() -> None:
    seq = pd.DataFrame(
        {
            "video_id": ["a", "a", "a", "a", "b", "b"],
            "track_id": [0, 0, 1, 1, 0, 0],
            "label": [1, 1, 1, 1, 0, 0],
            "prob": [0.2, 0.4, 0.9, 0.5, 0.1, 0.3],
        }
    )
    videos = video_scores(seq).set_index("video_id")
    assert videos.loc["a", "prob"] == pytest.approx(0.7)
    assert videos.loc["b", "prob"] == pytest.approx(0.2)
    out = evaluate_predictions(seq)
    assert out["video_auc"] == 1.0 and out["video_n"] == 2 and out["seq_n"] == 6


def test_roc_points_span_the_curve() -> None:
    roc = roc_points(np.array([0, 1, 0, 1]), np.array([0.2, 0.7, 0.4, 0.9]))
    assert roc["fpr"].iloc[0] == 0 and roc["tpr"].iloc[-1] == 1 and roc["fpr"].iloc[-1] == 1
