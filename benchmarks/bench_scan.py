"""Scan-stage benchmark: the scan against the seeds' way, decoding alone, memory, Ray workers,
and what reading forward costs on a FaceForensics++-like stream.

    .venv/bin/python benchmarks/bench_scan.py [--clips N] [--seed-frames N] [--repeat N]
        [--set key=value ...] [--parts speed,memory,ray,profile,forward] [--ray-copies N]
        [--forward-clip PATH ...]

Prints figures and ratios (the goals are in issue 3). Runs on the bundled clips, and on clips
made from them at run time in a temporary folder: the speed part adds a High 4:4:4 Predictive
re-encoding with a keyframe every 50 frames (the profile of every FaceForensics++ file, which
the scan always reads forward); the forward part makes a 30-s 640x480 4:4:4 clip with a keyframe every
250 frames and its 4:2:0 High re-encoding. The CPU is shared, so figures are noisy: compare
ratios from one run, not figures across runs. Speeds come in wall time and in CPU time of the
process (torch runs on one thread; FFmpeg's frame threads count in the CPU time, and
`*_cores` says how many cores a way kept busy). `--set` changes the scan settings of the speed
and Ray parts; the memory part takes only their sampling.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import NamedTuple

import av
import cv2
import decord
import numpy as np
import torch

os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
os.environ.setdefault("RAY_AUTH_MODE", "disabled")

from facenet_pytorch import MTCNN  # noqa: E402

from vidfake import media, video  # noqa: E402
from vidfake import scanning as scan_module  # noqa: E402
from vidfake.config import ScanConfig, load_config  # noqa: E402
from vidfake.datasets import DatasetItem  # noqa: E402
from vidfake.faces import crop  # noqa: E402
from vidfake.faces.detect import FaceDetector, SequenceDetector  # noqa: E402
from vidfake.faces.track import box_iou  # noqa: E402
from vidfake.scanning import build_shards, cached_detector, scan_video  # noqa: E402
from vidfake.shards.store import read_manifest  # noqa: E402
from vidfake.video import DecodeReport, sample_frames  # noqa: E402

CLIPS = Path(__file__).resolve().parents[1] / "vidfake" / "data" / "clips"
NAMES = [
    "cosanlab__single_face.mp4",
    "retalking_3.mp4",
    "liveportrait_d18.mp4",
    "1zlab__face.mp4",
    "yoyo-nb__driving.mp4",
    "liveportrait_d11.mp4",
]
MULTI = "short_hamilton_clip.mp4"  # several people: the recall check against full MTCNN
HIGH444_SOURCE = "liveportrait_d19.mp4"  # 250 frames, 30 fps, 480x480: five keyframes at g=50
FORWARD_SOURCE = "1zlab__face.mp4"  # 383 frames, 30 fps, looped to 30 s at 640x480
FORWARD_STRATEGIES = ("clip:32@10", "clip:32@10x3")


class Clock:
    """Wall and CPU seconds of this process since start (CPU time is what a loaded box
    distorts least: each way runs on one thread, so its CPU time is its work)."""

    def __init__(self) -> None:
        self.wall, self.cpu = time.perf_counter(), time.process_time()

    def read(self) -> tuple[float, float]:
        """(wall, cpu) seconds elapsed."""
        return time.perf_counter() - self.wall, time.process_time() - self.cpu


def seeds_way(path: Path, max_frames: int) -> tuple[int, int, tuple[float, float]]:
    """OpenCV decodes every frame, MTCNN runs on each at full size: (frames, with face, s)."""
    net = MTCNN(keep_all=True, device="cpu")
    cap = cv2.VideoCapture(str(path))
    clock, n, hit = Clock(), 0, 0
    while n < max_frames:
        ok, bgr = cap.read()
        if not ok:
            break
        boxes, _ = net.detect(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB))
        n += 1
        hit += int(boxes is not None and len(boxes) > 0)
    cap.release()
    return n, hit, clock.read()


def decode_only(path: Path, cfg: ScanConfig) -> tuple[int, tuple[float, float], str]:
    """Decoding alone of the frames the scan samples, by the path the scan takes:
    (frames, (wall, cpu) seconds, decode path)."""
    report = DecodeReport()
    clock = Clock()
    batches = sample_frames(path, cfg.sampling, cfg.chunk_size, report=report)
    n = sum(len(b.indices) for b in batches)
    return n, clock.read(), report.decoder


def encode_like(
    frames: Iterable[np.ndarray], dst: Path, fps: float, pix_fmt: str, gop: int
) -> Path:
    """H.264 of `frames` in `pix_fmt` (yuv444p: High 4:4:4 Predictive; yuv420p: High) with a
    keyframe every `gop` frames exactly (no scene-cut keyframes)."""
    options = {"g": str(gop), "sc_threshold": "0"}
    return media.render_frames(frames, dst, fps, pix_fmt=pix_fmt, options=options)


def high444(src: Path, dst: Path, gop: int = 50) -> Path:
    """Synthetic: the clip re-encoded as High 4:4:4 Predictive with a keyframe every `gop`."""
    frames = (f for b in sample_frames(src, "all") for f in b.frames)
    return encode_like(frames, dst, video.probe(src).fps, "yuv444p", gop)


def against_full(path: Path, cfg: ScanConfig) -> tuple[int, int, list[float], int, int]:
    """The scan's detector (full MTCNN every `refresh` frames, O-Net in between) against full
    MTCNN on every sampled frame: (full faces, found at IoU >= 0.5, their IoUs, frames,
    frames that needed full MTCNN)."""
    detector = cached_detector(cfg.detect)
    seq = SequenceDetector(detector, cfg.detect.refresh)
    total = hit = frames = 0
    ious: list[float] = []
    for batch in sample_frames(path, cfg.sampling, cfg.chunk_size):
        full = detector.detect(batch.frames)
        for a, b in zip(full, seq.detect(batch.frames, batch.clip_index), strict=True):
            total, frames = total + len(a), frames + 1
            if len(a) and len(b):
                best = box_iou(a.boxes, b.boxes).max(axis=1)
                hit += int((best >= 0.5).sum())
                ious.extend(best[best >= 0.5].tolist())
    return total, hit, ious, frames, seq.full_detections


_PEAK_CHILD = """
import sys, torch
from pathlib import Path
from vidfake.config import ScanConfig
from vidfake.datasets import DatasetItem
from vidfake.scanning import cached_detector, scan_video
torch.set_num_threads(1)
def mib(key):
    line = next(x for x in Path("/proc/self/status").read_text().splitlines() if x.startswith(key))
    return int(line.split()[1]) / 1024
