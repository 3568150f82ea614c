"""The training loop: shards → sequences → model, with validation, checkpoints and resume.

AdamW with a cosine schedule per step, gradient clipping, AMP only on a GPU, seeded data order
and initialisation, a tqdm bar per epoch, one metrics CSV row per epoch, early stopping on the
validation metric, `best/` and `last/` checkpoints, and `resume` continuing from `last/`.
`pipelines/train.py` runs the same `train_steps` under Ray Train.
"""

from __future__ import annotations

import copy
import csv
import math
import random
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader
from tqdm import tqdm

from vidfake.augment import AugmentConfig, SequenceAugment
from vidfake.checkpoint import load_train_state, load_weights, save_checkpoint, save_train_state
from vidfake.config import (
    FORBID_EXTRA,
    Float,
    Int,
    apply_overrides,
    from_dict,
    load_yaml,
    to_dict,
)
from vidfake.evaluate import eval_dataset, predict
from vidfake.metrics import choose_threshold, evaluate_predictions
from vidfake.models.tta import check_tta, with_tta
from vidfake.sequences import SequenceTransform
from vidfake.training.loader import (
    ShardSequenceDataset,
    count_sequences,
    model_inputs,
    scan_settings,
)


@dataclass
class DataConfig:
    """Which shards and sequences to train on."""

    __pydantic_config__ = FORBID_EXTRA

    shards: str = ""  # shards folder (SHARDS/faces/*.parquet); `--data` on the command line
    train_split: str = "train"  # split trained on
    val_split: str = "val"  # split that picks the threshold, the best epoch and early stopping
    stride: Int | None = None  # step between training windows (None: T, no overlap)
    shuffle_buffer: Int = 256  # sequences held for shuffling the stream
    balance: str = "oversample"  # `oversample` the rarer class per epoch, or `none`
    workers: Int = 0  # DataLoader worker processes (each reads a share of the shards)
    pseudo_fake: Float = 0.0  # probability that a real training sequence becomes a self-blended
    # fake (label 1); > 0 also gives validation every real sequence's fake twin (seeded)
    pseudo_flicker: bool = False  # jitter the pseudo-fake's blend per frame (temporal flicker)
    pseudo_pairs: bool = False  # with pseudo_fake > 0: every real training sequence is followed,
    # in the same batch, by a fresh self-blended fake of it under the same augmentation (SBI's
    # pairs: the two differ only by the blend, so identity, pose and augmentation explain nothing)
    pseudo_aligned: Float = 0.0  # share of training pseudo-fakes whose source stays in place
    # (no scale or shift): only colour, frequency and the mask edge tell them apart


@dataclass
class OptimConfig:
    """AdamW, a per-step cosine schedule with warm-up, and gradient clipping."""

    __pydantic_config__ = FORBID_EXTRA

    lr: Float = 3e-4  # peak learning rate
    weight_decay: Float = 0.05  # AdamW weight decay
    warmup_steps: Int = 0  # linear warm-up steps before the cosine decay
    grad_clip: Float = 1.0  # max gradient norm (0 disables clipping)
    batch_size: Int = 16  # sequences per step (per worker under Ray Train)


@dataclass
class TrainConfig:
    """Everything one training run reads; saved into every checkpoint's meta."""

    __pydantic_config__ = FORBID_EXTRA

    arch: str = "cvit"  # a name from vidfake.models.list_models()
    model: dict[str, Any] = field(default_factory=dict)  # keyword settings for create_model
    profile: str = "full"  # `full` (the GPU setting) or a key of `profiles`, e.g. `tiny`
    profiles: dict[str, Any] = field(default_factory=dict)  # named overrides of this file
    epochs: Int = 20  # maximum epochs
    patience: Int = 5  # stop after this many epochs without a better validation metric
    monitor: str = "seq_auc"  # validation metric that picks the best epoch (higher is better)
    seed: Int = 0  # seeds initialisation, data order and augmentation
    tta: str = "none"  # test-time augmentation, recorded in the checkpoint: `flip` averages
    # each sequence's logit with its mirror image's (validation, evaluation, scoring alike)
    init: str | None = None  # checkpoint folder whose weights start the run (fine-tuning)
    device: str = "auto"  # `auto` (cuda when available), `cpu` or `cuda`
    data: DataConfig = field(default_factory=DataConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)
    augment: AugmentConfig = field(default_factory=AugmentConfig)


