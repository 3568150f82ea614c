"""Scoring a collection: aggregation, ranking, one row per input, resume, Ray and refusals.

The checkpoint here is an untrained tiny CNN+LSTM (random weights): these tests check the
machinery (every input gets a row, order, resume, details), not detection quality, which the
training and default-detector tests measure.
"""

from __future__ import annotations

import csv
import json
import shutil

import numpy as np
import pyarrow.parquet as pq
import pytest
from damaged_media import make_damaged

from vidfake.cli import main
from vidfake.scoring.collection import score_collection
from vidfake.scoring.ranking import rank_rows
from vidfake.scoring.scorer import aggregate

CLIPS = ("cosanlab__single_face.mp4", "OpenTalker__s.mp4")


@pytest.fixture(scope="module")
def tiny_ckpt(tiny_checkpoint):
    """A random tiny CNN+LSTM saved as a real vidfake checkpoint, scanning 8 frames at 10 fps."""
    return tiny_checkpoint("clip:8@10")


@pytest.fixture(scope="module")
def archive(tmp_path_factory, sample_dir):
    """Two real clips, a random-bytes file and a text file named .mp4 (both damaged on purpose)."""
    root = tmp_path_factory.mktemp("archive")
    for name in CLIPS:
        shutil.copy(sample_dir / "clips" / name, root / name)
    make_damaged("random_bytes", root / "noise.mp4")
    make_damaged("text", root / "notes.mp4")
    return root


def read_csv(path):
    with open(path, newline="") as fh:
        return list(csv.DictReader(fh))


def test_aggregates():
    p = np.array([0.1, 0.1, 0.9, 0.95, 0.92, 0.1, 0.1, 0.1, 0.1, 0.1])
    assert aggregate(p, "mean") == pytest.approx(p.mean())
    assert aggregate(p, "median") == pytest.approx(0.1)
    assert aggregate(p, "trimmed") == pytest.approx(np.sort(p)[1:-1].mean())
    assert aggregate(np.array([0.9, 0.95, 0.1, 0.85, 0.2]), "confident") == pytest.approx(0.9)
    assert aggregate(np.full(20, 0.05), "confident") == pytest.approx(0.05)
    with pytest.raises(ValueError, match="unknown aggregate"):
        aggregate(p, "max-ish")


def test_rank_rows_orders_scores_then_no_face_then_errors():
    rows = [
        {"path": "e", "status": "error", "score": float("nan")},
        {"path": "n", "status": "no_face", "score": float("nan")},
        {"path": "lo", "status": "ok", "score": 0.2},
        {"path": "hi", "status": "ok", "score": 0.9},
    ]
    assert [r["path"] for r in rank_rows(rows)] == ["hi", "lo", "n", "e"]
    assert [r["rank"] for r in rows] == [4, 3, 2, 1]


def test_local_scoring_gives_every_input_one_row(tmp_path, archive, tiny_ckpt):
    out = tmp_path / "scores.csv"
    details = tmp_path / "details.parquet"
    summary = score_collection(archive, out, tiny_ckpt, local=True, details=details, progress=False)
    rows = read_csv(out)
    assert sorted(r["path"].rsplit("/", 1)[1] for r in rows) == sorted(
        [*CLIPS, "noise.mp4", "notes.mp4"]
    )
    by_name = {r["path"].rsplit("/", 1)[1]: r for r in rows}
    for name in CLIPS:
        r = by_name[name]
        assert r["status"] == "ok" and int(r["frames_scored"]) > 0
        assert r["verdict"] == ("fake" if float(r["score"]) >= 0.5 else "real")  # threshold 0.5
    for name in ("noise.mp4", "notes.mp4"):
        assert by_name[name]["status"] == "error" and by_name[name]["error"]
    assert [int(r["rank"]) for r in rows] == [1, 2, 3, 4]
    assert summary.scored == 2 and summary.error == 2
    table = pq.read_table(details).to_pandas()
    assert set(table["path"].str.rsplit("/", n=1).str[1]) == set(CLIPS)
    assert table["prob"].between(0, 1).all()
    assert not out.with_name(out.name + ".partial.jsonl").exists()


def test_resume_scores_only_what_is_missing(tmp_path, archive, tiny_ckpt):
    out = tmp_path / "scores.csv"
    first = tmp_path / "first"
    first.mkdir()
    shutil.copy(archive / CLIPS[0], first / CLIPS[0])
    score_collection(first, out, tiny_ckpt, local=True, progress=False)
    before = read_csv(out)[0]
    partial = out.with_name(out.name + ".partial.jsonl")
    row = {"path": str(first / "noise.mp4"), "status": "error", "error": "from the log"}
    partial.write_text(json.dumps(row) + "\n" + '{"path": "cut sho')  # an interrupted run
    shutil.copy(archive / "noise.mp4", first / "noise.mp4")
    shutil.copy(archive / CLIPS[1], first / CLIPS[1])
    summary = score_collection(first, out, tiny_ckpt, local=True, progress=False)
    assert summary.skipped == 2 and summary.scored == 1
    rows = {r["path"]: r for r in read_csv(out)}
    assert len(rows) == 3
    assert rows[before["path"]]["score"] == before["score"]
    assert rows[str(first / "noise.mp4")]["error"] == "from the log"


