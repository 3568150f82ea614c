"""Dataset adapters: list a video archive as (path, label, group, split, dataset) items."""

from vidfake.datasets.item import DatasetError, DatasetItem
from vidfake.datasets.listing import LAYOUTS, detect_layout, list_items
from vidfake.datasets.split import balance, link_groups, split_by_group

__all__ = [
    "LAYOUTS",
    "DatasetError",
    "DatasetItem",
    "balance",
    "detect_layout",
    "link_groups",
    "list_items",
    "split_by_group",
]
