"""End-to-end scoring benchmark: file to ranked CSV, against a naive loop, in one process.

    .venv/bin/python benchmarks/bench_score.py [--videos 6] [--frames 32] [--workers 2]

Makes `--videos` 10-second 1280x720 clips from a bundled real clip (re-encoded H.264, each
from another start time), then times:
- vidfake: `score_collection` on a local Ray (scan tasks feeding one model actor), sampling
  `--frames` contiguous frames at 10 fps per video, the default detector's crops;
- the naive loop: one video at a time, the checkpoint loaded for every video, every frame
  decoded with OpenCV, MTCNN at full size on `--frames` evenly spaced frames, crops scored.
Prints videos per minute of both and the ratio (goal, issue 6: at least 30 videos/min).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np
import torch

os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
os.environ.setdefault("RAY_AUTH_MODE", "disabled")

from facenet_pytorch import MTCNN  # noqa: E402

from vidfake import media  # noqa: E402
from vidfake.checkpoint import load_checkpoint  # noqa: E402
from vidfake.faces.crop import crop_face, encode_jpeg  # noqa: E402
from vidfake.scoring.collection import score_collection  # noqa: E402
from vidfake.scoring.scorer import resolve_model  # noqa: E402
from vidfake.sequences import SequenceTransform  # noqa: E402

SOURCE = Path(__file__).resolve().parents[1] / "vidfake" / "data" / "clips" / "1zlab__face.mp4"


def make_clips(folder: Path, n: int) -> list[Path]:
    """`n` 10 s 1280x720 clips cut from the bundled 854x480 clip at different start times."""
    folder.mkdir(parents=True, exist_ok=True)
    out = []
    for i in range(n):
        tmp = folder / f".cut{i}.mp4"
        media.cut(SOURCE, tmp, start=0.25 * i, duration=10.0)
        dst = folder / f"clip{i:02d}_720p.mp4"
        media.reencode(tmp, dst, scale=(1280, 720))
        tmp.unlink()
        out.append(dst)
    return out


def benchmark_checkpoint(model: Path, frames: int, folder: Path) -> Path:
    """A copy of the checkpoint whose scan samples `frames` contiguous frames at 10 fps."""
    dst = folder / "ckpt"
    shutil.copytree(model, dst)
    meta = json.loads((dst / "meta.json").read_text())
    settings = dict(meta.get("scan_settings") or {})
    settings["sampling"] = f"clip:{frames}@10"
    meta["scan_settings"] = settings
    (dst / "meta.json").write_text(json.dumps(meta, indent=2))
    return dst


def naive_video(path: Path, ckpt: Path, frames: int) -> float:
    """Score one video the naive way; returns its score."""
    model, meta = load_checkpoint(ckpt)
    transform = SequenceTransform.from_cfg(meta["preprocess"])
    crop = (meta.get("scan_settings") or {}).get("crop", {})
    margin, size = crop.get("margin", 1.3), crop.get("size", 224)
    net = MTCNN(keep_all=False, device="cpu")
    cap = cv2.VideoCapture(str(path))
    decoded = []
    while True:
        ok, bgr = cap.read()
        if not ok:
            break
        decoded.append(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB))
    cap.release()
    picks = np.linspace(0, len(decoded) - 1, frames).astype(int)
    faces = []
    for i in picks:
        boxes, _ = net.detect(decoded[i])
        if boxes is not None:
            faces.append(encode_jpeg(crop_face(decoded[i], boxes[0], margin, size), 95))
    t = transform.frames
    windows = [faces[i : i + t] for i in range(0, len(faces) - t + 1, t)]
    if not windows:
        return float("nan")
    with torch.no_grad():
        x = torch.stack([transform.prepare(w)[0] for w in windows])
        return float(torch.sigmoid(model(x)).mean())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--videos", type=int, default=6)
    parser.add_argument("--frames", type=int, default=32)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--model", help="checkpoint (default: the bundled default detector)")
    parser.add_argument(
        "--tta",
        choices=("none", "flip"),
        help="vidfake's test-time augmentation (default: the checkpoint's)",
    )
    args = parser.parse_args()
    torch.set_num_threads(1)
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        clips = make_clips(root / "clips", args.videos)
        ckpt = benchmark_checkpoint(resolve_model(args.model), args.frames, root)
        print(f"{len(clips)} clips of 10 s at 1280x720, {args.frames} frames each, model {ckpt}")

        t0 = time.perf_counter()
        for path in clips:
            naive_video(path, ckpt, args.frames)
        naive = time.perf_counter() - t0

        t0 = time.perf_counter()
        summary = score_collection(
            root / "clips",
            root / "scores.csv",
            ckpt,
            workers=args.workers,
            progress=False,
            tta=args.tta,
        )
        ours = time.perf_counter() - t0
        assert summary.scored == len(clips), summary.rows
    per_min = 60 * len(clips)
    print(f"naive loop:  {naive:7.1f} s  {per_min / naive:6.1f} videos/min")
    print(f"vidfake:     {ours:7.1f} s  {per_min / ours:6.1f} videos/min (incl. Ray start)")
    print(f"speed-up:    {naive / ours:6.2f}x   goal: >= 30 videos/min")


if __name__ == "__main__":
    main()
