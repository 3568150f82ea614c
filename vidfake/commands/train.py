"""`vidfake train`: train a registered architecture on face-track shards."""

from __future__ import annotations

import argparse
from pathlib import Path

from vidfake.checkpoint import CheckpointError


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the `train` subcommand."""
    p = subparsers.add_parser(
        "train",
        help="train a detector on face-track shards",
        description="Train an architecture from the model registry on SHARDS; writes RUN_DIR "
        "with best/ and last/ checkpoints and metrics.csv.",
    )
    p.add_argument(
        "--arch", help="model name (see vidfake.models.list_models); overrides the config"
    )
    p.add_argument("--data", help="shards folder (SHARDS/faces/*.parquet); overrides data.shards")
    p.add_argument("--config", type=Path, help="training YAML, e.g. configs/models/cvit.yaml")
    p.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override a setting, e.g. --set optim.lr=1e-4 --set profile=tiny (repeatable)",
    )
    p.add_argument("--epochs", type=int, help="maximum epochs (the setting `epochs`)")
    p.add_argument("--lr", type=float, help="peak learning rate (`optim.lr`)")
    p.add_argument("--batch-size", type=int, help="sequences per step (`optim.batch_size`)")
    p.add_argument("--device", choices=("auto", "cpu", "cuda"), help="where to train (`device`)")
    p.add_argument("--out", type=Path, default=Path("runs/train"), help="run folder")
    p.add_argument("--resume", action="store_true", help="continue from RUN_DIR/last")
    p.add_argument(
        "--init",
        metavar="CKPT",
        help="start from this checkpoint's weights (fine-tuning); `default` = the shipped detector",
    )
    p.add_argument("--no-progress", action="store_true", help="no progress bars")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Load the config, train, and print where the checkpoints are."""
    from vidfake.api import train
    from vidfake.scoring.scorer import DEFAULT_MODEL

    if args.config is not None and not args.config.is_file():
        raise ValueError(f"config {args.config} does not exist")
    overrides = list(args.overrides)
    if args.arch:
        overrides.append(f"arch={args.arch}")
    if args.data:
        overrides.append(f"data.shards={args.data}")
    flags = {"epochs": args.epochs, "optim.lr": args.lr, "optim.batch_size": args.batch_size}
    flags["device"] = args.device
    overrides += [f"{key}={value}" for key, value in flags.items() if value is not None]
    if args.init:
        overrides.append(f"init={DEFAULT_MODEL if args.init == 'default' else args.init}")
    try:
        out = train(
            args.config,
            args.out,
            overrides=overrides,
            resume=args.resume,
            progress=not args.no_progress,
        )
    except CheckpointError as exc:
        raise ValueError(str(exc)) from None
    print(f"best checkpoint: {out / 'best'}\nmetrics: {out / 'metrics.csv'}")
    return 0