cfg = ScanConfig(sampling=sys.argv[2])
cached_detector(cfg.detect)
loaded = mib("VmRSS")
Path("/proc/self/clear_refs").write_text("5")  # peak := now, so the peak is the scan's
r = scan_video(DatasetItem(sys.argv[1], -1, "x"), cfg)
assert r.manifest["status"] == "ok", r.manifest
print(loaded, mib("VmHWM"), r.manifest["frames_sampled"], r.faces.nbytes / 2**20)
"""


def peak_rss_mib(path: Path, sampling: str) -> tuple[float, float, int, float]:
    """A fresh process scanning `path` with `sampling`: (resident MiB once torch and MTCNN are
    loaded, peak resident MiB during the scan, frames sampled, MiB of face rows). Linux only:
    the peak is VmHWM reset after loading, since `ru_maxrss` keeps the parent's peak across
    exec (it read the benchmark's own size, not the scan's)."""
    out = subprocess.run(
        [sys.executable, "-c", _PEAK_CHILD, str(path), sampling],
        capture_output=True,
        text=True,
        check=True,
    )
    loaded, peak, frames, rows = out.stdout.split()[-4:]
    return float(loaded), float(peak), int(frames), float(rows)


def ten_times_longer(src: Path, dst: Path) -> Path:
    """Synthetic: the clip played ten times in a row, re-encoded as one video."""
    frames = [f for b in sample_frames(src, "all") for f in b.frames]
    return media.render_frames((f for _ in range(10) for f in frames), dst, 30)


def box_busy_seconds() -> float:
    """CPU seconds the whole machine has spent busy since boot (Linux `/proc/stat`: every
    process, Ray's and the driver's included); NaN where there is no `/proc/stat`."""
    try:
        fields = Path("/proc/stat").read_text().splitlines()[0].split()[1:]
    except OSError:
        return float("nan")
    ticks = [int(v) for v in fields]
    idle = ticks[3] + ticks[4]  # idle and iowait
    return (sum(ticks[:8]) - idle) / os.sysconf("SC_CLK_TCK")


class RayRun(NamedTuple):
    """One build_shards run on the running Ray."""

    fps: float  # sampled frames/s
    task_s: float  # seconds the videos took inside their tasks, summed
    worker_busy: float  # the fraction of the workers' wall time spent inside tasks
    cpu_s: float  # the machine's busy CPU seconds over the run (workers, Ray, the driver)
    cores_busy: float  # cpu_s over the run's wall time


def ray_rate(items: list[DatasetItem], out: Path, cfg: ScanConfig, workers: int) -> RayRun:
    """build_shards with `workers` tasks in flight on the running Ray."""
    busy = box_busy_seconds()
    summary = build_shards(items, out, cfg, workers=workers, force=True, progress=False)
    busy = box_busy_seconds() - busy
    task_s = float(sum(read_manifest(out).column("seconds").to_pylist()))
    return RayRun(
        summary.frames_per_s,
        task_s,
        task_s / (summary.seconds * workers),
        busy,
        busy / summary.seconds,
    )


class ClipRun(NamedTuple):
    """One clip of the speed part: frames, frames with a face, (wall, cpu) seconds of each way."""

    seed_n: int
    seed_hit: int
    seed_s: np.ndarray
    scan_n: int
    scan_hit: int
    scan_s: np.ndarray
    dec_n: int
    dec_s: np.ndarray


def run_clip(
    path: Path, cfg: ScanConfig, seed_frames: int, repeat: int
) -> tuple[ClipRun, dict[str, object]]:
    """The three ways on one clip, and its decode facts with the path each took."""
    seed_n, seed_hit, seed_s = seeds_way(path, seed_frames)
    item = DatasetItem(str(path), -1, path.stem)
    scan_video(item, cfg)  # warm: MTCNN loaded, file cached
    best_scan, best_dec = np.full(2, np.inf), np.full(2, np.inf)
    for _ in range(repeat):  # the fastest of a few runs: others' jobs only add time
        clock = Clock()
        r = scan_video(item, cfg)
        best_scan = np.minimum(best_scan, clock.read())
        dec_n, s, decoder = decode_only(path, cfg)
        best_dec = np.minimum(best_dec, s)
    scan_hit = len(set(r.faces.column("frame_index").to_pylist()))
    scan_n = r.manifest["frames_sampled"]
    run = ClipRun(seed_n, seed_hit, np.array(seed_s), scan_n, scan_hit, best_scan, dec_n, best_dec)
    info = video.probe(path)
    figures = ratios([run])
    facts: dict[str, object] = {
        "codec": info.codec,
        "frames": info.frames,
        "keyframes": len(info.keyframes),
        "decode_only_path": decoder,
        "scan_path": r.manifest["decoder"],
        "frames_sampled": scan_n,
    }
    for key in PER_CLIP:
        facts[key] = round(figures[key], 3)
    return run, facts


# the figures the speed part gives for each clip as well as for the set
PER_CLIP = (
    "decode_over_scan_per_cpu_s",
    "decode_over_scan_per_s",
    "speedup_vs_seeds_per_cpu_s",
    "speedup_vs_seeds_per_s",
    "seeds_recall",
    "scan_recall",
)


def ratios(runs: list[ClipRun]) -> dict[str, float]:
    """Frames/s, cores busy and the goals' ratios over the summed frames and seconds of `runs`.

    `decode_over_scan_per_cpu_s` is decoding alone's frames per CPU second over the scan's: on
    the same frames, the scan's CPU seconds over decoding alone's (goal <= 2)."""
    out: dict[str, float] = {}
    for way in ("seed", "scan", "dec"):
        n = sum(getattr(r, f"{way}_n") for r in runs)
        s = sum((getattr(r, f"{way}_s") for r in runs), np.zeros(2))
        name = {"seed": "seeds", "dec": "decode"}.get(way, way)
        out[f"{name}_frames_per_s"] = n / s[0]
        out[f"{name}_frames_per_cpu_s"] = n / s[1]
        # cores busy while it ran: a decoder thread beside the caller makes it more than one,
        # which caps what a second Ray worker on a 2-core box can add at 2 / cores
        out[f"{name}_cores"] = s[1] / s[0]
    out["seeds_recall"] = sum(r.seed_hit for r in runs) / sum(r.seed_n for r in runs)
    out["scan_recall"] = sum(r.scan_hit for r in runs) / sum(r.scan_n for r in runs)
    for unit in ("s", "cpu_s"):
        scan = out[f"scan_frames_per_{unit}"]
        out[f"speedup_vs_seeds_per_{unit}"] = scan / out[f"seeds_frames_per_{unit}"]
        out[f"decode_over_scan_per_{unit}"] = out[f"decode_frames_per_{unit}"] / scan
    return out


def speed(
    cfg: ScanConfig, paths: list[Path], seed_frames: int, repeat: int, bundled: int
) -> dict[str, object]:
    """The scan against the seeds' way and decoding alone on each clip and on the set (the
    first `bundled` are bundled clips, the rest generated), and against full MTCNN's faces."""
    results: dict[str, object] = {
        "torch_threads": 1,
        "sampling": cfg.sampling,
        "refresh": cfg.detect.refresh,
        "load_average": os.getloadavg()[0],
    }
    runs, clips = [], {}
    for path in paths:
        run, clips[path.name] = run_clip(path, cfg, seed_frames, repeat)
        runs.append(run)
    results["clips"] = clips
    results.update(ratios(runs))  # the whole set, generated clips included
    if bundled < len(runs):
        only = ratios(runs[:bundled])
        results["bundled_clips_only"] = {key: only[key] for key in PER_CLIP}

    total = hit = frames = fulls = 0
    ious: list[float] = []
    for path in paths + [CLIPS / MULTI]:
        t, h, i, f, k = against_full(path, cfg)
        total, hit, frames, fulls = total + t, hit + h, frames + f, fulls + k
        ious += i
    results.update(
        recall_vs_full_mtcnn=hit / total,  # faces of full MTCNN on every sampled frame
        mean_iou_vs_full_mtcnn=float(np.mean(ious)),
        full_mtcnn_frames=f"{fulls}/{frames}",
    )
    return results


