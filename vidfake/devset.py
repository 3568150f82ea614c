"""A detector's figures on a labelled development set of real public deepfakes, per source.

The set is a folder with `labels.csv` (`path,label`, paths relative to it) or `real/` and
`fake/` subfolders. Each video's source comes from its file name (`source_of`). The videos are
scanned once per scan settings and decode version into cached shards, scored with
`score_collection`, and summarised as video-level ROC AUC with stratified bootstrap intervals,
overall, per source and per dataset, plus accuracy, TPR and FPR at the checkpoint's threshold.
docs/evaluation.md says how each figure is computed. The set is for validation and model
selection only: nothing here trains on it or copies it anywhere but the gitignored cache.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from vidfake import video
from vidfake.datasets import DatasetError, DatasetItem
from vidfake.datasets.csv import list_csv
from vidfake.datasets.folder import list_folder
from vidfake.metrics import bootstrap_auc
from vidfake.scanning import ScanSummary, build_shards
from vidfake.scoring.collection import ScoreSummary, score_collection
from vidfake.scoring.scorer import Scorer, resolve_model
from vidfake.shards.schema import STATUS_ERROR, STATUS_NO_FACE, STATUS_OK

LABELS_CSV = "labels.csv"
CACHE_DIR = Path("runs") / "devset-shards"
UNSCORED_SCORE = 0.5  # what an error or no-face video enters every figure with
RESAMPLES = 2000
# First token of a file name -> the dataset it comes from.
DATASETS = {"ffc40": "FF++", "celebdf": "Celeb-DF", "mead": "MEAD", "dreamtalk": "DreamTalk"}
# FaceForensics++ fakes: the second token names the manipulation method.
FFPP_METHODS = {"df": "Deepfakes", "f2f": "Face2Face", "fs": "FaceSwap", "nt": "NeuralTextures"}
# A dataset of fakes only -> the dataset whose reals are its own (DreamTalk drove MEAD styles).
PAIRED_REALS = {"DreamTalk": "MEAD"}


@dataclass(frozen=True)
class DevsetVideo:
    """One labelled video of the set and the source and dataset its file name gives."""

    path: str
    label: int
    source: str
    dataset: str

    def item(self) -> DatasetItem:
        """The video as a dataset item for the scan (group: its file stem)."""
        return DatasetItem(self.path, self.label, Path(self.path).stem, dataset=self.dataset)


@dataclass
class DevsetReport:
    """The figures (what the JSON holds) and what the scan and the scoring did."""

    metrics: dict[str, Any]
    scan: ScanSummary
    score: ScoreSummary
    out: Path | None

    @property
    def errors(self) -> int:
        """Videos that could not be scanned (status `error`)."""
        return int(self.metrics["overall"]["error"])


def source_of(name: str, label: int) -> tuple[str, str]:
    """`(source, dataset)` of a file name, by its `_`-separated tokens.

    The first token names the dataset (`DATASETS`; an unknown one is the dataset itself). A
    real video's source is `<dataset> real`. A fake's is the dataset, except FF++ fakes,
    whose second token names the method: `ffc40_df_183_253` -> `FF++ Deepfakes`.
    """
    tokens = Path(name).stem.split("_")
    dataset = DATASETS.get(tokens[0].lower(), tokens[0])
    if label == 0:
        return f"{dataset} real", dataset
    if dataset == "FF++":
        method = FFPP_METHODS.get(tokens[1].lower()) if len(tokens) > 1 else None
        return f"FF++ {method or 'fake'}", dataset
    return dataset, dataset


def list_devset(root: str | Path) -> list[DevsetVideo]:
    """The labelled videos of `root` (its labels.csv, else real/ and fake/), with sources."""
    base = Path(root).expanduser()
    if not base.is_dir():
        raise FileNotFoundError(f"{root}: no such devset folder")
    listing = base / LABELS_CSV
    items = list_csv(listing) if listing.is_file() else list_folder(base)
    videos = []
    for it in items:
        if it.label not in (0, 1):
            raise DatasetError(f"{it.path}: a devset video needs label 0 or 1, not {it.label}")
        source, dataset = source_of(Path(it.path).name, it.label)
        videos.append(DevsetVideo(str(Path(it.path).resolve()), it.label, source, dataset))
    if not videos:
        raise DatasetError(f"{root}: lists no videos")
    return videos


def decode_version() -> int:
    """The decode path's version (`vidfake.video.DECODE_VERSION`, 1 before it existed)."""
    return int(getattr(video, "DECODE_VERSION", 1))


def shards_key(scorer: Scorer) -> str:
    """The cache folder name: the model's scan settings hash and the decode version."""
    return f"{scorer.scan_config().settings_hash()}-decode{decode_version()}"


def model_checkpoint(spec: str | Path) -> Path:
    """The checkpoint for `spec`: `default` is the bundled detector; a checkpoint folder or a
    model with published weights (`meso4.df`, see vidfake.published) is used as given."""
    return resolve_model(None) if str(spec) == "default" else Path(spec)


