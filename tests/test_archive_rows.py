"""Every path an archive lists gets exactly one manifest (and score) row with a plain reason.

The archive here holds a real bundled clip, a copy of it whose title metadata is not UTF-8
(synthetic damage: a same-length byte edit of the MP4's title), a copy under a file name that
is not UTF-8, a broken symbolic link, a folder named like a video and a named pipe. A vidfake
bug (a tracking setting of the wrong type) must read as a bug, never as damaged media.
"""

from __future__ import annotations

import csv
import dataclasses
import json
import os
import shutil
import tempfile
import traceback
from pathlib import Path

import av
import pytest
import ray
from damaged_media import make_damaged

from vidfake.cli import main
from vidfake.config import ScanConfig, TrackConfig
from vidfake.datasets import DatasetItem, list_items
from vidfake.datasets.item import path_problem
from vidfake.scanning import build_shards, scan_task, scan_video
from vidfake.scoring.collection import score_collection
from vidfake.shards import read_manifest

FAST = ScanConfig(sampling="uniform:4", track=TrackConfig(min_length=2))
CLIP = "cosanlab__single_face.mp4"
BAD_NAME = os.fsdecode(b"caf\xe9.mp4")  # Latin-1 bytes: not UTF-8
SHOWN_NAME = "caf\\xe9.mp4"  # how the manifest and the CSV show it
TITLE = b"VIDFAKE-TITLE-MARK"

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def _bad_title(src: Path, dst: Path) -> Path:
    """A remux of `src` whose container title holds bytes that are not UTF-8."""
    titled = dst.with_name(".titled.mp4")
    with av.open(str(src)) as inp, av.open(str(titled), "w", format="mp4") as out:
        out.metadata["title"] = TITLE.decode()
        stream = out.add_stream_from_template(inp.streams.video[0])
        for packet in inp.demux(inp.streams.video[0]):
            if packet.dts is not None:
                packet.stream = stream
                out.mux(packet)
    data = titled.read_bytes()
    titled.unlink()
    assert data.count(TITLE) == 1
    dst.write_bytes(data.replace(TITLE, b"\xff\xfe" + b"x" * (len(TITLE) - 2)))
    return dst


@pytest.fixture(scope="module")
def archive(tmp_path_factory, sample_dir):
    root = tmp_path_factory.mktemp("archive")
    good = shutil.copy(sample_dir / "clips" / CLIP, root / "good.mp4")
    _bad_title(Path(good), root / "bad_title.mp4")
    shutil.copy(good, root / BAD_NAME)
    (root / "dangling.mp4").symlink_to(root / "gone" / "missing.mp4")
    (root / "folder.mp4").mkdir()
    os.mkfifo(root / "pipe.mp4")
    shutil.copy(good, root / ".hidden.mp4")
    (root / "notes.txt").write_text("not named like a video\n")
    return root


@pytest.fixture(scope="module")
def tiny_ckpt(tiny_checkpoint):
    """An untrained tiny CNN+LSTM checkpoint: these tests count rows, not detection quality."""
    return tiny_checkpoint("clip:4@10")


def _read_csv(path: Path) -> list[dict]:
    with path.open(newline="") as fh:
        return list(csv.DictReader(fh))


def _expected(root: Path) -> dict[str, tuple[str, str | None]]:
    """Printable path -> (status, a phrase its reason must hold)."""
    return {
        str(root / "good.mp4"): ("ok", None),
        str(root / "bad_title.mp4"): ("ok", None),
        str(root / SHOWN_NAME): ("error", "file name is not valid UTF-8"),
        str(root / "dangling.mp4"): ("error", "broken symbolic link"),
        str(root / "folder.mp4"): ("error", "a directory, not a video file"),
        str(root / "pipe.mp4"): ("error", "not a regular file"),
    }


def _check_rows(rows: list[dict], root: Path) -> None:
    """One row per listed path, with the expected status and a plain reason."""
    paths = [r["path"] for r in rows]
    assert sorted(paths) == sorted(_expected(root)), paths
    for r in rows:
        status, phrase = _expected(root)[r["path"]]
        assert r["status"] == status, (r["path"], r["error"])
        if phrase is None:
            assert not r["error"], r["error"]
        else:
            assert phrase in r["error"] and "bug" not in r["error"], r["error"]
            assert "Error" not in r["error"], r["error"]  # no exception class names


def test_listing_keeps_every_entry_named_like_a_video(archive):
    items = list_items(archive, layout="files")
    names = sorted(os.path.basename(i.path) for i in items)
    wanted = ["bad_title.mp4", BAD_NAME, "dangling.mp4", "folder.mp4", "good.mp4", "pipe.mp4"]
    assert names == sorted(wanted)  # hidden files and other suffixes stay out
    odd = next(i for i in items if i.path.endswith(BAD_NAME))
    assert odd.group == "caf\\xe9"  # group and dataset are UTF-8 text for Parquet
    assert os.path.exists(odd.path)  # while the path still opens the file


def test_title_metadata_really_is_not_utf8(archive):
    with pytest.raises(UnicodeDecodeError):
        av.open(str(archive / "bad_title.mp4"))