def memory(tmp: Path, sampling: str) -> dict[str, object]:
    """Peak memory scanning a clip and the same clip ten times longer, in fresh processes: with
    the scan's sampling (a clip window samples as many frames from either), and with every
    frame sampled (the longer clip decodes ten times the frames through the same chunks)."""
    short = CLIPS / "cosanlab__single_face.mp4"
    long = ten_times_longer(short, tmp / "long.mp4")
    results: dict[str, object] = {}
    for way, how in (("", sampling), ("_all_frames", "all")):
        base1, peak1, n1, rows1 = peak_rss_mib(short, how)
        base10, peak10, n10, rows10 = peak_rss_mib(long, how)
        results.update(
            {
                f"frames_sampled{way}": f"{n1} / {n10}",
                f"peak_rss_mib_clip{way}": peak1,
                f"peak_rss_mib_10x{way}": peak10,
                f"memory_ratio{way}": peak10 / peak1,
                # over the loaded process (torch, MTCNN), and how much of it is the face rows
                # the video's result holds until its tracks are complete
                f"growth_mib_clip{way}": peak1 - base1,
                f"growth_mib_10x{way}": peak10 - base10,
                f"face_rows_mib_clip{way}": rows1,
                f"face_rows_mib_10x{way}": rows10,
            }
        )
    return results


