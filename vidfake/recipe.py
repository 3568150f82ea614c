"""The default detector's recipe (`make model`): scan the listed real clips, train, evaluate, ship.

Stages, each rerunnable on its own (`python -m vidfake.recipe STAGE`):
`scan` (clips listed in configs/default-clips.csv and photos listed in
configs/default-stills.csv, made into clips, → shards), `train` (configs/default.yaml,
self-blended pseudo-fakes on the fly), `evaluate` (held-out identities: real vs pseudo-fake
sequences, and synthetic deepfake videos scored end to end → metrics.json), `ship` (copy the
best checkpoint into vidfake/weights/default with the figures in its meta).
"""

from __future__ import annotations

import argparse
import csv
import json
import logging
import os
import shutil
import sys
from pathlib import Path
from typing import Any

import torch

from vidfake.config import ScanConfig, load_config
from vidfake.datasets import DatasetItem
from vidfake.scoring.scorer import DEFAULT_MODEL

log = logging.getLogger(__name__)

REPO = Path(__file__).resolve().parent.parent
CLIPS = REPO / "configs" / "default-clips.csv"
STILLS = REPO / "configs" / "default-stills.csv"
STILL_SECONDS = 9.6  # three distinct 3.2-s windows of clip:32@10x3
SCAN = REPO / "configs" / "default-scan.yaml"
TRAIN = REPO / "configs" / "default.yaml"
RUN = REPO / "runs" / "default"
MAX_BYTES = 20 * 1024 * 1024
# The shipped run: the first 3 epochs of configs/default.yaml's 6-epoch schedule (the cosine
# schedule is the 6-epoch one); validation chose epoch 1, epochs 2 and 3 were not better.
STOP_AFTER = 3
DEVSET = REPO.parent / "shared" / "data" / "devset"  # real public deepfakes: selection only
E2E_SECONDS = 4.0
SYNTH_SEED = 1000  # first seed of the training/validation synthetic fakes


def clip_items(listing: str | Path = CLIPS, root: str | Path = REPO) -> list[DatasetItem]:
    """The listed clips as dataset items; paths in the listing are relative to the repo root."""
    items = []
    with Path(listing).open(newline="") as fh:
        for row in csv.DictReader(fh):
            path = (Path(root) / row["path"]).resolve()
            items.append(
                DatasetItem(str(path), int(row["label"]), row["group"], row["split"], "default")
            )
    return items


def still_items(
    out: Path, listing: str | Path = STILLS, root: str | Path = REPO
) -> list[DatasetItem]:
    """The listed real photos as training clips under a slow camera drift (`out/stills`).

    Each photo becomes a `still_clip` (seeded by its row), so its faces enter the scan as
    real footage of more identities than the clips hold; all of them are training data.
    """
    from vidfake.media import still_clip

    items = []
    with Path(listing).open(newline="") as fh:
        for i, row in enumerate(csv.DictReader(fh)):
            src = (Path(root) / row["path"]).resolve()
            if not src.is_file():
                continue
            dst = out / "stills" / f"{row['group']}.mp4"
            if not dst.is_file():
                still_clip(src, dst, seconds=STILL_SECONDS, seed=i)
            items.append(DatasetItem(str(dst), 0, row["group"], "train", "default"))
    return items


def synthetic_items(out: Path, splits: tuple[str, ...] = ("train", "val")) -> list[DatasetItem]:
    """Synthetic deepfake clips of the training and validation clips (`out/synth/fake`), label 1.

    Each listed clip of those splits is cut to E2E_SECONDS and blended through the whole clip
    by `make_synthetic_fake` (seeds from SYNTH_SEED up, apart from the test archive's), so
    training also sees the traces of the video path: a full-frame blend, H.264, a fresh
    detection and crop. The fakes keep their source's group and split.
    """
    from vidfake.demo import build_archive
    from vidfake.synth.video import is_synthetic

    clips = [i for i in clip_items() if i.split in splits and Path(i.path).is_file()]
    root = out / "synth"
    failed = build_archive(root, [Path(i.path) for i in clips], len(clips), E2E_SECONDS, SYNTH_SEED)
    if failed:
        log.warning("no synthetic fake of %d clips: %s", len(failed), failed)
    items = []
    for item in clips:
        fake = root / "fake" / f"synthetic_fake__{Path(item.path).stem}.mp4"
        if fake.is_file() and is_synthetic(fake):
            items.append(DatasetItem(str(fake), 1, item.group, item.split, "default-synthetic"))
    return items


