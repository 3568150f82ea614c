"""Ray entry point: the vidfake training loop under Ray Train with N workers (CPU or GPU).

    python pipelines/train.py --config configs/models/cvit.yaml --data SHARDS --out RUN \
        --workers 2 [--gpu] [--set key=value ...]

The face shards are streamed as a Ray Dataset (`ray.data.read_parquet`), grouped per track
into sequences of JPEG crops, split across workers; each worker decodes and augments them with
`vidfake.sequences.SequenceTransform` and runs `vidfake.training.train_steps` under DDP. Rank 0
validates with the same code as `vidfake train` and writes `best/`, `last/` and `metrics.csv`;
`init`, `patience` (early stopping, all workers together) and `data.shuffle_buffer` work as
there. Settings this path cannot honour (class balancing, pseudo-fakes, DataLoader workers)
are refused with a message, not ignored; there is no resume (a fresh `--out` each run).
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import torch


def sequence_rows(group: pa.Table, frames: int, stride: int) -> pa.Table:
    """Ray Data `map_groups` UDF: one track's face rows → one row per window of JPEG crops."""
    from vidfake.sequences import table_sequences

    seqs = list(table_sequences(group, frames, stride))
    return pa.table(
        {
            "video_id": [s.video_id for s in seqs],
            "track_id": pa.array([s.track_id for s in seqs], pa.int32()),
            "label": pa.array([s.label for s in seqs], pa.int8()),
            "faces": pa.array([s.faces for s in seqs], pa.list_(pa.binary())),
        }
    )


def sequence_dataset(shards: str | Path, split: str, frames: int, stride: int):
    """A Ray Dataset of training sequences (JPEG bytes) of one split, streamed from Parquet."""
    import ray.data
    from ray.data.expressions import col

    from vidfake.sequences import SEQUENCE_COLUMNS
    from vidfake.training.loader import face_files

    files = [str(f) for f in face_files(shards)]
    ds = ray.data.read_parquet(files).select_columns(SEQUENCE_COLUMNS)
    ds = ds.filter(expr=(col("split") == split) & (col("label") >= 0))
    return ds.groupby(["video_id", "track_id"]).map_groups(
        sequence_rows, fn_kwargs={"frames": frames, "stride": stride}, batch_format="pyarrow"
    )


def unsupported(cfg) -> list[str]:
    """The settings of `cfg` (a TrainConfig) this path cannot honour, as `key=value`.

    Class balancing and pseudo-fakes live in `vidfake.training.loader.ShardSequenceDataset`, which the
    Ray Data stream does not use; DataLoader workers have no meaning here.
    """
    out = []
    if cfg.data.balance != "none":
        out.append(f"data.balance={cfg.data.balance}")
    if cfg.data.pseudo_fake > 0:
        out.append(f"data.pseudo_fake={cfg.data.pseudo_fake}")
    if cfg.data.workers:
        out.append(f"data.workers={cfg.data.workers}")
    return out


def _batches(
    shard, transform, batch_size: int, seed: int, shuffle: int
) -> Iterator[dict[str, Any]]:
    """Decode and augment a worker's share of sequences into model batches."""
    rng = np.random.default_rng(seed)
    for batch in shard.iter_batches(
        batch_size=batch_size,
        batch_format="pyarrow",
        local_shuffle_buffer_size=max(shuffle, batch_size),
    ):
        xs = [transform.prepare(list(faces), rng=rng)[0] for faces in batch["faces"].to_pylist()]
        yield {
            "x": torch.stack(xs),
            "label": torch.tensor(batch["label"].to_numpy(), dtype=torch.float32),
        }


