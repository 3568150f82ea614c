"""Group-aware train/val/test splits, identity linking and class balancing."""

from __future__ import annotations

import dataclasses
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence

import numpy as np

from vidfake.datasets.item import DatasetError, DatasetItem

RATIOS = (0.8, 0.1, 0.1)


def link_groups(links: Iterable[Sequence[str]]) -> dict[str, str]:
    """Map every id to one name per connected set of ids (union-find over the given links).

    A FaceForensics++ fake `000_003` links identities 000 and 003: both get the same group,
    named after the smallest id in the set.
    """
    parent: dict[str, str] = {}

    def root(name: str) -> str:
        parent.setdefault(name, name)
        while parent[name] != name:
            parent[name] = parent[parent[name]]
            name = parent[name]
        return name

    for link in links:
        first, *others = link
        for other in others:
            a, b = root(first), root(other)
            parent[max(a, b)] = min(a, b)
        root(first)
    return {name: root(name) for name in parent}


def split_by_group(
    items: Sequence[DatasetItem], ratios: Sequence[float] = RATIOS, seed: int = 0
) -> list[DatasetItem]:
    """Give `unassigned` labelled items a train/val/test split by group, deterministically.

    A group that already has items with a split joins that split. The other groups are
    shuffled (seeded) and filled into the splits until each holds its share of the items.
    Items with a split, and unlabelled items, are left as they are.
    """
    if len(ratios) != 3 or min(ratios) < 0 or sum(ratios) <= 0:
        raise DatasetError(f"ratios must be three non-negative shares, not {tuple(ratios)}")
    official: dict[str, Counter[str]] = defaultdict(Counter)
    todo: dict[str, int] = defaultdict(int)
    for item in items:
        if item.split != "unassigned":
            official[item.group][item.split] += 1
        elif item.label != -1:
            todo[item.group] += 1
    assigned = {g: official[g].most_common(1)[0][0] for g in todo if g in official}
    groups = sorted(g for g in todo if g not in assigned)
    order = np.random.default_rng(seed).permutation(len(groups))
    bounds = np.cumsum(ratios) / sum(ratios)
    total = sum(todo[g] for g in groups)
    done = 0
    for n in order:
        group = groups[n]
        position = done / total
        assigned[group] = ("train", "val", "test")[int(np.searchsorted(bounds, position, "right"))]
        done += todo[group]
    return [
        dataclasses.replace(item, split=assigned[item.group])
        if item.split == "unassigned" and item.label != -1
        else item
        for item in items
    ]


def balance(items: Sequence[DatasetItem], seed: int = 2) -> list[DatasetItem]:
    """Downsample fakes to the number of reals within each split (seeded; order kept)."""
    keep: set[int] = set()
    rng = np.random.default_rng(seed)
    for split in sorted({item.split for item in items}):
        members = [n for n, item in enumerate(items) if item.split == split]
        reals = [n for n in members if items[n].label == 0]
        fakes = [n for n in members if items[n].label == 1]
        others = [n for n in members if items[n].label == -1]
        if len(fakes) > len(reals):
            fakes = sorted(rng.choice(fakes, size=len(reals), replace=False).tolist())
        keep.update(reals, fakes, others)
    return [item for n, item in enumerate(items) if n in keep]