def scan(out: Path, workers: int = 2) -> Path:
    """Scan the listed clips, stills and the synthetic fakes of the training and validation
    clips into `out/shards` (recipe scan settings)."""
    from vidfake.scanning import build_shards

    items = clip_items()
    missing = [i.path for i in items if not Path(i.path).is_file()]
    if missing:
        log.warning("%d listed clips are missing and are skipped: %s", len(missing), missing)
    present = [i for i in items if Path(i.path).is_file()]
    present += still_items(out) + synthetic_items(out)
    cfg = load_config(ScanConfig, SCAN)
    build_shards(present, out / "shards", cfg, workers=workers, progress=False)
    return out / "shards"


def train_model(out: Path, threads: int = 2, stop_after: int | None = STOP_AFTER) -> Path:
    """Train configs/default.yaml on `out/shards` into `out/train` (a fresh run every time).

    `stop_after` ends the run after that many epochs of the configured schedule (the epochs
    before it are exactly those of a full run).
    """
    from vidfake.training.loop import load_train_config, train

    torch.set_num_threads(threads)
    cfg = load_train_config(TRAIN, [f"data.shards={out / 'shards'}"])
    run = out / "train"
    shutil.rmtree(run, ignore_errors=True)
    return train(cfg, run, progress=False, stop_after=stop_after)


def pseudo_fake_metrics(
    ckpt: Path,
    shards: Path,
    split: str = "test",
    aligned: bool = False,
    sharpen: float = 0.5,
) -> dict[str, Any]:
    """(a) Held-out identities: each real sequence against its seeded self-blended twin;
    (c) with `aligned`, twins whose source is not moved, so only colour, frequency and the
    mask edge give them away (docs/synthetic.md); `sharpen` 1 or 0: the same twins with the
    source sharpened, or blurred, every time (which frequency change the detector sees)."""
    from torch.utils.data import DataLoader

    from vidfake.checkpoint import load_checkpoint
    from vidfake.evaluate import predict
    from vidfake.metrics import evaluate_predictions
    from vidfake.sequences import SequenceTransform
    from vidfake.training.loader import ShardSequenceDataset

    model, meta = load_checkpoint(ckpt)
    ds = ShardSequenceDataset(
        shards,
        SequenceTransform.from_cfg(meta["preprocess"]),
        splits=(split,),
        seed=int(meta["train_config"]["seed"]),
        pseudo_twins=True,
        with_blink=bool(meta.get("uses_blink")),
        pseudo_aligned=1.0 if aligned else 0.0,
        pseudo_sharpen=sharpen,
    )
    preds = predict(model, DataLoader(ds, batch_size=16))
    return evaluate_predictions(preds, float(meta["threshold"]))


def e2e_archive(out: Path, split: str = "test", seconds: float = E2E_SECONDS) -> list[str]:
    """`out/archive`: the split's clips cut to `seconds` in real/, synthetic fakes in fake/.

    Files already there are reused (the fakes are seeded, so they come out the same); returns
    the clips no synthetic fake could be made of.
    """
    from vidfake.demo import build_archive

    clips = [Path(i.path) for i in clip_items() if i.split == split and Path(i.path).is_file()]
    return build_archive(out / "archive", clips, len(clips), seconds)


def synthetic_video_metrics(ckpt: Path, out: Path, split: str = "test") -> dict[str, Any]:
    """(b) End to end: held-out clips and synthetic deepfakes made of them, scanned and scored
    with `score_collection`; video AUC and how many fakes beat every real clip."""
    from vidfake.demo import roc_auc
    from vidfake.scoring.collection import score_collection

    failed = e2e_archive(out, split)
    summary = score_collection(
        out / "archive",
        out / "scores.csv",
        ckpt,
        layout="folder",
        workers=2,
        force=True,
        progress=False,
    )
    scored = [r for r in summary.rows if r["status"] == "ok"]
    fakes = [float(r["score"]) for r in scored if int(r["label"]) == 1]
    reals = [float(r["score"]) for r in scored if int(r["label"]) == 0]
    return {
        "video_auc": roc_auc(summary.rows),
        "reals": len(reals),
        "fakes": len(fakes),
        "fakes_above_every_real": sum(f > max(reals) for f in fakes) if reals else 0,
        "not_scored": summary.total - len(scored),
        "synthetic_failed": failed,
        "clip_seconds": E2E_SECONDS,
    }