def _scores_csv(shards: Path, ckpt: Path) -> Path:
    """Where the scores of one checkpoint over the cached shards go (rewritten each run)."""
    where = ckpt.resolve() if ckpt.exists() else ckpt
    tag = hashlib.sha256(str(where).encode()).hexdigest()[:8]
    return shards / "scores" / f"{where.name}-{tag}.csv"


def video_rows(
    videos: list[DevsetVideo], scored: list[dict[str, Any]], root: Path, threshold: float
) -> list[dict[str, Any]]:
    """One row per listed video: its score, the score the figures use, and the verdict."""
    by_path = {str(r["path"]): r for r in scored}
    rows = []
    for v in videos:
        r = by_path.get(v.path, {"status": STATUS_ERROR, "error": "missing from the scores"})
        raw = r.get("score")
        ok = r["status"] == STATUS_OK and raw is not None and math.isfinite(float(raw))
        status = r["status"] if ok or r["status"] != STATUS_OK else STATUS_NO_FACE
        used = float(raw) if ok else UNSCORED_SCORE
        rows.append(
            {
                "path": os.path.relpath(v.path, root),
                "source": v.source,
                "dataset": v.dataset,
                "label": v.label,
                "status": status,
                "score": float(raw) if ok else None,
                "score_used": used,
                "verdict": "fake" if used >= threshold else "real",
                "error": r.get("error") or "",
            }
        )
    return rows


def _auc_entry(
    labels: np.ndarray, scores: np.ndarray, resamples: int, seed: int
) -> dict[str, float | None]:
    """AUC with its interval, None where undefined (JSON has no NaN)."""
    auc, lo, hi = bootstrap_auc(labels, scores, resamples, seed)
    return {k: (None if math.isnan(v) else v) for k, v in (("auc", auc), ("low", lo), ("high", hi))}


def _versus(
    fakes: list[dict[str, Any]], reals: list[dict[str, Any]], resamples: int, seed: int
) -> dict[str, float | None]:
    """AUC of a set of fakes against a set of reals."""
    labels = np.array([1] * len(fakes) + [0] * len(reals))
    scores = np.array([r["score_used"] for r in fakes + reals], dtype=np.float64)
    return _auc_entry(labels, scores, resamples, seed)


def _rate(rows: list[dict[str, Any]]) -> float | None:
    """Share of rows flagged fake at the threshold."""
    return sum(r["verdict"] == "fake" for r in rows) / len(rows) if rows else None