def _merge(base: dict[str, Any], extra: dict[str, Any]) -> dict[str, Any]:
    """Deep-merge mapping `extra` into a copy of `base`."""
    out = copy.deepcopy(base)
    for key, value in extra.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = _merge(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def load_train_config(
    path: str | Path | None = None, overrides: list[str] | None = None
) -> TrainConfig:
    """Load a training YAML, apply its selected profile, then the `key=value` overrides."""
    data: dict[str, Any] = {}
    if path is not None:
        data = load_yaml(Path(path).read_text()) or {}
        if not isinstance(data, dict):
            raise ValueError(f"{path}: expected a mapping at the top level")
    profile = apply_overrides(copy.deepcopy(data), overrides or []).get("profile", "full")
    if profile != "full":
        profiles = data.get("profiles", {})
        if profile not in profiles:
            raise ValueError(f"unknown profile {profile!r}; this config has {sorted(profiles)}")
        data = _merge(data, profiles[profile])
    return from_dict(TrainConfig, apply_overrides(data, overrides or []), str(path or ""))


def seed_everything(seed: int) -> None:
    """Seed Python, NumPy and torch."""
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def pick_device(name: str) -> str:
    """`auto` → cuda when available, else cpu."""
    if name == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    return name


def build_model(cfg: TrainConfig) -> tuple[nn.Module, dict[str, Any]]:
    """The model and its preprocessing, read from the model's `default_cfg`.

    Crop size and T are model settings (`model.img_size`, `model.frames`), so the data always
    matches what the model was built for.
    """
    from vidfake.models import create_model

    model = create_model(cfg.arch, **cfg.model)
    dcfg = dict(getattr(model, "default_cfg", {}))
    missing = {"input_size", "mean", "std", "frames"} - set(dcfg)
    if missing:
        raise ValueError(f"model {cfg.arch!r}: default_cfg lacks {sorted(missing)}")
    eye_size = dcfg.get("eye_size") if dcfg.get("uses_eyes") else None
    preprocess = {
        "input_size": list(dcfg["input_size"]),
        "mean": list(dcfg["mean"]),
        "std": list(dcfg["std"]),
        "frames": int(dcfg["frames"]),
        "eye_size": int(np.atleast_1d(eye_size)[-1]) if eye_size is not None else None,
    }
    return model, preprocess


def make_optimizer(
    model: nn.Module, cfg: OptimConfig, total_steps: int
) -> tuple[torch.optim.Optimizer, torch.optim.lr_scheduler.LambdaLR]:
    """AdamW and a per-step schedule: linear warm-up, then cosine decay to zero."""
    opt = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    warm = max(0, cfg.warmup_steps)

    def factor(step: int) -> float:
        if step < warm:
            return (step + 1) / warm
        progress = min(1.0, (step - warm) / max(1, total_steps - warm))
        return 0.5 * (1.0 + math.cos(math.pi * progress))

    return opt, torch.optim.lr_scheduler.LambdaLR(opt, factor)


def train_steps(
    model: nn.Module,
    batches: Iterable[dict[str, Any]],
    opt: torch.optim.Optimizer,
    sched: torch.optim.lr_scheduler.LRScheduler,
    grad_clip: float,
    device: str,
    scaler: torch.amp.GradScaler | None = None,
    progress: bool = False,
    desc: str = "train",
) -> dict[str, float]:
    """One pass over `batches`: loss, backward, clipping, step; returns mean loss and speed."""
    model.train()
    loss_fn = nn.BCEWithLogitsLoss()
    total, n, start = 0.0, 0, time.perf_counter()
    bar = tqdm(batches, desc=desc, unit="batch", disable=not progress, leave=False)
    for batch in bar:
        x, y = batch["x"].to(device), batch["label"].float().to(device)
        with torch.autocast("cuda", enabled=scaler is not None):
            logits = model(x, **model_inputs(batch, device))
            loss = loss_fn(logits.float(), y)
        opt.zero_grad(set_to_none=True)
        if scaler is not None:
            scaler.scale(loss).backward()
            scaler.unscale_(opt)
        else:
            loss.backward()
        if grad_clip > 0:
            nn.utils.clip_grad_norm_(model.parameters(), grad_clip)
        if scaler is not None:
            scaler.step(opt)
            scaler.update()
        else:
            opt.step()
        sched.step()
        total += loss.item() * len(y)
        n += len(y)
        bar.set_postfix(loss=f"{total / n:.4f}")
    seconds = time.perf_counter() - start
    return {
        "train_loss": total / max(n, 1),
        "train_seqs": n,
        "train_seqs_per_s": n / max(seconds, 1e-9),
    }


def validate(
    model: nn.Module,
    dataset: ShardSequenceDataset,
    batch_size: int,
    device: str,
    tta: str = "none",
) -> tuple[dict[str, Any], float]:
    """Validation metrics (prefixed `val_`) and the threshold chosen on them, with the model
    under the test-time augmentation `tta` that its checkpoint will record."""
    preds = predict(with_tta(model, tta), DataLoader(dataset, batch_size=batch_size), device)
    if preds.empty:
        raise ValueError(f"{dataset.shards_dir}: no labelled sequences in the validation split")
    threshold = choose_threshold(preds["label"], preds["prob"])
    metrics = evaluate_predictions(preds, threshold)
    return {f"val_{k}": v for k, v in metrics.items()}, threshold


def checkpoint_meta(
    cfg: TrainConfig, preprocess: dict[str, Any], model: nn.Module, **extra: Any
) -> dict[str, Any]:
    """What a checkpoint records besides its weights."""
    dcfg = getattr(model, "default_cfg", {})
    return {
        "arch": cfg.arch,
        "model_kwargs": cfg.model,
        "preprocess": preprocess,
        "uses_eyes": bool(dcfg.get("uses_eyes", False)),
        "uses_blink": bool(dcfg.get("uses_blink", False)),
        "temporal": bool(dcfg.get("temporal", False)),
        "tta": cfg.tta,
        "train_config": to_dict(cfg),
        "scan_settings": scan_settings(cfg.data.shards),
        **extra,
    }


def init_weights(model: nn.Module, path: str | Path) -> None:
    """Start `model` from a checkpoint's weights; the architecture must match exactly."""
    try:
        model.load_state_dict(load_weights(path))
    except RuntimeError as exc:
        raise ValueError(f"{path}: weights do not fit this model ({exc})") from None


def _better(value: float, best: float | None) -> bool:
    return not math.isnan(value) and (best is None or value > best)


def check_validation_split(cfg: TrainConfig, T: int, stride: int) -> None:
    """Refuse before the first epoch when the validation split cannot pick a threshold.

    Validation needs both classes (with pseudo-fakes: real sequences, whose twins are the
    fakes); a small labelled folder often has every video in `train`.
    """
    val = cfg.data.val_split
    counts = count_sequences(cfg.data.shards, T, stride, (val,))
    pseudo = cfg.data.pseudo_fake > 0
    if counts[0] > 0 and (pseudo or counts[1] > 0):
        return
    need = "real sequences (their self-blended twins are the fakes)" if pseudo else "both classes"
    raise ValueError(
        f"{cfg.data.shards}: the validation split {val!r} holds {counts[0]} real and "
        f"{counts[1]} fake sequences; it needs {need} to choose the threshold and the best "
        f"epoch. Give some groups the split {val!r} (a `split` column in the listing CSV, or "
        "a dataset layout with one), or validate on another split with "
        "--set data.val_split=SPLIT"
    )


def train(
    cfg: TrainConfig,
    out: str | Path,
    resume: bool = False,
    progress: bool = True,
    stop_after: int | None = None,
) -> Path:
    """Train `cfg` into run folder `out` (`best/`, `last/`, `metrics.csv`); returns `out`.

    With `resume`, training continues from `out/last` at the epoch after the one saved there.
    `stop_after` ends this call after that many epochs (a planned interruption).
    """
    out = Path(out)
    if not cfg.data.shards:
        raise ValueError("no shards given (data.shards or --data)")
    if resume and not (out / "last").is_dir():
        raise FileNotFoundError(f"{out / 'last'}: nothing to resume")
    if not resume and (out / "last").exists():
        raise ValueError(f"{out} already holds a run; pass --resume or choose another --out")
    device = pick_device(cfg.device)
    check_tta(cfg.tta)
    seed_everything(cfg.seed)
    model, preprocess = build_model(cfg)
    if cfg.init and not resume:
        init_weights(model, cfg.init)
    model.to(device)
    T = preprocess["frames"]
    stride = cfg.data.stride or T
    splits = (cfg.data.train_split,)
    counts = count_sequences(cfg.data.shards, T, stride, splits)
    pseudo = cfg.data.pseudo_fake > 0
    if (counts[0] == 0) if pseudo else min(counts.values()) == 0:
        need = "real sequences for pseudo-fakes" if pseudo else "both classes"
        raise ValueError(
            f"{cfg.data.shards}: split {cfg.data.train_split!r} needs {need}, found {counts}"
        )
    check_validation_split(cfg, T, stride)
    oversample = cfg.data.balance == "oversample" and min(counts.values()) > 0
    per_epoch = 2 * max(counts.values()) if oversample else sum(counts.values())
    if pseudo and cfg.data.pseudo_pairs:
        per_epoch = counts[1] + 2 * counts[0]
    steps = math.ceil(per_epoch / cfg.optim.batch_size)
    opt, sched = make_optimizer(model, cfg.optim, steps * cfg.epochs)
    scaler = torch.amp.GradScaler("cuda") if device.startswith("cuda") else None
    augment = SequenceAugment(cfg.augment)
    blink = bool(getattr(model, "default_cfg", {}).get("uses_blink"))
    train_ds = ShardSequenceDataset(
        cfg.data.shards,
        SequenceTransform.from_cfg(preprocess, augment),
        splits=splits,
        stride=stride,
        shuffle_buffer=cfg.data.shuffle_buffer,
        seed=cfg.seed,
        balance=cfg.data.balance,
        with_eyes=bool(preprocess["eye_size"]),
        with_blink=blink,
        augment=True,
        pseudo_fake=cfg.data.pseudo_fake,
        pseudo_flicker=cfg.data.pseudo_flicker,
        pseudo_pairs=cfg.data.pseudo_pairs,
        pseudo_aligned=cfg.data.pseudo_aligned,
    )
    if pseudo:
        val_ds = ShardSequenceDataset(
            cfg.data.shards,
            SequenceTransform.from_cfg(preprocess),
            splits=(cfg.data.val_split,),
            seed=cfg.seed,
            pseudo_twins=True,
            pseudo_flicker=cfg.data.pseudo_flicker,
            with_blink=blink,
        )
    else:
        val_ds = eval_dataset(
            cfg.data.shards,
            SequenceTransform.from_cfg(preprocess),
            cfg.data.val_split,
            bool(preprocess["eye_size"]),
            with_blink=blink,
        )
    state: dict[str, Any] = {"epoch": 0, "best": None, "bad_epochs": 0}
    if resume:
        model.load_state_dict(load_weights(out / "last"))
        saved = load_train_state(out / "last")
        opt.load_state_dict(saved["optimizer"])
        sched.load_state_dict(saved["scheduler"])
        torch.set_rng_state(saved["torch_rng"])
        state = {k: saved[k] for k in state}
    out.mkdir(parents=True, exist_ok=True)
    done_here = 0
    while state["epoch"] < cfg.epochs and state["bad_epochs"] < cfg.patience:
        epoch = state["epoch"]
        train_ds.set_epoch(epoch)
        loader = DataLoader(train_ds, batch_size=cfg.optim.batch_size, num_workers=cfg.data.workers)
        start = time.perf_counter()
        row: dict[str, Any] = {"epoch": epoch + 1, "lr": sched.get_last_lr()[0]}
        row.update(
            train_steps(
                model,
                loader,
                opt,
                sched,
                cfg.optim.grad_clip,
                device,
                scaler,
                progress,
                f"epoch {epoch + 1}",
            )
        )
        optim = {"optimizer": opt.state_dict(), "scheduler": sched.state_dict()}
        state, score = end_epoch(
            cfg, out, model, preprocess, val_ds, device, row, start, state, optim
        )
        if progress:
            tqdm.write(
                f"epoch {epoch + 1}: loss {row['train_loss']:.4f} "
                f"val {cfg.monitor} {score:.4f} ({row['train_seqs_per_s']:.1f} seq/s)"
            )
        done_here += 1
        if stop_after is not None and done_here >= stop_after:
            break
    return out


def end_epoch(
    cfg: TrainConfig,
    out: Path,
    model: nn.Module,
    preprocess: dict[str, Any],
    val_ds: Any,
    device: str,
    row: dict[str, Any],
    start: float,
    state: dict[str, Any],
    optim: dict[str, Any] | None = None,
) -> tuple[dict[str, Any], float]:
    """Validate, then write `last/` (with the optimiser state `optim` for resume, when given),
    `best/` when the monitored metric improved, and the metrics row; returns the new
    `{epoch, best, bad_epochs}` and the epoch's monitored value.

    The one end of an epoch, for `train` and for rank 0 under Ray Train.
    """
    val, threshold = validate(model, val_ds, cfg.optim.batch_size, device, cfg.tta)
    row.update(val, threshold=threshold, seconds=time.perf_counter() - start)
    score = float(val.get(f"val_{cfg.monitor}", math.nan))
    improved = _better(score, state["best"])
    state = {
        "epoch": state["epoch"] + 1,
        "best": score if improved else state["best"],
        "bad_epochs": 0 if improved else state["bad_epochs"] + 1,
    }
    meta = checkpoint_meta(
        cfg, preprocess, model, epoch=state["epoch"], threshold=threshold, metrics=row
    )
    save_checkpoint(out / "last", model, meta)
    if optim is not None:
        save_train_state(out / "last", {**optim, "torch_rng": torch.get_rng_state(), **state})
    if improved:
        save_checkpoint(out / "best", model, meta)
    _append_csv(out / "metrics.csv", row)
    return state, score


def _append_csv(path: Path, row: dict[str, Any]) -> None:
    """Append one row, writing the header when the file is new."""
    new = not path.exists()
    with path.open("a", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(row))
        if new:
            writer.writeheader()
        writer.writerow(row)
