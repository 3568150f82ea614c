"""One video scanned and scored, and the pool of Ray workers that do it at scale.

Each worker (one per CPU, or per GPU share) holds the face detector and the model, scans its
videos and scores them: a video's crops never leave the process that found them, and no
worker waits on another. Work is handed out by `vidfake.dispatch.bounded`.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from typing import Any

from vidfake.datasets import DatasetItem
from vidfake.dispatch import bounded
from vidfake.scanning import error_result, scan_task, start_ray, strict
from vidfake.scoring.ranking import result_row
from vidfake.scoring.scorer import Scorer, VideoScore


def scan_and_score(
    scorer: Scorer, item: DatasetItem, raise_bugs: bool = False
) -> tuple[dict[str, Any], VideoScore | None]:
    """One video's CSV row and score: scanned with the model's settings, then scored.

    Bad media is an error row; a bug fails this video alone (`scan_task`, unless
    `raise_bugs`), here as on Ray.
    """
    manifest, faces = scan_task(item, scorer.scan_config(), None, raise_bugs)
    vs = None
    if manifest["status"] == "ok":
        vs = scorer.score_videos([(manifest["video_id"], faces)])[manifest["video_id"]]
    return result_row(scorer, manifest, faces, vs), vs


class _ScoreWorker:
    """A Ray actor that scans and scores videos: face detector and model loaded once.

    One per CPU (or per GPU share): a video's faces never leave the process that found them,
    and no worker waits on another.
    """

    def __init__(
        self,
        model: str,
        aggregate: str,
        stride: int | None,
        batch_size: int,
        tta: str,
        raise_bugs: bool = False,
    ) -> None:
        import torch

        device = "cuda" if torch.cuda.is_available() else "cpu"
        self.scorer = Scorer(model, aggregate, stride, batch_size, device, tta=tta)
        self.raise_bugs = raise_bugs

    def run(self, item: DatasetItem) -> tuple[dict[str, Any], VideoScore | None]:
        return scan_and_score(self.scorer, item, self.raise_bugs)


def score_on_ray(
    items: list[DatasetItem],
    scorer: Scorer,
    add: Callable[[dict[str, Any], VideoScore | None], None],
    workers: int | None,
    address: str | None,
    gpus: float,
    actors: int | None,
) -> None:
    """A pool of scan-and-score workers (`actors`, default one per CPU), fed a bounded queue.

    A worker that dies is restarted and its video retried twice; then the video gets an
    `error` row and the others go on.
    """
    import ray

    started = start_ray(workers, address)
    try:
        cpus = max(1, int(ray.available_resources().get("CPU", 1)))
        n = max(1, actors or cpus)
        worker_cls = ray.remote(num_cpus=1, num_gpus=gpus, max_restarts=2, max_task_retries=2)(
            _ScoreWorker
        )
        pool = [
            worker_cls.remote(
                str(scorer.path),
                scorer.aggregate,
                scorer.stride,
                scorer.batch_size,
                scorer.tta,
                strict(),
            )
            for _ in range(n)
        ]
        turns = itertools.cycle(pool)

        def submit(item: DatasetItem) -> Any:
            return next(turns).run.remote(item)

        for item, value, failure in bounded(items, submit, 2 * n, force_cancel=False):
            if isinstance(failure, ray.exceptions.RayTaskError):
                raise failure  # the task raised (a bug under VIDFAKE_STRICT), not a lost worker
            if failure is None:
                add(*value)
            else:
                reason = f"the worker scoring it died 3 times ({type(failure).__name__})"
                res = error_result(item, scorer.scan_config(), reason)
                add(result_row(scorer, res.manifest, res.faces, None), None)
    finally:
        if started:
            ray.shutdown()
