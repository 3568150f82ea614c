"""The scan stage end to end on real clips: scan_video, build_shards on Ray, resume, bad input."""

from __future__ import annotations

import os
import shutil
import signal
from collections import Counter

import damaged_media
import numpy as np
import pyarrow.parquet as pq
import pytest

from vidfake import media
from vidfake.cli import main
from vidfake.config import ScanConfig, TrackConfig
from vidfake.datasets import DatasetItem
from vidfake.faces.crop import decode_jpeg
from vidfake.scanning import build_shards, scan_video, video_id
from vidfake.shards import read_faces, read_manifest

FAST = ScanConfig(sampling="uniform:4", track=TrackConfig(min_length=2))


def _item(path, label=0):
    return DatasetItem(str(path), label, os.path.basename(str(path)), "test", "samples")


pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def clips(sample_dir):
    return sample_dir / "clips"


@pytest.fixture(scope="module")
def faceless(tmp_path_factory):
    """Synthetic: a clip of moving colour gradients, no face in it."""
    ramp = np.linspace(0, 255, 160, dtype=np.float32)
    frames = [
        np.stack([np.tile(np.roll(ramp, 8 * i), (120, 1))] * 3, axis=-1).astype(np.uint8)
        for i in range(12)
    ]
    return media.render_frames(frames, tmp_path_factory.mktemp("nf") / "noface.mp4", 12)


def test_scan_frontal_clip(clips):
    cfg = ScanConfig(sampling="clip:8@10", track=TrackConfig(min_length=4))
    result = scan_video(_item(clips / "liveportrait_d18.mp4", label=1), cfg)
    m = result.manifest
    assert m["status"] == "ok" and m["error"] is None
    assert m["frames_sampled"] == 8 and m["n_faces"] == 8 and m["n_tracks"] == 1
    assert (m["width"], m["height"], m["decoder"]) == (480, 480, "pyav")  # short: read forward
    assert m["settings_hash"] == cfg.settings_hash()
    faces = result.faces.to_pydict()
    assert len(set(faces["frame_index"])) == 8  # a face on every sampled frame
    assert set(faces["label"]) == {1} and set(faces["track_id"]) == {0}
    for bbox, lm in zip(faces["bbox"], faces["landmarks"], strict=True):
        x1, y1, x2, y2 = bbox
        assert x1 < lm[0] < x2 and y1 < lm[1] < y2  # left eye inside the box
    assert decode_jpeg(faces["face_jpeg"][0]).shape == (224, 224, 3)
    assert decode_jpeg(faces["left_eye_jpeg"][0]).shape == (32, 32, 3)
    assert min(faces["blur"]) > 0


def test_video_id_follows_content(clips, tmp_path):
    renamed = shutil.copy(clips / "cosanlab__single_face.mp4", tmp_path / "renamed.mp4")
    assert video_id(renamed) == video_id(clips / "cosanlab__single_face.mp4")
    assert video_id(renamed) != video_id(clips / "liveportrait_d18.mp4")


def test_no_face(faceless):
    result = scan_video(_item(faceless), FAST)
    assert result.manifest["status"] == "no_face" and result.faces.num_rows == 0
    assert result.manifest["frames_sampled"] == 4


@pytest.mark.slow
def test_every_damaged_kind_gets_one_error_row(clips, faceless, tmp_path, ray_cluster):
    good = clips / "cosanlab__single_face.mp4"
    bad = {
        kind: damaged_media.make_damaged(kind, tmp_path / "in" / f"{kind}.mp4", src=good)
        for kind in damaged_media.DAMAGED_KINDS
    }
    items = [_item(good), _item(faceless)] + [_item(p) for p in bad.values()]
    summary = build_shards(items, tmp_path / "out", FAST, progress=False)
    rows = {r["path"]: r for r in read_manifest(tmp_path / "out").to_pylist()}
    assert len(rows) == len(items) == summary.total
    assert rows[str(good)]["status"] == "ok"
    assert rows[str(faceless)]["status"] == "no_face"
    for kind in ("truncated", "zero_bytes", "random_bytes", "text", "audio_only"):
        row = rows[str(bad[kind])]
        assert row["status"] == "error" and len(row["error"]) > 10, kind
    # one frame and 16x16 frames decode (PyAV for the tiny ones) but hold no findable face
    assert rows[str(bad["tiny_frames"])]["decoder"] == "pyav"
    assert rows[str(bad["one_frame"])]["status"] in ("ok", "no_face")
    assert summary.error == 5 and len(summary.errors) == 5


def test_resume_after_interrupted_scan(clips, tmp_path, ray_cluster):
    items = [_item(clips / n) for n in ("cosanlab__single_face.mp4", "liveportrait_d18.mp4")]
    out = tmp_path / "shards"
    build_shards(items[:1], out, FAST, progress=False)
    # an interrupted run: the second video's faces were written but never committed
    partial = scan_video(items[1], FAST).faces
    pq.write_table(partial, out / "faces" / "part-0123456789ab-0000.parquet")
    summary = build_shards(items, out, FAST, progress=False)
    assert summary.skipped == 1 and summary.ok == 1
    manifest = read_manifest(out)
    assert sorted(manifest.column("path").to_pylist()) == sorted(i.path for i in items)
    assert read_faces(out).num_rows == sum(manifest.column("n_faces").to_pylist()) == 8
    assert not (out / "faces" / "part-0123456789ab-0000.parquet").exists()
    again = build_shards(items, out, FAST, progress=False)
    assert again.skipped == 2 and read_manifest(out).num_rows == 2
    other = ScanConfig(sampling="uniform:3", track=TrackConfig(min_length=2))
    with pytest.raises(ValueError, match="other scan settings"):
        build_shards(items, out, other, progress=False)
    forced = build_shards(items, out, other, force=True, progress=False)
    assert forced.skipped == 0 and read_faces(out).num_rows == 6
    assert read_manifest(out).num_rows == 2


