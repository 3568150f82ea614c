"""The one bounded Ray loop: every item once, at most `limit` in flight, a lost worker costs
its own item only."""

from __future__ import annotations

import os

import ray

from vidfake.dispatch import bounded


def test_every_item_once_bounded_and_a_dead_worker_costs_one_item(ray_cluster) -> None:
    def square_or_die(n: int) -> int:  # nested: Ray ships it by value to its workers
        if n == 3:
            os._exit(1)  # a worker killed by the OS, not an exception
        return n * n

    task = ray.remote(max_retries=0)(square_or_die)
    submitted: list[int] = []

    def submit(n: int):
        submitted.append(n)
        return task.remote(n)

    done: dict[int, object] = {}
    for item, value, failure in bounded(range(8), submit, limit=2):
        assert len(submitted) - len(done) <= 2  # never more than the limit in flight
        done[item] = failure if failure is not None else value
    assert submitted == list(range(8))  # submitted in order, each once
    assert sorted(done) == list(range(8))
    assert isinstance(done[3], ray.exceptions.RayError)
    assert {k: v for k, v in done.items() if k != 3} == {n: n * n for n in range(8) if n != 3}