def test_shards_build_gives_one_row_per_listed_path(
    archive, tmp_path, tiny_ckpt, ray_cluster, capsys
):
    out = tmp_path / "shards"
    args = ["shards", "build", str(archive), "-o", str(out), "--layout", "files", "--no-progress"]
    fast = ["--set", "sampling=uniform:4", "--set", "track.min_length=2"]
    assert main(args + fast) == 1  # some inputs are errors
    assert SHOWN_NAME in capsys.readouterr().err
    rows = read_manifest(out).to_pylist()
    _check_rows(rows, archive)
    assert all(r["n_faces"] > 0 for r in rows if r["status"] == "ok")
    assert len({r["video_id"] for r in rows}) == len(rows)  # the good clip's copy has its own
    assert main(args + fast) == 0  # a rerun skips every listed path, the odd names too
    assert "6 skipped" in capsys.readouterr().out
    assert read_manifest(out).num_rows == len(rows)
    scores = tmp_path / "from_shards.csv"  # `vidfake score SHARDS` keeps every row too
    score_collection(out, scores, tiny_ckpt, progress=False)
    _check_rows(_read_csv(scores), archive)


def test_score_gives_one_row_per_listed_path(archive, tmp_path, tiny_ckpt):
    """`vidfake score --local`; on Ray the same scan_task makes the rows (test_score compares)."""
    out = tmp_path / "scores.csv"
    summary = score_collection(archive, out, tiny_ckpt, layout="files", local=True, progress=False)
    _check_rows(_read_csv(out), archive)
    assert summary.scored == 2 and summary.error == 4


def test_a_bug_in_a_stage_is_reported_as_a_bug(
    archive, tmp_path, sample_dir, ray_cluster, monkeypatch
):
    broken = dataclasses.replace(FAST, track=TrackConfig(min_length=None))  # wrong type
    good = DatasetItem(str(archive / "good.mp4"), 0, "good")
    with pytest.raises(TypeError):  # scan_video itself lets a bug through, loudly
        scan_video(good, broken)
    text = DatasetItem(str(make_damaged("text", tmp_path / "notes.mp4")), 0, "notes")
    with pytest.raises(ray.exceptions.RayTaskError, match="TypeError"):  # VIDFAKE_STRICT=1
        build_shards([good, text], tmp_path / "strict", broken, progress=False)
    monkeypatch.delenv("VIDFAKE_STRICT")  # in production: the last-resort row, counted apart
    summary = build_shards([good, text], tmp_path / "out", broken, progress=False)
    assert summary.total == 2 and summary.error == 2  # the batch went on past the bug
    assert summary.bugs == 1  # the bad media is not counted as a bug
    reasons = {r["path"]: r["error"] for r in read_manifest(tmp_path / "out").to_pylist()}
    bug = reasons[good.path]
    assert bug.startswith("vidfake bug, not a problem with the video"), bug
    assert "TypeError" in bug and "vidfake/faces/track.py:" in bug and "build_tracks" in bug
    assert "cannot decode" not in bug
    assert reasons[text.path] == "not a video file: it is text"  # media stays media
    manifest, _ = scan_task(good, broken, None)  # the same row outside Ray
    assert manifest["status"] == "error" and manifest["error"].startswith("vidfake bug")


def _as_other_user(fn):
    """fn() as user `nobody` in a forked child when running as root (root reads chmod 000)."""
    if os.geteuid() != 0:
        return fn()
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: always leaves through os._exit
        code = 1
        try:
            os.close(read)
            try:
                os.setgid(65534)
                os.setuid(65534)
            except OSError:
                code = 3
                raise
            os.write(write, json.dumps(fn()).encode())
            code = 0
        except BaseException:
            os.write(write, traceback.format_exc().encode())
        finally:
            os._exit(code)
    os.close(write)
    with os.fdopen(read, "rb") as fh:
        data = fh.read().decode()
    _, status = os.waitpid(pid, 0)
    code = os.waitstatus_to_exitcode(status)
    if code == 3:
        pytest.skip("running as root and cannot become another user: chmod 000 stops no read")
    assert code == 0, data
    return json.loads(data)


def test_unreadable_file_and_folder_get_a_permission_reason(sample_dir):
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        root.chmod(0o755)  # the other user may enter the archive, not read what is locked
        locked = shutil.copy(sample_dir / "clips" / CLIP, root / "locked.mp4")
        private = root / "private"
        private.mkdir()
        shutil.copy(locked, private / "inside.mp4")
        os.chmod(locked, 0)
        private.chmod(0)

        def rows():
            return [scan_task(i, FAST, None)[0] for i in list_items(root, layout="files")]

        try:
            got = {r["path"]: r for r in _as_other_user(rows)}
        finally:
            private.chmod(0o755)
    assert sorted(got) == [str(root / "locked.mp4"), str(root / "private")]
    assert "permission denied" in got[str(root / "locked.mp4")]["error"]
    assert "may not read" in got[str(root / "private")]["error"]
    assert all(r["status"] == "error" for r in got.values())
    assert path_problem(str(root / "nothing-here.mp4")) is None  # missing: the decoder says