def test_an_output_of_another_input_is_refused_not_merged(tmp_path, archive, tiny_ckpt, capsys):
    a, b = tmp_path / "a", tmp_path / "b"
    for folder, name in ((a, CLIPS[0]), (b, CLIPS[1])):
        folder.mkdir()
        shutil.copy(archive / name, folder / name)
    out = tmp_path / "s.csv"
    args = ["score", "--model", str(tiny_ckpt), "--local", "--no-progress", "-o", str(out)]
    assert main([*args, str(a)]) == 0
    assert main([*args, str(b)]) == 2
    assert "--force" in capsys.readouterr().err
    assert [r["path"] for r in read_csv(out)] == [str(a / CLIPS[0])]  # left as it was
    assert main([*args, str(b), "--force"]) == 0
    assert [r["path"] for r in read_csv(out)] == [str(b / CLIPS[1])]


def test_identical_files_at_two_paths_get_a_row_each(tmp_path, archive, tiny_ckpt, ray_cluster):
    from vidfake.datasets import list_items
    from vidfake.scanning import build_shards
    from vidfake.scoring.scorer import Scorer

    twins = tmp_path / "twins"
    twins.mkdir()
    for name in ("one.mp4", "two.mp4"):
        shutil.copy(archive / CLIPS[0], twins / name)
    shards = tmp_path / "shards"
    build_shards(list_items(twins), shards, Scorer(tiny_ckpt).scan_config(), progress=False)
    runs = {
        "shards": score_collection(shards, tmp_path / "s.csv", tiny_ckpt, progress=False),
        "local": score_collection(twins, tmp_path / "l.csv", tiny_ckpt, local=True, progress=False),
        "ray": score_collection(twins, tmp_path / "r.csv", tiny_ckpt, progress=False),
    }
    for how, summary in runs.items():
        rows = read_csv(summary.out_csv)
        assert sorted(r["path"].rsplit("/", 1)[1] for r in rows) == ["one.mp4", "two.mp4"], how
        assert rows[0]["video_id"] == rows[1]["video_id"], how
        assert [r["status"] for r in rows] == ["ok", "ok"], how
        assert rows[0]["score"] == rows[1]["score"], how
        assert rows[0]["frames_scored"] == rows[1]["frames_scored"], how
    local = {r["path"]: r for r in read_csv(runs["local"].out_csv)}
    for r in read_csv(runs["shards"].out_csv):
        assert float(r["score"]) == pytest.approx(float(local[r["path"]]["score"]), abs=1e-5)
        assert r["frames_scored"] == local[r["path"]]["frames_scored"]


def test_ray_scoring_matches_local(tmp_path, archive, tiny_ckpt, ray_cluster):
    local = score_collection(archive, tmp_path / "a.csv", tiny_ckpt, local=True, progress=False)
    on_ray = score_collection(archive, tmp_path / "b.csv", tiny_ckpt, progress=False)
    a = {r["path"]: r for r in local.rows}
    b = {r["path"]: r for r in on_ray.rows}
    assert a.keys() == b.keys()
    for path, r in a.items():
        assert r["status"] == b[path]["status"]
        if r["status"] == "ok":
            assert r["score"] == pytest.approx(b[path]["score"], abs=1e-5)


def test_command_exit_codes_and_refusals(tmp_path, archive, tiny_ckpt, capsys):
    clean = tmp_path / "clean"
    clean.mkdir()
    shutil.copy(archive / CLIPS[0], clean / CLIPS[0])
    args = ["score", "--model", str(tiny_ckpt), "--local", "--no-progress"]
    assert main([*args, str(clean), "-o", str(tmp_path / "ok.csv")]) == 0
    assert main([*args, str(archive), "-o", str(tmp_path / "some.csv")]) == 1
    pickled = tmp_path / "model.pt"
    pickled.write_bytes(b"\x80\x04not really")
    bad = ["score", "--model", str(pickled), str(clean), "-o", str(tmp_path / "x.csv")]
    assert main(bad) == 2
    assert "pickled" in capsys.readouterr().err
    meta = json.loads((tiny_ckpt / "meta.json").read_text())
    old = tmp_path / "old"
    shutil.copytree(tiny_ckpt, old)
    (old / "meta.json").write_text(json.dumps({**meta, "schema_version": "0.3"}))
    assert main(["score", "--model", str(old), str(clean), "-o", str(tmp_path / "y.csv")]) == 2
    assert "schema version" in capsys.readouterr().err


