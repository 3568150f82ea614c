"""Dataset adapters on small trees built in tmp_path, one per layout.

The adapters list files without opening them, so most trees hold empty placeholder files
named like the real datasets' videos; the folder-layout test uses real clips cut with
`vidfake.media` (synthetic re-encodings of bundled clips) to show listed paths decode.
"""

from __future__ import annotations

import json
from collections import Counter, defaultdict
from pathlib import Path

import av
import pytest

from vidfake import media
from vidfake.datasets import (
    DatasetError,
    DatasetItem,
    balance,
    detect_layout,
    link_groups,
    list_items,
    split_by_group,
)


def _touch(root: Path, *relpaths: str) -> None:
    """Empty placeholder files (the adapters never open them)."""
    for rel in relpaths:
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"")


def _assert_no_leak(items: list[DatasetItem]) -> None:
    """No group on two sides of a split."""
    sides: dict[str, set[str]] = defaultdict(set)
    for item in items:
        sides[item.group].add(item.split)
    leaks = {g: s for g, s in sides.items() if len(s) > 1}
    assert not leaks


def _by_name(items: list[DatasetItem]) -> dict[str, DatasetItem]:
    return {Path(item.path).name: item for item in items}


def test_folder_layout_with_real_clips(tmp_path, sample_dir):
    clip = sample_dir / "clips" / "cosanlab__single_face.mp4"
    for rel in ("real/p1_a.mp4", "real/p2_a.mp4", "fake/p1_b.mp4", "fake/sub/p2_c.mp4"):
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        media.cut(clip, tmp_path / rel, max_frames=2)
    (tmp_path / "real" / "notes.txt").write_text("not a video")

    assert detect_layout(tmp_path) == "folder"
    items = list_items(tmp_path, group_regex=r"^(p\d+)_")
    names = _by_name(items)
    assert set(names) == {"p1_a.mp4", "p2_a.mp4", "p1_b.mp4", "p2_c.mp4"}
    assert names["p1_a.mp4"].label == 0 and names["p2_c.mp4"].label == 1
    assert names["p1_a.mp4"].group == names["p1_b.mp4"].group == "p1"
    assert {item.dataset for item in items} == {tmp_path.name}
    assert all(item.split in ("train", "val", "test") for item in items)
    _assert_no_leak(items)
    for item in items:
        with av.open(item.path) as container:
            assert container.streams.video[0].frames == 2

    by_stem = list_items(tmp_path, layout="folder")
    assert _by_name(by_stem)["p1_b.mp4"].group == "p1_b"
    with pytest.raises(DatasetError, match="does not match"):
        list_items(tmp_path, group_regex=r"^zz(\d+)")


def test_csv_layout(tmp_path):
    (tmp_path / "list.csv").write_text(
        "path,label,group,split\n"
        "videos/a.mp4,real,alice,test\n"
        "videos/b.mp4,1,alice,test\n"
        "/abs/c.mp4,0,,\n"
        "d.mp4,FAKE,,\n"
    )
    assert detect_layout(tmp_path / "list.csv") == "csv"
    items = list_items(tmp_path / "list.csv", ratios=(1, 0, 0))
    names = _by_name(items)
    assert names["a.mp4"].path == str(tmp_path / "videos" / "a.mp4")
    assert names["a.mp4"].split == names["b.mp4"].split == "test"
    assert [names[n].label for n in ("a.mp4", "b.mp4", "c.mp4", "d.mp4")] == [0, 1, 0, 1]
    assert names["c.mp4"].path == "/abs/c.mp4" and names["c.mp4"].group == "c"
    assert names["c.mp4"].split == names["d.mp4"].split == "train"
    assert {item.dataset for item in items} == {"list"}

    (tmp_path / "nolabel.csv").write_text("path,group\na.mp4,x\n")
    with pytest.raises(DatasetError, match="missing column"):
        list_items(tmp_path / "nolabel.csv")
    (tmp_path / "badlabel.csv").write_text("path,label\na.mp4,0\nb.mp4,maybe\n")
    with pytest.raises(DatasetError, match=r"badlabel.csv:3: label 'maybe'"):
        list_items(tmp_path / "badlabel.csv")


FFPP_IDS = [f"{n:03d}" for n in range(20)]
FFPP_PAIRS = [(FFPP_IDS[n], FFPP_IDS[n + 1]) for n in range(0, 20, 2)]


