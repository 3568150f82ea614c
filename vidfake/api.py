"""The verbs a notebook composes: `scan`, `score`, `train`, plus the model registry.

    import vidfake
    shards = vidfake.scan("archive/", "runs/shards")           # -> ScanSummary
    ranked = vidfake.score("archive/", "scores.csv").to_pandas()   # one row per video
    run = vidfake.train("configs/models/cnn_lstm.yaml", "runs/mine", data="runs/shards")

Settings travel in the typed config objects (`ScanConfig`, `TrainConfig`, `ScoreOptions`,
`Runtime`), validated as the YAML files are. The command line calls exactly these.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from vidfake.config import FORBID_EXTRA, Int, ScanConfig, load_config, to_dict

if TYPE_CHECKING:
    from vidfake.scanning import ScanSummary
    from vidfake.scoring.collection import ScoreSummary
    from vidfake.training.loop import TrainConfig


@dataclass
class ScoreOptions:
    """How a model turns a video's face tracks into its score."""

    __pydantic_config__ = FORBID_EXTRA

    aggregate: str = "mean"  # track score from its windows: mean, median, trimmed, confident
    stride: Int | None = None  # step between windows (None: T/2, `scoring_windows`)
    batch_size: Int = 32  # windows per model call
    tta: str | None = None  # `none` or `flip` (None: what the checkpoint records)


@dataclass
class Runtime:
    """Where the work runs: this process, a local Ray, or a Ray cluster."""

    __pydantic_config__ = FORBID_EXTRA

    local: bool = False  # scan and score in this process, no Ray
    workers: Int | None = None  # CPUs of the local Ray started (None: all)
    address: str | None = None  # join this Ray cluster instead of starting one
    gpus: float = 0.0  # GPUs per scoring worker
    actors: Int | None = None  # scoring workers on Ray (None: one per CPU)


def scan(
    source: str | Path,
    out: str | Path,
    config: ScanConfig | str | Path | None = None,
    *,
    layout: str = "auto",
    runtime: Runtime | None = None,
    force: bool = False,
    progress: bool = True,
) -> ScanSummary:
    """Scan every video of `source` (a folder in any dataset layout, a listing, one video)
    into face-track shards at `out`; resumes an interrupted scan unless `force`.

    `config` is a `ScanConfig`, a YAML file of one, or None for the defaults.
    """
    from vidfake.scanning import build_shards
    from vidfake.scoring.collection import resolve_items
    from vidfake.video import check_strategy

    cfg = config if isinstance(config, ScanConfig) else load_config(ScanConfig, config)
    check_strategy(cfg.sampling)
    items = resolve_items(source, layout)
    if not items:
        raise ValueError(f"{source}: no videos found")
    rt = runtime or Runtime()
    return build_shards(
        items, out, cfg, workers=rt.workers, address=rt.address, force=force, progress=progress
    )


def score(
    source: str | Path,
    out: str | Path = "scores.csv",
    model: str | Path | None = None,
    *,
    options: ScoreOptions | None = None,
    runtime: Runtime | None = None,
    layout: str = "auto",
    details: str | Path | None = None,
    force: bool = False,
    progress: bool = True,
) -> ScoreSummary:
    """Score every video of `source` (or a shards folder) into the ranked CSV `out`.

    `model` is a checkpoint folder, a published model such as `meso4.df`, or None for the
    bundled default detector. Resumes an interrupted run of the same input unless `force`.
    """
    from vidfake.scoring.collection import score_collection

    return score_collection(
        source,
        out,
        model,
        layout=layout,
        details=details,
        force=force,
        progress=progress,
        **to_dict(options or ScoreOptions()),
        **to_dict(runtime or Runtime()),
    )


def train(
    config: TrainConfig | str | Path | None,
    out: str | Path,
    *,
    data: str | Path | None = None,
    overrides: list[str] | None = None,
    resume: bool = False,
    progress: bool = True,
) -> Path:
    """Train a registered architecture; returns the run folder (`best/`, `last/`, metrics).

    `config` is a `TrainConfig` or a training YAML (None: the defaults); `data` sets the
    shards folder, `overrides` are `key=value` settings as on the command line.
    """
    from vidfake.config import apply_overrides, from_dict
    from vidfake.training.loop import TrainConfig, load_train_config
    from vidfake.training.loop import train as run_training

    extra = list(overrides or []) + ([f"data.shards={data}"] if data is not None else [])
    if isinstance(config, TrainConfig):
        cfg = from_dict(TrainConfig, apply_overrides(to_dict(config), extra))
    else:
        cfg = load_train_config(config, extra)
    return run_training(cfg, out, resume=resume, progress=progress)