def train_loop(config: dict[str, Any]) -> None:
    """The per-worker loop: the same model, optimiser and steps as `vidfake.training.train`."""
    import math

    import ray.train
    from ray.train.torch import prepare_model

    from vidfake.augment import SequenceAugment
    from vidfake.config import from_dict
    from vidfake.evaluate import eval_dataset
    from vidfake.sequences import SequenceTransform
    from vidfake.training.loader import count_sequences
    from vidfake.training.loop import (
        TrainConfig,
        build_model,
        end_epoch,
        init_weights,
        make_optimizer,
        seed_everything,
        train_steps,
    )

    cfg = from_dict(TrainConfig, config["cfg"])
    out = Path(config["out"])
    ctx = ray.train.get_context()
    rank, world = ctx.get_world_rank(), ctx.get_world_size()
    seed_everything(cfg.seed)
    model, preprocess = build_model(cfg)
    if cfg.init:
        init_weights(model, cfg.init)
    device = "cuda" if torch.cuda.is_available() and config["use_gpu"] else "cpu"
    model = prepare_model(model)
    T = preprocess["frames"]
    counts = count_sequences(cfg.data.shards, T, cfg.data.stride or T, (cfg.data.train_split,))
    steps = math.ceil(sum(counts.values()) / (cfg.optim.batch_size * world))
    opt, sched = make_optimizer(model, cfg.optim, steps * cfg.epochs)
    scaler = torch.amp.GradScaler("cuda") if device == "cuda" else None
    transform = SequenceTransform.from_cfg(preprocess, SequenceAugment(cfg.augment))
    val_ds = eval_dataset(
        cfg.data.shards, SequenceTransform.from_cfg(preprocess), cfg.data.val_split
    )
    shard = ray.train.get_dataset_shard("train")
    state: dict[str, Any] = {"epoch": 0, "best": None, "bad_epochs": 0}
    for epoch in range(cfg.epochs):
        start = time.perf_counter()
        seed = cfg.seed * 1000 + epoch * world + rank
        batches = _batches(shard, transform, cfg.optim.batch_size, seed, cfg.data.shuffle_buffer)
        row: dict[str, Any] = {"epoch": epoch + 1, "lr": sched.get_last_lr()[0]}
        row.update(train_steps(model, batches, opt, sched, cfg.optim.grad_clip, device, scaler))
        row["workers"] = world
        if rank == 0:
            net = model.module if hasattr(model, "module") else model
            state, _ = end_epoch(cfg, out, net, preprocess, val_ds, device, row, start, state)
        ray.train.report({k: v for k, v in row.items() if isinstance(v, (int, float))})
        if _stop_everywhere(state["bad_epochs"] >= cfg.patience, world):
            break  # early stopping: rank 0 decides, every worker stops at the same epoch


def _stop_everywhere(stop: bool, world: int) -> bool:
    """Rank 0's stop decision, broadcast to every worker (they must leave the loop together)."""
    flag = torch.tensor([int(stop)])
    if world > 1:
        torch.distributed.broadcast(flag, src=0)
    return bool(flag.item())


def run_ray_training(
    cfg, out: str | Path, workers: int = 2, use_gpu: bool = False, cpus_per_worker: float = 1.0
) -> Path:
    """Train `cfg` (a TrainConfig) with `workers` Ray Train workers; returns the run folder.

    Leave CPUs free for Ray Data's read tasks (e.g. `cpus_per_worker=0.5` on a 2-CPU Ray),
    or the workers hold every CPU and the streamed dataset never starts.
    """
    from ray.train import RunConfig, ScalingConfig
    from ray.train.torch import TorchTrainer

    from vidfake.config import to_dict
    from vidfake.training.loop import build_model, check_validation_split

    refused = unsupported(cfg)
    if refused:
        raise ValueError(
            f"the Ray Train path does not implement {', '.join(refused)}: train with "
            "`vidfake train`, or set them off (data.balance=none, data.pseudo_fake=0, "
            "data.workers=0)"
        )
    out = Path(out).resolve()
    if (out / "last").exists():
        raise ValueError(f"{out} already holds a run; choose another --out")
    out.mkdir(parents=True, exist_ok=True)
    model, preprocess = build_model(cfg)
    if model.default_cfg.get("uses_blink") or model.default_cfg.get("uses_eyes"):
        raise ValueError(
            f"{cfg.arch}: the Ray Data path streams face crops only; train models with eye or "
            "blink inputs with `vidfake train`"
        )
    frames = preprocess["frames"]
    check_validation_split(cfg, frames, cfg.data.stride or frames)
    train_ds = sequence_dataset(
        cfg.data.shards, cfg.data.train_split, frames, cfg.data.stride or frames
    )
    trainer = TorchTrainer(
        train_loop,
        train_loop_config={"cfg": to_dict(cfg), "out": str(out), "use_gpu": use_gpu},
        scaling_config=ScalingConfig(
            num_workers=workers, use_gpu=use_gpu, resources_per_worker={"CPU": cpus_per_worker}
        ),
        run_config=RunConfig(
            name="vidfake-train", storage_path=tempfile.mkdtemp(prefix="vidfake-ray-")
        ),
        datasets={"train": train_ds},
    )
    trainer.fit()
    return out


def main(argv: list[str] | None = None) -> int:
    """Parse arguments, join or start Ray, train; returns the exit code."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", type=Path)
    parser.add_argument("--data", required=True)
    parser.add_argument("--out", required=True)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--gpu", action="store_true")
    parser.add_argument("--cpus-per-worker", type=float, default=1.0)
    parser.add_argument("--address", default=os.environ.get("RAY_ADDRESS"))
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE")
    args = parser.parse_args(argv)

    import ray

    from vidfake.training.loop import load_train_config

    try:
        cfg = load_train_config(args.config, [*args.overrides, f"data.shards={args.data}"])
    except (ValueError, FileNotFoundError) as exc:
        print(f"pipelines/train.py: error: {exc}", file=sys.stderr)
        return 2
    ray.init(address=args.address or "local")
    out = run_ray_training(cfg, args.out, args.workers, args.gpu, args.cpus_per_worker)
    print(f"best checkpoint: {out / 'best'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
