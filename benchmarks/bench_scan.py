"""Scan-stage benchmark: the scan against the seeds' way, decoding alone, memory, Ray workers.

    .venv/bin/python benchmarks/bench_scan.py [--clips N] [--seed-frames N]

Prints figures and ratios (the goals are in issue 3). Runs on the bundled clips; the CPU is
shared, so figures are noisy: compare ratios from one run, not figures across runs.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import cv2
import torch

os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
os.environ.setdefault("RAY_AUTH_MODE", "disabled")

from facenet_pytorch import MTCNN  # noqa: E402

from vidfake import testmedia  # noqa: E402
from vidfake.config import ScanConfig  # noqa: E402
from vidfake.datasets import DatasetItem  # noqa: E402
from vidfake.scan import build_shards, scan_video  # noqa: E402
from vidfake.video import sample_frames  # noqa: E402

CLIPS = Path(__file__).resolve().parents[1] / "vidfake" / "data" / "clips"
NAMES = [
    "cosanlab__single_face.mp4",
    "retalking_3.mp4",
    "liveportrait_d18.mp4",
    "1zlab__face.mp4",
    "yoyo-nb__driving.mp4",
    "liveportrait_d11.mp4",
]


def seeds_way(path: Path, max_frames: int) -> tuple[int, int, float]:
    """OpenCV decodes every frame, MTCNN runs on each at full size: (frames, with face, s)."""
    net = MTCNN(keep_all=True, device="cpu")
    cap = cv2.VideoCapture(str(path))
    start, n, hit = time.perf_counter(), 0, 0
    while n < max_frames:
        ok, bgr = cap.read()
        if not ok:
            break
        boxes, _ = net.detect(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB))
        n += 1
        hit += int(boxes is not None and len(boxes) > 0)
    cap.release()
    return n, hit, time.perf_counter() - start


def decode_only(path: Path, cfg: ScanConfig) -> tuple[int, float]:
    """Decoding alone of the frames the scan samples: (frames, seconds)."""
    start = time.perf_counter()
    n = sum(len(b.indices) for b in sample_frames(path, cfg.sampling, cfg.chunk_size))
    return n, time.perf_counter() - start


def peak_rss_mib(path: Path) -> tuple[float, float]:
    """Peak resident memory (MiB) of a fresh process scanning `path`: after loading, at the end."""
    code = (
        "import resource, sys, torch; torch.set_num_threads(1)\n"
        "from vidfake.scan import scan_video, cached_detector; from vidfake.config import ScanConfig\n"
        "from vidfake.datasets import DatasetItem\n"
        "cached_detector(ScanConfig().detect)\n"
        "print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)\n"
        "r = scan_video(DatasetItem(sys.argv[1], -1, 'x'), ScanConfig())\n"
        "assert r.manifest['status'] == 'ok', r.manifest\n"
        "print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code, str(path)], capture_output=True, text=True, check=True
    )
    loaded, peak = (float(v) for v in out.stdout.strip().splitlines()[-2:])
    return loaded, peak


def ten_times_longer(src: Path, dst: Path) -> Path:
    """Synthetic: the clip played ten times in a row, re-encoded as one video."""
    frames = [f for b in sample_frames(src, "all") for f in b.frames]
    return testmedia.render_frames((f for _ in range(10) for f in frames), dst, 30)


def ray_rate(items: list[DatasetItem], out: Path, cfg: ScanConfig, workers: int) -> float:
    """Sampled frames/s of build_shards with `workers` tasks in flight on the running Ray."""
    summary = build_shards(items, out, cfg, workers=workers, force=True, progress=False)
    return summary.frames_per_s


def main() -> None:
    """Run every measurement once and print the figures as JSON lines."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--clips", type=int, default=3, help="clips for the speed comparison")
    parser.add_argument("--seed-frames", type=int, default=60, help="frames per clip, seeds' way")
    args = parser.parse_args()
    torch.set_num_threads(1)  # both ways on one thread: the box is shared
    cfg = ScanConfig()
    results: dict[str, object] = {"torch_threads": 1, "sampling": cfg.sampling}

    seed_n = seed_hit = 0
    seed_s = scan_s = dec_s = 0.0
    scan_n = scan_hit = dec_n = 0
    for name in NAMES[: args.clips]:
        path = CLIPS / name
        n, hit, s = seeds_way(path, args.seed_frames)
        seed_n, seed_hit, seed_s = seed_n + n, seed_hit + hit, seed_s + s
        scan_video(DatasetItem(str(path), -1, name), cfg)  # warm: MTCNN loaded, files cached
        start = time.perf_counter()
        r = scan_video(DatasetItem(str(path), -1, name), cfg)
        scan_s += time.perf_counter() - start
        scan_n += r.manifest["frames_sampled"]
        scan_hit += len(set(r.faces.column("frame_index").to_pylist()))
        n, s = decode_only(path, cfg)
        dec_n, dec_s = dec_n + n, dec_s + s
    results.update(
        seeds_frames_per_s=seed_n / seed_s,
        seeds_recall=seed_hit / seed_n,
        scan_frames_per_s=scan_n / scan_s,
        scan_recall=scan_hit / scan_n,
        decode_frames_per_s=dec_n / dec_s,
    )
    results["speedup_vs_seeds"] = results["scan_frames_per_s"] / results["seeds_frames_per_s"]
    results["decode_over_scan"] = results["decode_frames_per_s"] / results["scan_frames_per_s"]
    print(json.dumps(results, indent=1), flush=True)

    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        short = CLIPS / "cosanlab__single_face.mp4"
        long = ten_times_longer(short, tmp / "long.mp4")
        (base1, peak1), (base10, peak10) = peak_rss_mib(short), peak_rss_mib(long)
        mem = {
            "peak_rss_mib_clip": peak1,
            "peak_rss_mib_10x": peak10,
            "memory_ratio": peak10 / peak1,
            "growth_mib_clip": peak1 - base1,  # over the loaded process (torch, MTCNN)
            "growth_mib_10x": peak10 - base10,
        }
        print(json.dumps(mem, indent=1), flush=True)

        import ray

        ray.init(address="local", num_cpus=2, include_dashboard=False, log_to_driver=False)
        items = [DatasetItem(str(CLIPS / n), -1, n) for n in NAMES]
        ray_rate(items[:2], tmp / "warm", cfg, 2)  # start both workers and load MTCNN
        one = ray_rate(items, tmp / "one", cfg, 1)
        two = ray_rate(items, tmp / "two", cfg, 2)
        ray.shutdown()
        print(
            json.dumps(
                {"ray_1_worker_fps": one, "ray_2_workers_fps": two, "ray_speedup": two / one},
                indent=1,
            )
        )


if __name__ == "__main__":
    main()