def devset_figures(ckpt: Path, out: Path) -> dict[str, Any]:
    """Overall, per-source and per-dataset figures on the devset (never trained on), without
    the per-video rows (what the model card and meta.json keep)."""
    from vidfake.devset import evaluate_devset

    report = evaluate_devset(DEVSET, ckpt, out / "devset.json", progress=False)
    return {k: v for k, v in report.metrics.items() if k != "videos"}


def evaluate(out: Path, ckpt: Path | None = None) -> dict[str, Any]:
    """The held-out evaluations of `out/train/best` into `out/metrics.json`; of another
    checkpoint (the shipped one, say) on the same shards into `out/metrics-PARENT-NAME.json`."""
    name = "-".join(ckpt.parts[-2:]) if ckpt is not None else ""
    target = out / "metrics.json" if ckpt is None else out / f"metrics-{name}.json"
    ckpt = ckpt or out / "train" / "best"
    metrics = {
        "checkpoint": str(ckpt),
        "held_out_identities": sorted({i.group for i in clip_items() if i.split == "test"}),
        "pseudo_fake_test": pseudo_fake_metrics(ckpt, out / "shards"),
        "pseudo_fake_aligned_test": pseudo_fake_metrics(ckpt, out / "shards", aligned=True),
        "synthetic_videos_test": synthetic_video_metrics(ckpt, out / "e2e"),
    }
    if DEVSET.is_dir():
        metrics["devset"] = devset_figures(ckpt, out)
    else:
        log.warning("no devset at %s: the real-deepfake figures are not measured", DEVSET)
    target.write_text(json.dumps(metrics, indent=2, default=float))
    return metrics


FIGURES_START, FIGURES_END = "<!-- figures: written by the recipe -->", "<!-- /figures -->"


def figures_markdown(meta: dict[str, Any]) -> str:
    """The model card's figures table, from a shipped checkpoint's meta."""
    held = meta["held_out_metrics"]
    a, b = held["pseudo_fake_test"], held["synthetic_videos_test"]
    train = meta["metrics"]
    rows = [
        ("trained epochs (best by val seq AUC)", f"{meta['epoch']}"),
        (
            "validation seq AUC, real vs pseudo-fake and synthetic clips",
            f"{train['val_seq_auc']:.3f}",
        ),
        ("decision threshold (chosen on validation)", f"{meta['threshold']:.3f}"),
        ("test-time augmentation (the figures below and scoring)", str(meta.get("tta", "none"))),
        (
            f"(a) test seq AUC, real vs pseudo-fake ({int(a['seq_n'])} sequences)",
            f"{a['seq_auc']:.3f}",
        ),
        (f"(a) test video AUC ({int(a['video_n'])} videos)", f"{a['video_auc']:.3f}"),
        ("(a) test seq accuracy at the threshold", f"{a['seq_accuracy']:.3f}"),
        (
            f"(b) test video AUC, {b['fakes']} synthetic deepfake videos vs {b['reals']} real "
            f"({b['clip_seconds']:.0f} s clips)",
            f"{b['video_auc']:.3f}",
        ),
        ("(b) synthetic fakes scored above every real clip", f"{b['fakes_above_every_real']}"),
    ]
    if "pseudo_fake_aligned_test" in held:
        c = held["pseudo_fake_aligned_test"]
        rows.append(
            (
                "(c) test seq AUC, real vs pseudo-fake with the source in place "
                "(colour, frequency and mask edge only)",
                f"{c['seq_auc']:.3f}",
            )
        )
    dev = held.get("devset")
    if dev:
        o = dev["overall"]
        rows.append(
            (
                f"devset video AUC, {o['fakes']} real public deepfakes vs {o['reals']} real "
                "videos (95% bootstrap interval)",
                f"{o['auc']:.3f} [{o['low']:.3f}, {o['high']:.3f}]",
            )
        )
        for d in dev.get("datasets", []):
            if d.get("auc") is not None:
                rows.append(
                    (
                        f"devset {d['dataset']} video AUC, {d['fakes']} fakes vs {d['reals']} "
                        f"{d['reals_of']} reals",
                        f"{d['auc']:.3f} [{d['low']:.3f}, {d['high']:.3f}]",
                    )
                )
        for src in dev.get("sources", []):
            versus = src.get("vs_same_dataset_reals") or {}
            if src["label"] == 1 and src["source"] != src["dataset"] and versus.get("auc"):
                rows.append(
                    (
                        f"devset {src['source']} video AUC, {src['n']} fakes vs "
                        f"{src['same_dataset_reals']} reals",
                        f"{versus['auc']:.3f} [{versus['low']:.3f}, {versus['high']:.3f}]",
                    )
                )
    lines = ["| figure | value |", "|---|---:|", *(f"| {k} | {v} |" for k, v in rows)]
    ids = ", ".join(held["held_out_identities"])
    return "\n".join([*lines, "", f"Held-out identities (test split): {ids}."])