def archive_copies(tmp: Path, copies: int) -> list[DatasetItem]:
    """Every bundled clip, `copies` times under other names (hard links): a bigger archive
    of the same videos, so the tail (the last video running alone) weighs less."""
    items = []
    for k in range(copies):
        for src in sorted(CLIPS.glob("*.mp4")):
            dst = tmp / "archive" / f"{src.stem}__{k}.mp4"
            dst.parent.mkdir(parents=True, exist_ok=True)
            if not dst.exists():
                os.link(src, dst)
            items.append(DatasetItem(str(dst), -1, dst.stem))
    return items


def ray_workers(tmp: Path, cfg: ScanConfig, copies: int) -> dict[str, float]:
    """Frames/s of build_shards on a local 2-CPU Ray with one and with two videos in flight,
    on the bundled clips (15) and on `copies` times as many."""
    import ray

    ray.init(address="local", num_cpus=2, include_dashboard=False, log_to_driver=False)
    results: dict[str, float] = {}
    ray_rate(archive_copies(tmp, 1)[:2], tmp / "warm", cfg, 2)  # start both workers, load MTCNN
    for n in sorted({1, copies}):
        items = archive_copies(tmp, n)
        one = ray_rate(items, tmp / f"one{n}", cfg, 1)
        two = ray_rate(items, tmp / f"two{n}", cfg, 2)
        v = len(items)
        results.update(
            {
                f"ray_1_worker_fps_{v}": one.fps,
                f"ray_2_workers_fps_{v}": two.fps,
                f"ray_speedup_{v}": two.fps / one.fps,
                # Where a shortfall from 2x comes from: time the workers sat outside a task
                # (Ray, the driver, the tail), or the same videos taking longer inside their
                # tasks when two run at once.
                f"worker_busy_1_{v}": one.worker_busy,
                f"worker_busy_2_{v}": two.worker_busy,
                f"task_seconds_2_over_1_{v}": two.task_s / one.task_s,
                # The machine as a whole: cores kept busy (workers, Ray, the driver), and CPU
                # seconds for the same videos; speedup = cores ratio / CPU-seconds ratio.
                f"box_cores_busy_1_{v}": one.cores_busy,
                f"box_cores_busy_2_{v}": two.cores_busy,
                f"box_cpu_seconds_2_over_1_{v}": two.cpu_s / one.cpu_s,
            }
        )
    ray.shutdown()
    return results