@pytest.mark.slow
def test_killed_worker_loses_and_duplicates_nothing(clips, tmp_path, ray_cluster):
    marks = tmp_path / "marks"
    marks.mkdir()

    def die_once(item, cfg):
        """Kill this worker process on the first attempt at each video, then scan for real."""
        mark = marks / os.path.basename(item.path)
        if not mark.exists():
            mark.touch()
            os.kill(os.getpid(), signal.SIGKILL)
        return scan_video(item, cfg)

    items = [_item(clips / n) for n in ("cosanlab__single_face.mp4", "liveportrait_d19.mp4")]
    summary = build_shards(items, tmp_path / "out", FAST, progress=False, scan_fn=die_once)
    assert summary.ok == 2 and summary.error == 0
    manifest = read_manifest(tmp_path / "out")
    assert Counter(manifest.column("path").to_pylist()) == {i.path: 1 for i in items}
    faces = read_faces(tmp_path / "out", columns=["video_id", "frame_index"])
    assert faces.num_rows == 8
    assert len(set(zip(*faces.to_pydict().values(), strict=True))) == 8  # no duplicate rows


def test_worker_dying_every_time_gives_an_error_row(clips, tmp_path, ray_cluster):
    def always_die(item, cfg):
        os.kill(os.getpid(), signal.SIGKILL)

    items = [_item(clips / "cosanlab__single_face.mp4")]
    summary = build_shards(
        items, tmp_path / "out", FAST, progress=False, scan_fn=always_die, max_retries=1
    )
    row = read_manifest(tmp_path / "out").to_pylist()[0]
    assert summary.error == 1 and row["status"] == "error" and "died" in row["error"]


def test_command_exit_codes(clips, tmp_path, ray_cluster, capsys):
    archive = tmp_path / "archive"
    archive.mkdir()
    shutil.copy(clips / "cosanlab__single_face.mp4", archive)
    args = ["shards", "build", str(archive), "-o", str(tmp_path / "out"), "--layout", "files"]
    fast = ["--set", "sampling=uniform:4", "--set", "track.min_length=2", "--no-progress"]
    assert main(args + fast) == 0
    damaged_media.make_damaged("text", archive / "notes.mp4")
    assert main(args + fast) == 1
    out = capsys.readouterr()
    assert "1 skipped" in out.out and "it is text" in out.err
    assert main(args + ["--set", "sampling=sometimes"]) == 2


def test_pipeline_entry_point(clips, tmp_path, ray_cluster):
    """pipelines/scan.py (what `ray submit` runs) on the session's Ray, as a cluster would."""
    import importlib.util
    from pathlib import Path

    script = Path(__file__).resolve().parents[1] / "pipelines" / "scan.py"
    spec = importlib.util.spec_from_file_location("scan_pipeline", script)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    archive = tmp_path / "archive"
    archive.mkdir()
    shutil.copy(clips / "cosanlab__single_face.mp4", archive)
    out = tmp_path / "out"
    argv = [str(archive), "--out", str(out), "--layout", "files", "--set", "sampling=uniform:4"]
    assert module.main(argv + ["--set", "track.min_length=2"]) == 0
    assert read_manifest(out).column("status").to_pylist() == ["ok"]
    assert module.main([str(archive), "--out", str(out), "--set", "nope=1"]) == 2


def test_shards_build_on_real_world_oddities(clips, tmp_path, ray_cluster):
    """A High 4:4:4 clip with a keyframe every 50 frames, a raw Annex-B stream, a dangling link
    and a clip with flipped bytes (all made here from a bundled clip): faces on every sampled
    frame of the first two, an error row for the link, `ok` with its damage counted for the last."""
    from vidfake.video import sample_frames

    src = clips / "cosanlab__single_face.mp4"
    frames = [f for b in sample_frames(src, "all") for f in b.frames]
    archive = tmp_path / "archive"
    archive.mkdir()
    looped = frames + frames[::-1]  # 144 frames: keyframes 0, 50, 100
    media.render_frames(looped, archive / "high444.mp4", 30, pix_fmt="yuv444p", options={"g": "50"})
    media.render_frames(frames, archive / "raw.264", 30)
    os.symlink(archive / "gone.mp4", archive / "link.mp4")
    damaged_media.make_damaged("bit_flips", archive / "flipped.mp4", src=src)
    out = tmp_path / "out"
    args = ["shards", "build", str(archive), "-o", str(out), "--layout", "files", "--no-progress"]
    sets = ["--set", "sampling=clip:6@10x3", "--set", "track.min_length=2"]
    assert main(args + sets) == 1  # finished, one input failed
    rows = {os.path.basename(r["path"]): r for r in read_manifest(out).to_pylist()}
    assert sorted(rows) == ["flipped.mp4", "high444.mp4", "link.mp4", "raw.264"]
    for name in ("high444.mp4", "raw.264"):
        r = rows[name]
        assert r["status"] == "ok" and r["decoder"] == "pyav", r
        assert r["n_faces"] == r["frames_sampled"] == 18 and r["n_tracks"] == 1
    assert "High 4:4:4 Predictive" in rows["high444.mp4"]["codec"]
    assert rows["link.mp4"]["status"] == "error"
    assert "broken symbolic link" in rows["link.mp4"]["error"]
    flipped = rows["flipped.mp4"]
    assert flipped["status"] == "ok" and flipped["frames_damaged"] > 0 and flipped["n_faces"] > 0
