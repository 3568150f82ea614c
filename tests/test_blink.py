"""Blink cues on real clips against hand labels, plus the NaN paths and the command.

The labelled clips are real footage (vidfake/data/clips); the only synthetic input here is the
hand-written EAR series in `test_gaps_and_short_tracks`, which says so.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import yaml

from vidfake.cli import main
from vidfake.commands.blinks import video_blinks
from vidfake.cues import (
    BLINK_FEATURES,
    Landmarker,
    analyse_track,
    blink_features,
    detect_blinks,
    eye_aspect_ratio,
    frame_cue,
)

LABELS = Path(__file__).parent / "data" / "blink_labels.yaml"
TOLERANCE = 3  # frames


def _match(found: list[tuple[int, int]], truth: list[list[int]]) -> int:
    """One-to-one matches: ranges overlap once the labelled one is widened by TOLERANCE."""
    used: set[int] = set()
    for s, e in found:
        for j, (a, b) in enumerate(truth):
            if j not in used and s <= b + TOLERANCE and e >= a - TOLERANCE:
                used.add(j)
                break
    return len(used)


@pytest.fixture(scope="module")
def labelled(sample_dir: Path, one_torch_thread) -> dict[str, tuple[dict, float, list]]:
    """Each labelled clip through the full pipeline once, on one torch thread (the box is
    shared; MTCNN gains little from a second thread): name -> (labels, fps, tracks)."""
    clips = yaml.safe_load(LABELS.read_text())["clips"]
    return {
        name: (info, *video_blinks(sample_dir / "clips" / name)) for name, info in clips.items()
    }


@pytest.mark.slow
def test_blinks_match_hand_labels(labelled: dict[str, tuple[dict, float, list]]) -> None:
    assert len(labelled) >= 3
    tp = n_found = n_true = 0
    for name, (info, fps, tracks) in labelled.items():
        assert fps == pytest.approx(info["fps"], rel=0.01)
        main_track = max(tracks, key=lambda t: len(t.ear))
        assert main_track.frame_indices[0] <= 1 and len(main_track.ear) >= info["frames"] - 2
        found = [
            (int(main_track.frame_indices[e.start]), int(main_track.frame_indices[e.end]))
            for e in main_track.events
        ]
        hits = _match(found, info["blinks"])
        print(f"{name}: {hits} of {len(found)} events match, {len(info['blinks'])} labelled")
        tp += hits
        n_found += len(found)
        n_true += len(info["blinks"])
    precision, recall = tp / n_found, tp / n_true
    print(f"blink events: precision {precision:.3f} recall {recall:.3f} ({tp}/{n_found}/{n_true})")
    assert precision >= 0.9 and recall >= 0.9


def test_landmarks_and_ear_on_a_real_photo(sample_dir: Path) -> None:
    from PIL import Image

    from vidfake.faces.detect import FaceDetector

    img = np.asarray(Image.open(sample_dir / "photos" / "face_recognition" / "obama.jpg"))
    img = np.ascontiguousarray(img[..., :3])
    dets = FaceDetector().detect(img[None])[0]
    assert len(dets) == 1
    pts = Landmarker().predict(img, dets.boxes[0])
    assert pts is not None and pts.shape == (68, 2)
    x1, y1, x2, y2 = dets.boxes[0]
    assert (pts[36:48, 0] > x1).all() and (pts[36:48, 0] < x2).all()
    assert (pts[36:48, 1] > y1).all()
    assert (pts[36:48, 1] < (y1 + y2) / 2 + 0.1 * (y2 - y1)).all()
    ear, reason = frame_cue(pts)
    assert reason is None and 0.18 < ear < 0.45  # open eyes in a frontal portrait


def test_unusable_faces_give_nan_with_reason(sample_dir: Path) -> None:
    frame = np.zeros((64, 64, 3), np.uint8)
    lm = Landmarker()
    assert lm.predict(frame, np.array([np.nan, 0, 10, 10])) is None
    assert lm.predict(frame, np.array([100, 100, 140, 140])) is None  # outside the frame
    assert np.isnan(eye_aspect_ratio(None)) and np.isnan(eye_aspect_ratio(np.zeros((68, 2))))
    assert frame_cue(None)[1] == "no landmarks"
    profile = np.tile([[10.0, 10.0]], (68, 1)) + np.random.default_rng(0).random((68, 2))
    profile[30], profile[2], profile[14] = (50, 50), (45, 50), (90, 50)  # nose near one cheek
    assert frame_cue(profile)[1] == "profile face"
    with pytest.raises(ValueError, match="fps"):
        detect_blinks(np.full(50, 0.3), fps=5)


def test_gaps_and_short_tracks() -> None:
    # Synthetic EAR series: open eyes at 0.30 with noise, two 4-frame dips, NaN gaps, 25 fps.
    rng = np.random.default_rng(1)
    ear = 0.30 + 0.01 * rng.standard_normal(100)
    ear[20:24] = [0.2, 0.1, 0.1, 0.2]
    ear[60:64] = [0.2, 0.1, 0.1, 0.2]
    ear[61] = np.nan  # one missing frame inside a blink is bridged
    ear[80:95] = np.nan  # a long gap is not a blink
    positions = np.arange(100)
    keep = positions != 40  # a frame with no detection at all
    timeline, events, stats = analyse_track(positions[keep], ear[keep], fps=25)
    assert [(e.start, e.end) for e in events] == [(20, 23), (60, 63)]
    assert np.isnan(timeline[40]) and stats["reason"] is None
    assert stats["blinks_per_min"] == pytest.approx(60 * 2 / (np.isfinite(timeline).sum() / 25))
    vec = blink_features(stats)
    assert vec.shape == (len(BLINK_FEATURES),) and np.isfinite(vec).all() and vec[0] == 1
    _, events, short = analyse_track(np.arange(10), np.full(10, 0.3), fps=25)
    assert events == [] and "too short" in short["reason"] and np.isnan(short["blinks_per_min"])
    _, _, empty = analyse_track(np.arange(40), np.full(40, np.nan), fps=25)
    assert "no usable" in empty["reason"]
    for s in (short, empty):
        v = blink_features(s)
        assert np.isfinite(v).all() and v[0] == 0


def test_one_frame_glitch_does_not_split_a_closure() -> None:
    # Synthetic EAR series at 25 fps: a 12-frame closure with one frame of open-eye landmarks
    # in it (the glitch dlib produces), then two blinks with a real two-frame reopening between.
    ear = np.full(120, 0.30)
    ear[30:42] = 0.12
    ear[36] = 0.40
    ear[70:74] = ear[76:80] = 0.12
    events = detect_blinks(ear, fps=25)
    assert [(e.start, e.end) for e in events] == [(30, 41), (70, 73), (76, 79)]


@pytest.mark.slow
def test_blinks_command_writes_csv_and_plot(sample_dir: Path, tmp_path: Path, capsys) -> None:
    clip = sample_dir / "clips" / "cosanlab__single_face.mp4"
    assert main(["blinks", str(clip), "-o", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "track 0" in out
    rows = (tmp_path / "cosanlab__single_face.blinks.csv").read_text().splitlines()
    assert rows[0] == "track_id,frame_index,time_s,ear,blink,unusable" and len(rows) > 60
    assert (tmp_path / "cosanlab__single_face.blinks.png").read_bytes()[:4] == b"\x89PNG"
    assert main(["blinks", str(tmp_path / "missing.mp4")]) == 3
    text = tmp_path / "not_a_video.mp4"
    text.write_text("hello")
    assert main(["blinks", str(text), "-o", str(tmp_path)]) == 1