def _write_card(card: Path, meta: dict[str, Any]) -> None:
    """Replace the figures block of the model card with the checkpoint's figures."""
    text = card.read_text()
    start, end = text.index(FIGURES_START), text.index(FIGURES_END)
    block = f"{FIGURES_START}\n{figures_markdown(meta)}\n"
    card.write_text(text[:start] + block + text[end:])


def ship(out: Path, dest: Path = DEFAULT_MODEL) -> Path:
    """Copy `out/train/best` into `dest` with the held-out figures in meta.json and the card."""
    src = out / "train" / "best"
    meta = json.loads((src / "meta.json").read_text())
    meta["held_out_metrics"] = json.loads((out / "metrics.json").read_text())
    meta["held_out_metrics"].pop("checkpoint", None)
    meta["train_config"]["data"]["shards"] = "runs/default/shards"
    dest.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(src / "model.safetensors", dest / "model.safetensors")
    (dest / "meta.json").write_text(json.dumps(meta, indent=2, default=float))
    size = (dest / "model.safetensors").stat().st_size
    if size > MAX_BYTES:
        raise ValueError(f"{dest}: weights are {size / 2**20:.1f} MB, over the 20 MB budget")
    if (dest / "MODEL_CARD.md").is_file():
        _write_card(dest / "MODEL_CARD.md", meta)
    return dest


STAGES = ("scan", "train", "evaluate", "ship", "all")


def main(argv: list[str] | None = None) -> int:
    """`python -m vidfake.recipe [STAGE] [--out runs/default]`: run one stage or all of them."""
    parser = argparse.ArgumentParser(prog="python -m vidfake.recipe", description=__doc__)
    parser.add_argument("stage", nargs="?", default="all", choices=STAGES)
    parser.add_argument("--out", type=Path, default=RUN, help="run folder (default runs/default)")
    parser.add_argument(
        "--stop-after",
        type=int,
        default=STOP_AFTER,
        help=f"train: stop after this many epochs (default {STOP_AFTER}, as the shipped run)",
    )
    parser.add_argument(
        "--checkpoint",
        type=Path,
        default=None,
        help="evaluate: this checkpoint folder instead of the run's best (metrics-PARENT-NAME.json)",
    )
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    os.environ.setdefault("RAY_AUTH_MODE", "disabled")
    out = args.out.resolve()
    steps = {
        "scan": scan,
        "train": lambda o: train_model(o, stop_after=args.stop_after),
        "evaluate": lambda o: evaluate(o, args.checkpoint),
        "ship": ship,
    }
    for name in STAGES[:-1] if args.stage == "all" else (args.stage,):
        log.info("recipe stage %s", name)
        result = steps[name](out)
        log.info("stage %s: %s", name, json.dumps(result, default=str)[:2000])
    return 0


if __name__ == "__main__":
    sys.exit(main())