# where a scan's time goes: the functions whose cumulative time the profile part reports
STAGES = [
    ("probe: demux every packet, rotation from PyAV", video.probe),
    ("decode: PyAV forward read", video._Forward.frames),
    ("decode: of which conversion to RGB", video._Forward._rgb),
    ("decode: Decord random access (guarded)", video._RandomAccess.frames),
    ("detect: all (full MTCNN + O-Net follow)", SequenceDetector.detect),
    ("detect: full MTCNN", FaceDetector.detect),
    ("detect: O-Net follow", SequenceDetector._follow),
    ("crop: face square, resized", crop.crop_face),
    ("crop: eye patches", crop.eye_patches),
    ("crop: JPEG encoding", crop.encode_jpeg),
    ("crop: Laplacian variance", crop.laplacian_variance),
    ("track + rows", scan_module._face_rows),
]


def profile(cfg: ScanConfig, clips: int, repeat: int) -> dict[str, object]:
    """cProfile of the scan on the speed part's clips: ms per sampled frame by stage (cumulative
    time of each function, so nested stages overlap: `detect: all` holds the two below it)."""
    import cProfile
    import pstats

    items = [DatasetItem(str(CLIPS / name), -1, name) for name in NAMES[:clips]]
    for item in items:
        scan_video(item, cfg)  # warm
    prof, frames, clock = cProfile.Profile(), 0, Clock()
    prof.enable()
    for _ in range(repeat):
        for item in items:
            frames += scan_video(item, cfg).manifest["frames_sampled"]
    prof.disable()
    wall, _ = clock.read()
    # pstats keeps (file, line, name) -> (calls, primitive calls, tottime, cumtime, callers)
    stats = pstats.Stats(prof).stats  # type: ignore[attr-defined]
    out: dict[str, object] = {"profiled_frames": frames, "scan_ms_per_frame": 1e3 * wall / frames}
    for label, func in STAGES:
        code = func.__code__
        key = (code.co_filename, code.co_firstlineno, code.co_name)
        cum = stats[key][3] if key in stats else 0.0
        out[f"{label} (ms/frame)"] = round(1e3 * cum / frames, 3)
    return out


def looped(src: Path, dst: Path, seconds: float, size: tuple[int, int], gop: int) -> Path:
    """Synthetic: the clip's frames resized to `size` and played over and over for `seconds`,
    encoded as High 4:4:4 Predictive with a keyframe every `gop` frames (as in FaceForensics++)."""
    fps = video.probe(src).fps
    total = round(seconds * fps)

    def frames() -> Iterator[np.ndarray]:
        done = 0
        while True:
            for batch in sample_frames(src, "all"):
                for frame in batch.frames:
                    if done == total:
                        return
                    yield cv2.resize(frame, size, interpolation=cv2.INTER_AREA)
                    done += 1

    return encode_like(frames(), dst, fps, "yuv444p", gop)


