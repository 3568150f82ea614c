"""Devset evaluation: the source rule, the bootstrap interval, per-source figures, end to end.

The end-to-end test builds its own tiny labelled folder: two bundled real clips (cut to 2 s),
two synthetic self-blended fakes of them (made here, marked synthetic) and one damaged file
labelled real; it never reads the real devset, which CI does not have.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest
from damaged_media import make_damaged

from vidfake.cli import main
from vidfake.devset import (
    UNSCORED_SCORE,
    devset_metrics,
    list_devset,
    shards_key,
    source_of,
)
from vidfake.media import cut
from vidfake.metrics import bootstrap_auc
from vidfake.scoring.scorer import Scorer
from vidfake.synth import make_synthetic_fake

CLIPS = ("retalking_3.mp4", "cosanlab__single_face.mp4")


@pytest.mark.parametrize(
    ("name", "label", "source", "dataset"),
    [
        ("ffc40_df_183_253.mp4", 1, "FF++ Deepfakes", "FF++"),
        ("ffc40_f2f_253_183.mp4", 1, "FF++ Face2Face", "FF++"),
        ("ffc40_fs_469_481.mp4", 1, "FF++ FaceSwap", "FF++"),
        ("ffc40_nt_866_878.mp4", 1, "FF++ NeuralTextures", "FF++"),
        ("ffc40_xx_866_878.mp4", 1, "FF++ fake", "FF++"),
        ("ffc40_183.mp4", 0, "FF++ real", "FF++"),
        ("celebdf_id0_id1_0005_segment_1.mp4", 1, "Celeb-DF", "Celeb-DF"),
        ("celebdf_00279_segment_1.mp4", 0, "Celeb-DF real", "Celeb-DF"),
        ("mead_M030_front_angry_level3_001.mp4", 0, "MEAD real", "MEAD"),
        ("dreamtalk_acknowledgement_chinese_M030_zp1.mp4", 1, "DreamTalk", "DreamTalk"),
        ("cosanlab__single_face.mp4", 0, "cosanlab real", "cosanlab"),
        ("synthetic_fake__x.mp4", 1, "synthetic", "synthetic"),
    ],
)
def test_source_rule(name: str, label: int, source: str, dataset: str) -> None:
    assert source_of(name, label) == (source, dataset)


def test_lists_labels_csv_or_class_folders(tmp_path: Path) -> None:
    by_csv = tmp_path / "csv"
    (by_csv / "clips").mkdir(parents=True)
    (by_csv / "labels.csv").write_text(
        "path,label\nclips/ffc40_1.mp4,0\nclips/ffc40_nt_1_2.mp4,1\n"
    )
    videos = list_devset(by_csv)
    assert [(Path(v.path).name, v.label, v.source) for v in videos] == [
        ("ffc40_1.mp4", 0, "FF++ real"),
        ("ffc40_nt_1_2.mp4", 1, "FF++ NeuralTextures"),
    ]
    assert Path(videos[0].path).is_absolute()
    by_folder = tmp_path / "folder"
    for sub, name in (("real", "mead_a.mp4"), ("fake", "dreamtalk_b.mp4")):
        (by_folder / sub).mkdir(parents=True)
        (by_folder / sub / name).write_bytes(b"")
    assert {(v.source, v.label) for v in list_devset(by_folder)} == {
        ("MEAD real", 0),
        ("DreamTalk", 1),
    }
    (by_csv / "labels.csv").write_text("path,label\nclips/a.mp4,-1\n")
    with pytest.raises(ValueError, match="label 0 or 1"):
        list_devset(by_csv)


def _separable(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """n reals ~ N(0, 1) and n fakes ~ N(1, 1): an AUC near 0.76, strictly inside (0, 1)."""
    rng = np.random.default_rng(seed)
    labels = np.r_[np.zeros(n, int), np.ones(n, int)]
    return labels, np.r_[rng.normal(0, 1, n), rng.normal(1, 1, n)]


def test_bootstrap_interval_holds_the_estimate_and_narrows_with_data() -> None:
    from sklearn.metrics import roc_auc_score

    labels, scores = _separable(30, 0)
    auc, lo, hi = bootstrap_auc(labels, scores, resamples=1000, seed=0)
    assert auc == pytest.approx(roc_auc_score(labels, scores))
    assert lo < auc < hi and 0.0 < lo and hi < 1.0
    big_labels, big_scores = _separable(600, 0)
    _, big_lo, big_hi = bootstrap_auc(big_labels, big_scores, resamples=1000, seed=0)
    assert big_hi - big_lo < 0.5 * (hi - lo)


def test_bootstrap_is_reproducible_by_seed() -> None:
    labels, scores = _separable(20, 1)
    first = bootstrap_auc(labels, scores, resamples=500, seed=7)
    assert bootstrap_auc(labels, scores, resamples=500, seed=7) == first
    assert bootstrap_auc(labels, scores, resamples=500, seed=8) != first


def test_perfect_separation_gives_auc_one_and_a_point_interval() -> None:
    labels = np.array([0, 0, 0, 1, 1, 1])
    assert bootstrap_auc(labels, np.array([0.1, 0.2, 0.3, 0.7, 0.8, 0.9])) == (1.0, 1.0, 1.0)


def test_bootstrap_without_both_classes_is_nan() -> None:
    assert all(np.isnan(bootstrap_auc(np.array([1, 1]), np.array([0.2, 0.4]))))
    auc, lo, hi = bootstrap_auc(np.array([0, 0, 1]), np.array([0.1, 0.2, 0.9]))
    assert auc == 1.0 and np.isnan(lo) and np.isnan(hi)  # one fake: nothing to resample


def _row(name: str, label: int, score: float | None, status: str = "ok") -> dict:
    source, dataset = source_of(name, label)
    used = UNSCORED_SCORE if score is None else score
    return {
        "path": name,
        "source": source,
        "dataset": dataset,
        "label": label,
        "status": status,
        "score": score,
        "score_used": used,
        "verdict": "fake" if used >= 0.6 else "real",
        "error": "",
    }


def test_per_source_figures_pair_fakes_with_their_datasets_reals() -> None:
    rows = [
        _row("ffc40_1.mp4", 0, 0.1),
        _row("ffc40_2.mp4", 0, 0.2),
        _row("mead_a.mp4", 0, 0.9),
        _row("mead_b.mp4", 0, 0.3),
        _row("ffc40_df_1_2.mp4", 1, 0.8),
        _row("ffc40_df_2_1.mp4", 1, 0.7),
        _row("dreamtalk_x.mp4", 1, 0.4),
        _row("dreamtalk_y.mp4", 1, None, "no_face"),
    ]
    m = devset_metrics(rows, resamples=200, seed=0)
    src = {s["source"]: s for s in m["sources"]}
    assert set(src) == {"FF++ real", "MEAD real", "FF++ Deepfakes", "DreamTalk"}
    df = src["FF++ Deepfakes"]
    assert df["same_dataset_reals"] == "FF++" and df["vs_same_dataset_reals"]["auc"] == 1.0
    assert df["vs_all_reals"]["auc"] == pytest.approx(0.75)  # both fakes under the 0.9 real
    dt = src["DreamTalk"]
    assert dt["same_dataset_reals"] == "MEAD" and dt["no_face"] == 1 and dt["n"] == 2
    # the unscored fake enters at 0.5: like the 0.4 fake, under MEAD's 0.9, over its 0.3
    assert dt["vs_same_dataset_reals"]["auc"] == pytest.approx(0.5)
    assert src["MEAD real"]["fpr"] == 0.5 and src["FF++ real"]["fpr"] == 0.0
    o = m["overall"]
    assert (o["n"], o["reals"], o["fakes"], o["no_face"], o["error"]) == (8, 4, 4, 1, 0)
    assert o["tpr"] == 0.5 and o["fpr"] == 0.25 and o["accuracy"] == pytest.approx(5 / 8)
    assert {d["dataset"]: d["reals_of"] for d in m["datasets"]} == {
        "FF++": "FF++",
        "DreamTalk": "MEAD",
    }


@pytest.fixture(scope="module")
def tiny_devset(tmp_path_factory, sample_dir) -> Path:
    """2 bundled real clips (2 s), 2 synthetic fakes of them, 1 damaged file labelled real."""
    root = tmp_path_factory.mktemp("devset")
    (root / "real").mkdir()
    (root / "fake").mkdir()
    lines = ["path,label"]
    for seed, clip in enumerate(CLIPS):
        real = root / "real" / f"bundled_{clip}"
        cut(sample_dir / "clips" / clip, real, duration=2.0)
        make_synthetic_fake(real, root / "fake" / f"bundled_synthetic_{clip}", seed=seed)
        lines += [f"real/bundled_{clip},0", f"fake/bundled_synthetic_{clip},1"]
    make_damaged("random_bytes", root / "real" / "broken_noise.mp4")
    lines.append("real/broken_noise.mp4,0")
    (root / "labels.csv").write_text("\n".join(lines) + "\n")
    return root


@pytest.mark.slow
def test_eval_devset_end_to_end(tiny_devset: Path, tmp_path: Path, ray_cluster, capsys) -> None:
    cache, out = tmp_path / "cache", tmp_path / "metrics.json"
    argv = ["eval", "--devset", str(tiny_devset), "--model", "default", "--out", str(out)]
    argv += ["--cache", str(cache), "--resamples", "200", "--no-progress"]
    assert main(argv) == 1  # the damaged file could not be scanned
    m = json.loads(out.read_text())
    with (tiny_devset / "labels.csv").open() as fh:
        listed = {r["path"]: int(r["label"]) for r in csv.DictReader(fh)}
    assert {r["path"]: r["label"] for r in m["videos"]} == listed  # one row per video
    broken = next(r for r in m["videos"] if r["path"] == "real/broken_noise.mp4")
    assert broken["status"] == "error" and broken["score"] is None
    assert broken["score_used"] == UNSCORED_SCORE
    good = [r for r in m["videos"] if r is not broken]
    assert all(r["status"] == "ok" and 0.0 <= r["score"] <= 1.0 for r in good)
    src = {s["source"]: s for s in m["sources"]}
    assert set(src) == {"bundled real", "bundled", "broken real"}
    fakes = src["bundled"]
    assert fakes["n"] == 2 and fakes["same_dataset_reals"] == "bundled"
    assert 0.0 <= fakes["vs_all_reals"]["auc"] <= 1.0
    assert 0.0 <= fakes["vs_same_dataset_reals"]["auc"] <= 1.0
    assert m["overall"]["error"] == 1 and m["overall"]["n"] == 5
    scorer = Scorer(None)
    assert Path(m["scan"]["shards"]) == cache / shards_key(scorer)
    assert m["scan"]["scanned"] == 5 and m["threshold"] == pytest.approx(scorer.threshold)
    table = capsys.readouterr().out
    assert "bundled real" in table and "overall AUC" in table

    assert main(argv) == 1
    again = json.loads(out.read_text())
    assert again["scan"]["scanned"] == 0 and again["scan"]["reused"] == 5  # the scan is reused
    assert again["overall"] == m["overall"]
