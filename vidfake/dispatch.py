"""Bounded dispatch on Ray: at most `limit` items in flight, each result as it finishes.

Scanning (one task per video) and scoring (videos handed to a pool of workers that scan and
score) both go through `bounded`, so memory stays bounded by what is in flight and a lost
worker costs its item alone: the caller gets the Ray error for that item and writes its row.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from typing import Any, TypeVar

T = TypeVar("T")


def bounded(
    items: Iterable[T], submit: Callable[[T], Any], limit: int, force_cancel: bool = True
) -> Iterator[tuple[T, Any, Exception | None]]:
    """Yield `(item, value, None)` or `(item, None, ray_error)` for every item, as each ends.

    `submit(item)` returns the item's ObjectRef; at most `limit` are pending at once, and
    items are submitted in order. Refs still pending when the caller stops are cancelled
    (`force_cancel` kills their workers; Ray refuses that for actor tasks).
    """
    import ray

    queue = list(items)
    queue.reverse()
    pending: dict[Any, T] = {}
    try:
        while queue or pending:
            while queue and len(pending) < max(1, limit):
                item = queue.pop()
                pending[submit(item)] = item
            ready, _ = ray.wait(list(pending), num_returns=1)
            item = pending.pop(ready[0])
            try:
                value = ray.get(ready[0])
            except ray.exceptions.RayError as exc:
                yield item, None, exc
            else:
                yield item, value, None
    finally:
        for ref in pending:
            ray.cancel(ref, force=force_cancel)