def _ffpp_tree(root: Path) -> None:
    """FaceForensics++ layout: originals, two methods, masks (ignored), actor clips."""
    files = [f"original_sequences/youtube/c23/videos/{i}.mp4" for i in FFPP_IDS]
    for method in ("Deepfakes", "FaceSwap"):
        for a, b in FFPP_PAIRS:
            files += [f"manipulated_sequences/{method}/c23/videos/{a}_{b}.mp4"]
            files += [f"manipulated_sequences/{method}/c23/videos/{b}_{a}.mp4"]
            files += [f"manipulated_sequences/{method}/masks/videos/{a}_{b}.mp4"]
    files += ["original_sequences/actors/c23/videos/01__walking.mp4"]
    files += ["manipulated_sequences/DeepFakeDetection/c23/videos/01_02__walking__ABCD.mp4"]
    files += ["original_sequences/actors/c23/videos/02__talking.mp4"]
    _touch(root, *files)


def test_ffpp_groups_tie_both_identities(tmp_path):
    _ffpp_tree(tmp_path)
    assert detect_layout(tmp_path) == "ffpp"
    items = list_items(tmp_path)
    names = _by_name(items)
    assert len(items) == 20 + 2 * 20 + 3  # masks are not listed
    assert names["000.mp4"].label == 0 and names["000_001.mp4"].label == 1
    assert names["000.mp4"].group == names["001.mp4"].group == names["001_000.mp4"].group
    assert names["000.mp4"].group != names["002.mp4"].group
    assert names["01__walking.mp4"].group == names["02__talking.mp4"].group
    assert names["01__walking.mp4"].group == names["01_02__walking__ABCD.mp4"].group
    assert {item.dataset for item in items} == {"ffpp"}
    assert {item.split for item in items} == {"train", "val", "test"}
    _assert_no_leak(items)


def test_ffpp_official_splits(tmp_path):
    _ffpp_tree(tmp_path)
    official = {"train": FFPP_PAIRS[:8], "val": FFPP_PAIRS[8:9], "test": FFPP_PAIRS[9:]}
    (tmp_path / "splits").mkdir()
    for split, pairs in official.items():
        (tmp_path / "splits" / f"{split}.json").write_text(json.dumps([list(p) for p in pairs]))
    names = _by_name(list_items(tmp_path, compression="c23"))
    assert names["000_001.mp4"].split == names["000.mp4"].split == "train"
    assert names["016_017.mp4"].split == "val"
    assert names["019.mp4"].split == names["019_018.mp4"].split == "test"
    _assert_no_leak(list(names.values()))

    (tmp_path / "splits" / "test.json").write_text("{not json")
    with pytest.raises(DatasetError, match="test.json"):
        list_items(tmp_path)
    _touch(tmp_path, "manipulated_sequences/Deepfakes/c23/videos/clip7.mp4")
    with pytest.raises(DatasetError, match="TTT_SSS"):
        list_items(tmp_path, layout="ffpp")


def test_celebdf_test_list_and_groups(tmp_path):
    files = [f"Celeb-real/id{i}_{n:04d}.mp4" for i in range(12) for n in range(2)]
    files += [
        f"Celeb-synthesis/id{i}_id{(i + 1) % 12}_{n:04d}.mp4" for i in range(12) for n in (0, 1)
    ]
    files += [f"YouTube-real/{n:05d}.mp4" for n in range(4)]
    _touch(tmp_path, *files)
    (tmp_path / "List_of_testing_videos.txt").write_text(
        "1 Celeb-real/id0_0000.mp4\n0 Celeb-synthesis/id0_id1_0000.mp4\n1 YouTube-real/00003.mp4\n"
        "0 Celeb-synthesis/id5_id6_0009.mp4\n"  # listed but absent: still listed
    )
    assert detect_layout(tmp_path) == "celebdf"
    items = list_items(tmp_path)
    names = _by_name(items)
    assert len(items) == len(files) + 1
    tested = {n for n, item in names.items() if item.split == "test"}
    assert tested == {"id0_0000.mp4", "id0_id1_0000.mp4", "00003.mp4", "id5_id6_0009.mp4"}
    assert names["id5_id6_0009.mp4"].label == 1
    assert names["id0_0000.mp4"].label == 0 and names["id0_id1_0000.mp4"].label == 1
    assert names["id3_id4_0001.mp4"].group == names["id3_0000.mp4"].group == "id3"
    assert names["00001.mp4"].group == "yt:00001" and names["00001.mp4"].label == 0
    rest = [item for item in items if item.split != "test"]
    assert {item.split for item in rest} == {"train", "val"}
    _assert_no_leak(rest)  # the official test list itself shares identities with the rest

    (tmp_path / "List_of_testing_videos.txt").write_text("0 Celeb-real/id0_0000.mp4\n")
    with pytest.raises(DatasetError, match="labelled against its folder"):
        list_items(tmp_path)
    (tmp_path / "List_of_testing_videos.txt").write_text("real Celeb-real/id0_0000.mp4\n")
    with pytest.raises(DatasetError, match=":1: expected"):
        list_items(tmp_path)