def _tally(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """Counts and the mean score of a group of rows."""
    return {
        "n": len(rows),
        "no_face": sum(r["status"] == STATUS_NO_FACE for r in rows),
        "error": sum(r["status"] == STATUS_ERROR for r in rows),
        "mean_score": float(np.mean([r["score_used"] for r in rows])) if rows else None,
    }


def devset_metrics(
    rows: list[dict[str, Any]], resamples: int = RESAMPLES, seed: int = 0
) -> dict[str, Any]:
    """Overall, per-source and per-dataset figures of video rows (see docs/evaluation.md)."""
    reals = [r for r in rows if r["label"] == 0]
    fakes = [r for r in rows if r["label"] == 1]
    scored = [r for r in rows if r["score"] is not None]
    overall = {
        **_tally(rows),
        "reals": len(reals),
        "fakes": len(fakes),
        **_versus(fakes, reals, resamples, seed),
        "auc_scored_only": _versus(
            [r for r in scored if r["label"] == 1],
            [r for r in scored if r["label"] == 0],
            resamples,
            seed,
        )["auc"],
        "accuracy": sum((r["verdict"] == "fake") == (r["label"] == 1) for r in rows) / len(rows),
        "tpr": _rate(fakes),
        "fpr": _rate(reals),
    }
    real_datasets = {r["dataset"] for r in reals}
    sources = []
    for name in sorted({r["source"] for r in rows}):
        group = [r for r in rows if r["source"] == name]
        entry: dict[str, Any] = {
            "source": name,
            "dataset": group[0]["dataset"],
            "label": group[0]["label"],
            **_tally(group),
        }
        if entry["label"] == 1:
            ref = PAIRED_REALS.get(entry["dataset"], entry["dataset"])
            same = [r for r in reals if r["dataset"] == ref]
            entry["vs_all_reals"] = _versus(group, reals, resamples, seed)
            entry["same_dataset_reals"] = ref if same else None
            entry["vs_same_dataset_reals"] = _versus(group, same, resamples, seed) if same else None
            entry["tpr"] = _rate(group)
        else:
            entry["fpr"] = _rate(group)
        sources.append(entry)
    datasets = []
    for name in sorted({r["dataset"] for r in fakes}):
        ref = PAIRED_REALS.get(name, name)
        if ref not in real_datasets:
            continue
        group = [r for r in fakes if r["dataset"] == name]
        same = [r for r in reals if r["dataset"] == ref]
        datasets.append(
            {
                "dataset": name,
                "reals_of": ref,
                "fakes": len(group),
                "reals": len(same),
                **_versus(group, same, resamples, seed),
                "tpr": _rate(group),
                "fpr": _rate(same),
            }
        )
    return {"overall": overall, "sources": sources, "datasets": datasets}


def evaluate_devset(
    root: str | Path,
    model: str | Path = "default",
    out: str | Path | None = None,
    *,
    cache_dir: str | Path = CACHE_DIR,
    workers: int | None = None,
    batch_size: int = 32,
    tta: str | None = None,
    resamples: int = RESAMPLES,
    seed: int = 0,
    rescan: bool = False,
    progress: bool = True,
) -> DevsetReport:
    """Scan (or reuse the cached scan of) the devset, score it with `model`, and summarise it.

    Shards live in `cache_dir/<scan settings hash>-decode<DECODE_VERSION>`, shared by every
    model with the same scan settings; `rescan` rebuilds them. The figures go to `out` (JSON).
    """
    base = Path(root).expanduser().resolve()
    videos = list_devset(base)
    ckpt = model_checkpoint(model)
    scorer = Scorer(ckpt, batch_size=batch_size, tta=tta)
    shards = Path(cache_dir) / shards_key(scorer)
    scan = build_shards(
        [v.item() for v in videos],
        shards,
        scorer.scan_config(),
        workers=workers,
        force=rescan,
        progress=progress,
    )
    scores = _scores_csv(shards, ckpt)
    scores.parent.mkdir(parents=True, exist_ok=True)
    summary = score_collection(
        shards, scores, ckpt, batch_size=batch_size, force=True, progress=progress, tta=tta
    )
    rows = video_rows(videos, summary.rows, base, scorer.threshold)
    metrics = {
        "devset": str(base),
        "model": str(model),
        "checkpoint": str(ckpt),
        "threshold": scorer.threshold,
        "tta": scorer.tta,
        "unscored_score": UNSCORED_SCORE,
        "bootstrap": {"resamples": resamples, "seed": seed, "level": 0.95},
        "scan": {
            "shards": str(shards),
            "settings_hash": scorer.scan_config().settings_hash(),
            "decode_version": decode_version(),
            "scanned": scan.total - scan.skipped,
            "reused": scan.skipped,
            "seconds": scan.seconds,
        },
        "score_seconds": summary.seconds,
        **devset_metrics(rows, resamples, seed),
        "videos": rows,
    }
    if out is not None:
        path = Path(out)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.tmp")
        tmp.write_text(json.dumps(metrics, indent=2))
        os.replace(tmp, path)
    return DevsetReport(metrics, scan, summary, Path(out) if out is not None else None)


def _ci(entry: dict[str, Any] | None) -> str:
    """`0.812 [0.701, 0.903]`, or `-` when undefined."""
    if not entry or entry.get("auc") is None:
        return "-"
    if entry.get("low") is None:
        return f"{entry['auc']:.3f}"
    return f"{entry['auc']:.3f} [{entry['low']:.3f}, {entry['high']:.3f}]"


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{100 * value:.0f}%"


def format_table(metrics: dict[str, Any]) -> str:
    """The figures as a plain-text table: overall, per source, per dataset."""
    o = metrics["overall"]
    thr = metrics["threshold"]
    lines = [
        f"model {metrics['model']} ({metrics['checkpoint']}), threshold {thr:.3f}, "
        f"tta {metrics['tta']}",
        f"{o['n']} videos ({o['reals']} real, {o['fakes']} fake); unscored (score "
        f"{metrics['unscored_score']}): {o['no_face']} no face, {o['error']} error",
        f"overall AUC {_ci(o)}  (scored only: "
        + ("-" if o["auc_scored_only"] is None else f"{o['auc_scored_only']:.3f}")
        + f"); at threshold: accuracy {_pct(o['accuracy'])}, TPR {_pct(o['tpr'])}, "
        f"FPR {_pct(o['fpr'])}",
        "",
        f"{'source':<22} {'n':>3} {'unsc':>4} {'mean':>5}  {'AUC vs all reals':<22}  "
        f"{'AUC vs same-dataset reals':<34}  {'flagged':>7}",
    ]
    for s in metrics["sources"]:
        unscored = s["no_face"] + s["error"]
        if s["label"] == 1:
            same = s["vs_same_dataset_reals"]
            ref = f"{_ci(same)} ({s['same_dataset_reals']})" if same else "-"
            flagged = f"TPR {_pct(s['tpr'])}"
            vs_all = _ci(s["vs_all_reals"])
        else:
            ref, vs_all, flagged = "", "", f"FPR {_pct(s['fpr'])}"
        lines.append(
            f"{s['source']:<22} {s['n']:>3} {unscored:>4} {s['mean_score']:>5.3f}  "
            f"{vs_all:<22}  {ref:<34}  {flagged:>7}"
        )
    if metrics["datasets"]:
        lines += ["", f"{'dataset (fakes vs reals)':<30} {'AUC':<22}  TPR   FPR"]
        for d in metrics["datasets"]:
            label = f"{d['dataset']} {d['fakes']} vs {d['reals_of']} {d['reals']}"
            lines.append(f"{label:<30} {_ci(d):<22}  {_pct(d['tpr']):<5} {_pct(d['fpr'])}")
    return "\n".join(lines)
