"""Metrics of a checkpoint on a labelled split of a shards folder, and ROC points to files.

`predict` is the one inference loop over a sequence dataset; training uses it for validation,
so validation and `vidfake eval` compute the same numbers.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import pandas as pd
import torch
from torch import nn
from torch.utils.data import DataLoader

from vidfake.checkpoint import load_checkpoint
from vidfake.metrics import evaluate_predictions, roc_points, sigmoid, video_scores
from vidfake.sequences import SequenceTransform, scoring_windows
from vidfake.training.loader import ShardSequenceDataset, model_inputs


@torch.no_grad()
def predict(
    model: nn.Module, batches: Iterable[dict[str, Any]], device: str = "cpu"
) -> pd.DataFrame:
    """One row per sequence: video_id, track_id, label, logit and prob."""
    model.eval()
    parts = []
    for batch in batches:
        logits = model(batch["x"].to(device), **model_inputs(batch, device))
        parts.append(
            pd.DataFrame(
                {
                    "video_id": list(batch["video_id"]),
                    "track_id": [int(t) for t in batch["track_id"]],
                    "label": batch["label"].int().tolist(),
                    "logit": logits.float().cpu().numpy(),
                }
            )
        )
    frame = (
        pd.concat(parts, ignore_index=True)
        if parts
        else pd.DataFrame(columns=["video_id", "track_id", "label", "logit"])
    )
    frame["prob"] = sigmoid(frame["logit"].to_numpy(dtype=float))
    return frame


def eval_dataset(
    shards_dir: str | Path,
    transform: SequenceTransform,
    split: str,
    with_eyes: bool = False,
    stride: int | None = None,
    with_blink: bool = False,
) -> ShardSequenceDataset:
    """The evaluation stream of a split: every window, in order, no augmentation.

    The windows are the scorer's (`scoring_windows`) unless `stride` is given, so a video's
    score here (`metrics.video_scores`) is the one `vidfake score` writes.
    """
    default_stride, pad = scoring_windows(transform.frames)
    return ShardSequenceDataset(
        shards_dir,
        transform,
        splits=(split,),
        stride=stride or default_stride,
        pad=pad,
        with_eyes=with_eyes,
        with_blink=with_blink,
    )


def evaluate(
    ckpt: str | Path,
    shards_dir: str | Path,
    split: str = "test",
    out_dir: str | Path | None = None,
    batch_size: int = 32,
    device: str = "cpu",
    tta: str | None = None,
) -> dict[str, Any]:
    """Metrics of `ckpt` on `split` at the checkpoint's validation threshold; files in `out_dir`.

    `tta` overrides the checkpoint's test-time augmentation (`none` or `flip`)."""
    model, meta = load_checkpoint(ckpt, device=device, tta=tta)
    transform = SequenceTransform.from_cfg(meta["preprocess"])
    eyes = bool(transform.eye_size) and meta.get("uses_eyes", False)
    ds = eval_dataset(shards_dir, transform, split, eyes, with_blink=bool(meta.get("uses_blink")))
    preds = predict(model, DataLoader(ds, batch_size=batch_size), device)
    if preds.empty:
        raise ValueError(f"{shards_dir}: no labelled sequences in split {split!r}")
    threshold = float(meta.get("threshold", 0.5))
    result = {
        "split": split,
        "threshold": threshold,
        "tta": meta["tta"],
        **evaluate_predictions(preds, threshold),
    }
    if out_dir is not None:
        out = Path(out_dir)
        out.mkdir(parents=True, exist_ok=True)
        preds.to_csv(out / "predictions.csv", index=False)
        roc_points(preds["label"], preds["prob"]).to_csv(out / "roc_sequences.csv", index=False)
        videos = video_scores(preds)
        roc_points(videos["label"], videos["prob"]).to_csv(out / "roc_videos.csv", index=False)
        (out / "metrics.json").write_text(json.dumps(result, indent=2))
    return result