def timed(n: int, s: tuple[float, float]) -> dict[str, float]:
    """Seconds and frames/s, wall and CPU, for `n` frames in `s` = (wall, cpu) seconds."""
    return {
        "wall_s": round(s[0], 3),
        "cpu_s": round(s[1], 3),
        "frames_per_s": round(n / s[0], 1),
        "frames_per_cpu_s": round(n / s[1], 1),
        "cores": round(s[1] / s[0], 2),
    }


def decode_every_frame(path: Path) -> tuple[int, tuple[float, float]]:
    """PyAV decoding every frame forward, threaded as the forward path is, converting none."""
    clock = Clock()
    n = 0
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        for _ in container.decode(stream):
            n += 1
    return n, clock.read()


def sampled(
    path: Path, strategy: str, chunk: int
) -> tuple[dict[int, np.ndarray], tuple[float, float], str]:
    """sample_frames as the scan calls it: (frame number -> RGB, (wall, cpu) seconds, path)."""
    report = DecodeReport()
    clock = Clock()
    frames = {
        int(i): f
        for b in sample_frames(path, strategy, chunk, report=report)
        for i, f in zip(b.indices, b.frames, strict=True)
    }
    return frames, clock.read(), report.decoder


def decord_random(
    path: Path, indices: list[int], chunk: int
) -> tuple[dict[int, np.ndarray], tuple[float, float]]:
    """Decord's get_batch on `indices`, `chunk` at a time with seek(0) after each, as vidfake
    read every video before the forward path: (frame number -> RGB, (wall, cpu) seconds)."""
    clock = Clock()
    reader = decord.VideoReader(str(path), ctx=decord.cpu(0), num_threads=1)
    frames: dict[int, np.ndarray] = {}
    for start in range(0, len(indices), chunk):
        idx = indices[start : start + chunk]
        try:
            frames.update(zip(idx, reader.get_batch(idx).asnumpy(), strict=True))
        finally:
            reader.seek(0)
    return frames, clock.read()


def agreement(got: dict[int, np.ndarray], ref: dict[int, np.ndarray]) -> dict[str, object]:
    """How far Decord's frames are from the forward decode's: PSNR (dB) and mean absolute
    difference (levels), and which frames fall below the decode guard's PSNR."""
    psnr = {i: video._psnr(got[i], ref[i]) for i in sorted(ref)}
    mad = {i: float(np.abs(got[i].astype(np.int16) - ref[i]).mean()) for i in sorted(ref)}
    bad = [i for i, v in psnr.items() if v < video.GUARD_MIN_PSNR]
    return {
        "frames_equal": f"{sum(v == float('inf') for v in psnr.values())}/{len(ref)}",
        "psnr_db_min": round(min(psnr.values()), 1),
        "psnr_db_median": round(float(np.median(list(psnr.values()))), 1),
        "mad_max": round(max(mad.values()), 2),
        "mad_mean": round(float(np.mean(list(mad.values()))), 2),
        f"frames_below_{video.GUARD_MIN_PSNR:g}_db": len(bad),
        "first_below": bad[0] if bad else None,
    }


def forward_costs(path: Path, chunk: int, repeat: int) -> dict[str, object]:
    """On one clip: every frame decoded forward without conversion, each sampling through
    sample_frames (the path it chose), and the same frames by Decord's random access, checked
    against sample_frames' frames. Best of `repeat` runs each."""
    info = video.probe(path)
    out: dict[str, object] = {
        "codec": info.codec,
        "size": f"{info.width}x{info.height}",
        "frames": info.frames,
        "fps": info.fps,
        "keyframes": list(info.keyframes),
    }
    runs = [decode_every_frame(path) for _ in range(repeat)]
    out["decode_every_frame_no_conversion"] = timed(runs[0][0], best(s for _, s in runs))
    for strategy in FORWARD_STRATEGIES:
        frames, first, decoder = sampled(path, strategy, chunk)  # the first run's frames are kept
        seconds = [first] + [sampled(path, strategy, chunk)[1] for _ in range(repeat - 1)]
        indices = sorted(frames)
        out[f"sample_frames {strategy}"] = {
            "path": decoder,
            "frames_sampled": len(frames),
            "frames_up_to_last_sampled": indices[-1] + 1,
            **timed(len(frames), best(seconds)),
        }
        got, first = decord_random(path, indices, chunk)
        seconds = [first] + [decord_random(path, indices, chunk)[1] for _ in range(repeat - 1)]
        out[f"decord get_batch {strategy}"] = {
            **timed(len(indices), best(seconds)),
            **agreement(got, frames),
        }
    return out


