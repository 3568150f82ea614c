"""`vidfake blinks VIDEO`: blink events per face track, the EAR timeline as CSV and a PNG plot."""

from __future__ import annotations

import argparse
import csv
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from vidfake.config import DetectConfig, TrackConfig
from vidfake.cues.blink import MIN_FPS, BlinkEvent, analyse_track, frame_cue
from vidfake.cues.landmarks import Landmarker


@dataclass
class TrackBlinks:
    """One track's timeline (every frame from its first to its last), blinks and statistics."""

    track_id: int
    frame_indices: np.ndarray  # source frame number of each timeline position
    ear: np.ndarray  # NaN where the face was missing or unusable
    reasons: list[str | None]  # why a timeline frame is unusable (None when usable)
    events: list[BlinkEvent]
    stats: dict = field(default_factory=dict)


def video_blinks(
    path: str | Path, detect: DetectConfig | None = None, track: TrackConfig | None = None
) -> tuple[float, list[TrackBlinks]]:
    """Decode every frame, detect and track faces, and measure blinks on each track."""
    from vidfake.faces.detect import FaceDetector
    from vidfake.faces.track import build_tracks
    from vidfake.video import probe, sample_frames

    info = probe(path)
    if info.fps < MIN_FPS:
        raise ValueError(f"{path}: {info.fps:g} fps is below the {MIN_FPS:g} fps blinks need")
    detector = FaceDetector(detect)
    landmarker = Landmarker()
    dets, cues, indices = [], [], []
    for batch in sample_frames(path, "all"):
        for frame, frame_dets, index in zip(
            batch.frames, detector.detect(batch.frames), batch.indices, strict=True
        ):
            dets.append(frame_dets)
            indices.append(int(index))
            cues.append([frame_cue(landmarker.predict(frame, box)) for box in frame_dets.boxes])
    results = []
    for tr in build_tracks(dets, track or TrackConfig()):
        pos = np.asarray(tr.frames)
        ear = np.array(
            [
                cues[p][k][0] if cues[p][k][1] is None else np.nan
                for p, k in zip(tr.frames, tr.det_index, strict=True)
            ]
        )
        timeline, events, stats = analyse_track(pos, ear, info.fps)
        span = np.arange(pos.min(), pos.max() + 1)
        why = dict(
            zip(
                tr.frames,
                (cues[p][k][1] for p, k in zip(tr.frames, tr.det_index, strict=True)),
                strict=True,
            )
        )
        reasons = [why.get(int(p), "no face detected") for p in span]
        frame_idx = np.asarray(indices)[span]
        results.append(TrackBlinks(tr.track_id, frame_idx, timeline, reasons, events, stats))
    return info.fps, results


def write_csv(tracks: list[TrackBlinks], fps: float, out: Path) -> None:
    """The EAR timeline: one row per track frame, with the blink it belongs to (or empty)."""
    with out.open("w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["track_id", "frame_index", "time_s", "ear", "blink", "unusable"])
        for t in tracks:
            blink_of = np.full(len(t.ear), -1)
            for n, e in enumerate(t.events):
                blink_of[e.start : e.end + 1] = n
            for i, frame in enumerate(t.frame_indices):
                ear = "" if np.isnan(t.ear[i]) else f"{t.ear[i]:.4f}"
                blink = "" if blink_of[i] < 0 else int(blink_of[i])
                writer.writerow(
                    [t.track_id, int(frame), f"{frame / fps:.3f}", ear, blink, t.reasons[i] or ""]
                )


def write_plot(tracks: list[TrackBlinks], fps: float, title: str, out: Path) -> None:
    """EAR against time per track, blinks shaded, with matplotlib's file-only Agg backend."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(10, 2.2 * max(1, len(tracks))))
    FigureCanvasAgg(fig)
    axes = fig.subplots(max(1, len(tracks)), 1, squeeze=False)[:, 0]
    for ax, t in zip(axes, tracks, strict=False):
        times = t.frame_indices / fps
        ax.plot(times, t.ear, lw=1, color="tab:blue")
        for e in t.events:
            ax.axvspan(times[e.start], times[e.end], color="tab:red", alpha=0.25)
        ax.set_ylabel("EAR")
        ax.set_title(f"track {t.track_id}: {len(t.events)} blinks", fontsize=9, loc="left")
    axes[-1].set_xlabel("time (s)")
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    fig.savefig(out, dpi=100)


def run(args: argparse.Namespace) -> int:
    """Measure blinks in one video on `--threads` torch threads (restored afterwards)."""
    import torch

    if args.threads < 1:
        raise ValueError(f"--threads must be at least 1, got {args.threads}")
    before = torch.get_num_threads()
    torch.set_num_threads(args.threads)
    try:
        return _measure(args)
    finally:
        torch.set_num_threads(before)


def _measure(args: argparse.Namespace) -> int:
    """Measure blinks in one video, print the events and write the CSV and PNG."""
    from vidfake.video import VideoError

    video = Path(args.video)
    if not video.is_file():
        raise FileNotFoundError(f"no such video: {video}")
    out_dir = Path(args.output)
    out_dir.mkdir(parents=True, exist_ok=True)
    try:
        fps, tracks = video_blinks(video)
    except VideoError as exc:
        print(f"{video}: cannot decode: {exc}")
        return 1
    if not tracks:
        print(f"{video}: no face track found")
    for t in tracks:
        s = t.stats
        head = f"track {t.track_id}: frames {int(t.frame_indices[0])}-{int(t.frame_indices[-1])}"
        if not s["blink_valid"]:
            print(f"{head}: blinks not measured ({s['reason']})")
            continue
        print(
            f"{head}: {len(t.events)} blinks, {s['blinks_per_min']:.1f}/min, "
            f"closed {100 * s['closed_fraction']:.0f}% of the time"
        )
        for e in t.events:
            a, b = int(t.frame_indices[e.start]), int(t.frame_indices[e.end])
            print(
                f"  frames {a}-{b} ({a / fps:.2f}-{b / fps:.2f} s) "
                f"{1000 * e.duration:.0f} ms, lowest EAR {e.min_ear:.3f}"
            )
    csv_path = out_dir / f"{video.stem}.blinks.csv"
    png_path = out_dir / f"{video.stem}.blinks.png"
    write_csv(tracks, fps, csv_path)
    write_plot(tracks, fps, video.name, png_path)
    print(f"wrote {csv_path} and {png_path}")
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the `blinks` subcommand."""
    p = subparsers.add_parser(
        "blinks", help="blink events and the eye-aspect-ratio timeline of one video"
    )
    p.add_argument("video", help="video file")
    p.add_argument("-o", "--output", default=".", help="folder for VIDEO.blinks.csv and .png")
    p.add_argument(
        "--threads",
        type=int,
        default=1,
        help="torch threads for MTCNN (default 1: its small convolutions gain little from more, "
        "and on a busy machine extra threads spin; measured in docs/blinks.md)",
    )
    p.set_defaults(func=run)