def test_dfdc_metadata(tmp_path):
    parts = {
        "dfdc_train_part_0": {
            "orig1.mp4": {"label": "REAL", "split": "train", "original": None},
            "fake1.mp4": {"label": "FAKE", "split": "train", "original": "orig1.mp4"},
            "fake2.mp4": {"label": "FAKE", "split": "train", "original": "orig1.mp4"},
        },
        "dfdc_train_part_1": {
            "orig2.mp4": {"label": "REAL", "split": "train", "original": None},
            "fake3.mp4": {"label": "FAKE", "split": "train", "original": "orig2.mp4"},
        },
    }
    for part, meta in parts.items():
        _touch(tmp_path, *(f"{part}/{name}" for name in meta))
        (tmp_path / part / "metadata.json").write_text(json.dumps(meta))
    _touch(tmp_path, "dfdc_train_part_1/stray.mp4")
    assert detect_layout(tmp_path) == "dfdc"
    items = list_items(tmp_path)
    names = _by_name(items)
    assert len(items) == 6
    assert names["orig1.mp4"].label == 0 and names["fake3.mp4"].label == 1
    assert names["fake1.mp4"].group == names["fake2.mp4"].group == names["orig1.mp4"].group
    assert names["fake3.mp4"].group == "orig2"
    assert names["stray.mp4"].label == -1 and names["stray.mp4"].split == "unassigned"
    _assert_no_leak([item for item in items if item.label != -1])
    # One part given as the root works too.
    assert len(list_items(tmp_path / "dfdc_train_part_0", layout="dfdc")) == 3

    (tmp_path / "dfdc_train_part_1" / "metadata.json").unlink()
    with pytest.raises(DatasetError, match="missing metadata.json"):
        list_items(tmp_path)
    (tmp_path / "dfdc_train_part_1" / "metadata.json").write_text('{"a.mp4": {"label": "X"}}')
    with pytest.raises(DatasetError, match="REAL or FAKE"):
        list_items(tmp_path)


def test_files_layout_is_unlabelled(tmp_path):
    _touch(tmp_path, "a/x.mp4", "b/x.mov", "c.webm", "readme.md")
    assert detect_layout(tmp_path) == "files"
    items = list_items(tmp_path)
    assert len(items) == 3
    assert {(item.label, item.split) for item in items} == {(-1, "unassigned")}
    assert len({item.group for item in items}) == 3  # same stem, different folders


def test_split_by_group_is_deterministic_and_leak_free():
    items = [
        DatasetItem(f"/v/{g}_{n}.mp4", n % 2, f"g{g}") for g in range(100) for n in range(1 + g % 3)
    ]
    first = split_by_group(items, seed=0)
    assert first == split_by_group(items, seed=0)
    assert first != split_by_group(items, seed=1)
    _assert_no_leak(first)
    shares = Counter(item.split for item in first)
    assert shares["train"] / len(items) == pytest.approx(0.8, abs=0.03)
    assert shares["val"] / len(items) == pytest.approx(0.1, abs=0.03)
    # A group with an official split pulls its unassigned items into that split.
    mixed = [DatasetItem("/v/a.mp4", 0, "g", "test"), DatasetItem("/v/b.mp4", 1, "g")]
    assert {item.split for item in split_by_group(mixed)} == {"test"}
    with pytest.raises(DatasetError, match="ratios"):
        split_by_group(items, ratios=(0.5, 0.5))


def test_balance_downsamples_fakes_per_split():
    items = [DatasetItem(f"/v/r{n}.mp4", 0, f"r{n}", "train") for n in range(5)]
    items += [DatasetItem(f"/v/f{n}.mp4", 1, f"f{n}", "train") for n in range(20)]
    items += [DatasetItem(f"/v/t{n}.mp4", n % 2, f"t{n}", "test") for n in range(6)]
    kept = balance(items)
    assert kept == balance(items, seed=2)
    counts = Counter((item.split, item.label) for item in kept)
    assert counts == {("train", 0): 5, ("train", 1): 5, ("test", 0): 3, ("test", 1): 3}
    assert {f"/v/r{n}.mp4" for n in range(5)} <= {item.path for item in kept}


def test_link_groups_union_find():
    groups = link_groups([("005", "003"), ("003", "009"), ("001",), ("007", "001")])
    assert groups["005"] == groups["009"] == "003"
    assert groups["007"] == "001"


def test_clear_errors(tmp_path):
    with pytest.raises(DatasetError, match="unknown layout 'kinetics'"):
        list_items(tmp_path, layout="kinetics")
    with pytest.raises(DatasetError, match="no such file or folder"):
        list_items(tmp_path / "missing")
    with pytest.raises(DatasetError, match="cannot tell the layout"):
        list_items(tmp_path)
    with pytest.raises(DatasetError, match="bad option"):
        list_items(tmp_path, layout="files", compression="c23")
    with pytest.raises(DatasetError, match="label must be"):
        DatasetItem("/v/a.mp4", 2, "g")