def best(seconds: Iterable[tuple[float, float]]) -> tuple[float, float]:
    """The smallest wall and the smallest CPU seconds of several runs."""
    wall, cpu = zip(*seconds, strict=True)
    return min(wall), min(cpu)


def forward(tmp: Path, chunk: int, repeat: int, extra: list[Path]) -> dict[str, object]:
    """What the forward read costs on a 30-s 640x480 High 4:4:4 Predictive clip (keyframe every
    250 frames, as FaceForensics++ files), against Decord's random access on it, and the same
    clip re-encoded as 4:2:0 High (where the guarded random access is allowed); then the same
    on each `extra` file (real FaceForensics++ files, read where they lie, never copied)."""
    clip444 = looped(CLIPS / FORWARD_SOURCE, tmp / "forward_444.mp4", 30.0, (640, 480), 250)
    frames = (f for b in sample_frames(clip444, "all") for f in b.frames)
    clip420 = encode_like(frames, tmp / "forward_420.mp4", video.probe(clip444).fps, "yuv420p", 250)
    results: dict[str, object] = {
        "load_average": os.getloadavg()[0],
        "source": FORWARD_SOURCE,
        "yuv444p": forward_costs(clip444, chunk, repeat),
        "yuv420p": forward_costs(clip420, chunk, repeat),
    }
    for path in extra:
        results[path.name] = forward_costs(path, chunk, repeat)
    return results


def main() -> None:
    """Run the chosen measurements once and print the figures as JSON."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--clips", type=int, default=3, help="clips for the speed comparison")
    parser.add_argument("--seed-frames", type=int, default=60, help="frames per clip, seeds' way")
    parser.add_argument("--repeat", type=int, default=3, help="scan and decode runs; best kept")
    parser.add_argument("--set", action="append", default=[], help="scan setting key=value")
    parser.add_argument(
        "--parts", default="speed,memory,ray", help="any of speed,memory,ray,profile,forward"
    )
    parser.add_argument(
        "--ray-copies", type=int, default=3, help="Ray part: also an archive of N x the clips"
    )
    parser.add_argument(
        "--forward-clip",
        action="append",
        default=[],
        type=Path,
        help="forward part: also measure this video file (repeatable)",
    )
    args = parser.parse_args()
    parts = set(args.parts.split(","))
    torch.set_num_threads(1)  # both ways on one thread: the box is shared
    cfg = load_config(ScanConfig, None, args.set)
    with tempfile.TemporaryDirectory() as tmp:
        if "speed" in parts:
            names = NAMES[: args.clips]
            paths = [CLIPS / name for name in names]
            src = CLIPS / HIGH444_SOURCE
            paths.append(high444(src, Path(tmp) / f"{src.stem}__yuv444p_g50.mp4"))
            figures = speed(cfg, paths, args.seed_frames, args.repeat, len(names))
            print(json.dumps(figures, indent=1), flush=True)
        if "profile" in parts:
            print(json.dumps(profile(cfg, args.clips, args.repeat), indent=1), flush=True)
        if "memory" in parts:
            print(json.dumps(memory(Path(tmp), cfg.sampling), indent=1), flush=True)
        if "ray" in parts:
            print(json.dumps(ray_workers(Path(tmp), cfg, args.ray_copies), indent=1), flush=True)
        if "forward" in parts:
            figures = forward(Path(tmp), cfg.chunk_size, args.repeat, args.forward_clip)
            print(json.dumps(figures, indent=1), flush=True)


if __name__ == "__main__":
    main()
