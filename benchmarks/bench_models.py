"""Training and inference speed of every registered model at its CPU setting.

Random tensors (synthetic) shaped from each model's `default_cfg`, random weights. One step is
a batch of `--batch` sequences; a training step is forward, BCE loss, backward and AdamW. Each
model runs one warm-up step, then timed steps until `--seconds` have passed (at least one).

    .venv/bin/python benchmarks/bench_models.py [--models cvit meso4] [--batch 4] [--seconds 3]
        [--threads 1]
"""

from __future__ import annotations

import argparse
import os
import time
from typing import Any

import torch

from vidfake.models import create_model, list_models

# The CPU setting of each architecture: what one would train on a 2-core laptop.
CPU_SETTINGS: dict[str, tuple[str, dict[str, Any]]] = {
    "meso4": ("meso4", {"img_size": 256, "frames": 4}),
    "mesoinception4": ("mesoinception4", {"img_size": 256, "frames": 4}),
    "vgg16": ("vgg16", {"img_size": 112, "frames": 4}),
    "efficientnet_b0": ("efficientnet_b0", {"img_size": 112, "frames": 4}),
    "densenet121": ("densenet121", {"img_size": 112, "frames": 4}),
    "xception": ("xception", {"img_size": 112, "frames": 4}),
    "resnet50": ("resnet50", {"img_size": 112, "frames": 4}),
    "inception_resnet_v1": ("inception_resnet_v1", {"img_size": 112, "frames": 4}),
    "cnn_lstm": (
        "cnn_lstm",
        {"backbone": "resnet18", "img_size": 112, "frames": 8, "hidden": 128},
    ),
    "cnn_lstm_eye": (
        "cnn_lstm_eye",
        {"backbone": "resnet18", "img_size": 112, "frames": 8, "hidden": 128, "eye_size": 32},
    ),
    "cvit": (
        "cvit",
        {"size": "tiny", "backbone": "resnet18", "feature_index": -2, "img_size": 112, "frames": 8},
    ),
    "cvit_factorised": (
        "cvit",
        {
            "size": "tiny",
            "attention": "factorised",
            "backbone": "resnet18",
            "feature_index": -2,
            "img_size": 112,
            "frames": 8,
        },
    ),
    "eye_lrcn": ("eye_lrcn", {"eye_size": 32, "frames": 16}),
}


def batch_for(model: torch.nn.Module, batch: int) -> dict[str, torch.Tensor]:
    """Random normalised inputs with the shapes the model's default_cfg asks for."""
    cfg = model.default_cfg
    t = cfg["frames"]
    feed = {"x": torch.randn(batch, t, *cfg["input_size"])}
    if cfg["uses_eyes"]:
        feed["eyes"] = torch.randn(batch, t, 2, *cfg["eye_size"])
    if cfg["uses_blink"]:
        feed["blink"] = torch.randn(batch, cfg["blink_features"])
    return feed


def timed(step, seconds: float) -> float:
    """Steps per second of `step()` after one warm-up call, over at least `seconds`."""
    step()
    n, start = 0, time.perf_counter()
    while n == 0 or time.perf_counter() - start < seconds:
        step()
        n += 1
    return n / (time.perf_counter() - start)


def bench(label: str, batch: int, seconds: float) -> dict[str, Any]:
    """Parameters, training and inference sequences/s of one CPU setting."""
    arch, kwargs = CPU_SETTINGS[label]
    torch.manual_seed(0)
    model = create_model(arch, **kwargs)
    feed = batch_for(model, batch)
    target = torch.ones(batch)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-4)

    def train_step() -> None:
        loss = torch.nn.functional.binary_cross_entropy_with_logits(model(**feed), target)
        opt.zero_grad()
        loss.backward()
        opt.step()

    def infer_step() -> None:
        with torch.inference_mode():
            model(**feed)

    model.train()
    train = timed(train_step, seconds) * batch
    model.eval()
    infer = timed(infer_step, seconds) * batch
    cfg = model.default_cfg
    size = cfg["eye_size"] if arch == "eye_lrcn" else cfg["input_size"]
    return {
        "model": label,
        "setting": f"T={cfg['frames']} {size[1]}px",
        "params": sum(p.numel() for p in model.parameters() if p.requires_grad),
        "train": train,
        "infer": infer,
        "frames": cfg["frames"],
    }


def main() -> None:
    """Run the benchmark and print a Markdown table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="*", default=list(CPU_SETTINGS))
    parser.add_argument("--batch", type=int, default=4, help="sequences per step")
    parser.add_argument("--seconds", type=float, default=3.0, help="timed seconds per phase")
    parser.add_argument("--threads", type=int, default=1, help="torch intra-op threads")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    unknown = set(args.models) - set(CPU_SETTINGS)
    if unknown:
        parser.error(f"no CPU setting for {sorted(unknown)}; known: {', '.join(CPU_SETTINGS)}")
    missing = set(list_models()) - {arch for arch, _ in CPU_SETTINGS.values()}
    if missing:
        parser.error(f"registered models without a CPU setting: {sorted(missing)}")
    print(
        f"torch {torch.__version__}, {torch.get_num_threads()} threads, batch {args.batch}, "
        f"load average {os.getloadavg()[0]:.1f}"
    )
    print("| model | setting | params | train seq/s | infer seq/s | infer frames/s |")
    print("|---|---|---:|---:|---:|---:|")
    for label in args.models:
        r = bench(label, args.batch, args.seconds)
        print(
            f"| {r['model']} | {r['setting']} | {r['params']:,} | {r['train']:.2f} | "
            f"{r['infer']:.2f} | {r['infer'] * r['frames']:.1f} |",
            flush=True,
        )


if __name__ == "__main__":
    main()