def test_scoring_shards_matches_scanning_and_refuses_other_crops(
    tmp_path, archive, tiny_ckpt, ray_cluster, capsys
):
    from vidfake.datasets import list_items
    from vidfake.scanning import build_shards
    from vidfake.scoring.scorer import Scorer

    cfg = Scorer(tiny_ckpt).scan_config()
    shards = tmp_path / "shards"
    build_shards(list_items(archive), shards, cfg, progress=False)
    assert main(["shards", "info", str(shards)]) == 0
    assert "4 videos" in capsys.readouterr().out
    from_shards = score_collection(shards, tmp_path / "s.csv", tiny_ckpt, progress=False)
    direct = score_collection(archive, tmp_path / "d.csv", tiny_ckpt, local=True, progress=False)
    a = {r["path"]: r for r in from_shards.rows}
    b = {r["path"]: r for r in direct.rows}
    assert a.keys() == b.keys()
    for path, r in a.items():
        assert r["status"] == b[path]["status"]
        if r["status"] == "ok":
            assert r["score"] == pytest.approx(b[path]["score"], abs=1e-5)
    cfg.crop.size = 112
    other = tmp_path / "other"
    build_shards(list_items(archive), other, cfg, progress=False)
    with pytest.raises(ValueError, match="other crop settings.*size: shards 112 vs model 224"):
        score_collection(other, tmp_path / "o.csv", tiny_ckpt, progress=False)


def test_a_frame_shared_by_overlapping_windows_is_encoded_once(sample_dir, tiny_ckpt):
    """Scoring encodes each distinct crop once (twice under the mirror TTA), yet every window
    gets the probability the whole model gives it on its own."""
    import torch

    from vidfake.datasets import DatasetItem
    from vidfake.metrics import sigmoid
    from vidfake.scanning import scan_video
    from vidfake.scoring.scorer import Scorer
    from vidfake.sequences import table_sequences

    scorer = Scorer(tiny_ckpt, tta="flip")
    item = DatasetItem(str(sample_dir / "clips" / CLIPS[0]), -1, "g", "unassigned", "input")
    res = scan_video(item, scorer.scan_config())
    vid, table = res.manifest["video_id"], res.faces
    windows = list(table_sequences(table, scorer.frames, scorer.stride, True))
    distinct = {(s.track_id, s.clip_index, int(f)) for s in windows for f in s.frame_index}
    assert scorer.stride < scorer.frames and len(windows) > 1
    encoded: list[int] = []
    backbone = scorer.model.model.face.backbone
    hook = backbone.register_forward_hook(lambda m, args, out: encoded.append(args[0].shape[0]))
    try:
        vs = scorer.score_videos([(vid, table)])[vid]
    finally:
        hook.remove()
    assert sum(encoded) == 2 * len(distinct) < 2 * scorer.frames * len(windows)
    got = {
        (ts.track_id, tuple(fr)): p
        for ts in vs.tracks
        for p, fr in zip(ts.probs, ts.frames, strict=True)
    }
    with torch.no_grad():
        want = {
            (s.track_id, tuple(int(f) for f in s.frame_index)): float(
                sigmoid(scorer.model(scorer.transform(s.faces)[None]).numpy())[0]
            )
            for s in windows
        }
    assert got.keys() == want.keys()
    for key, p in want.items():
        assert got[key] == pytest.approx(p, abs=1e-5)


def test_eval_and_score_give_a_video_the_same_score(tmp_path, archive, tiny_ckpt, ray_cluster):
    """One video-score definition: `vidfake eval` reads a video's score from the windows
    `vidfake score` reads it from, and gets the same number."""
    import pandas as pd

    from vidfake.datasets import DatasetItem
    from vidfake.evaluate import evaluate
    from vidfake.metrics import video_scores
    from vidfake.scanning import build_shards
    from vidfake.scoring.scorer import Scorer

    items = [
        DatasetItem(str(archive / name), label, name, "test", "x")
        for name, label in zip(CLIPS, (0, 1), strict=True)
    ]
    shards = tmp_path / "shards"
    build_shards(items, shards, Scorer(tiny_ckpt).scan_config(), progress=False)
    evaluate(tiny_ckpt, shards, "test", out_dir=tmp_path / "eval")
    preds = pd.read_csv(tmp_path / "eval" / "predictions.csv")
    details = tmp_path / "details.parquet"
    scored = score_collection(
        shards, tmp_path / "s.csv", tiny_ckpt, details=details, progress=False
    )
    windows = pd.read_parquet(details).groupby("video_id").size()
    assert preds.groupby("video_id").size().to_dict() == windows.to_dict()
    from_eval = dict(video_scores(preds)[["video_id", "prob"]].itertuples(index=False))
    from_score = {r["video_id"]: r["score"] for r in scored.rows}
    assert from_eval.keys() == from_score.keys() and len(from_eval) == 2
    for vid, p in from_score.items():
        assert from_eval[vid] == pytest.approx(p, abs=1e-6)
