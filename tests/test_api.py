"""The public API: `import vidfake` is light, and the session in docs/api.md runs as written."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

DOC = Path(__file__).resolve().parents[1] / "docs" / "api.md"


def test_import_vidfake_does_not_import_torch() -> None:
    code = "import sys, vidfake; vidfake.ScoreOptions; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_the_documented_session_runs(tmp_path, monkeypatch, ray_cluster) -> None:
    blocks = re.findall(r"```python\n(.*?)```", DOC.read_text(), flags=re.S)
    assert len(blocks) == 1
    monkeypatch.chdir(tmp_path)
    names: dict = {}
    exec(compile(blocks[0], str(DOC), "exec"), names)  # our own documentation
    manifest, ranked = names["manifest"], names["ranked"]
    assert len(manifest) == 2 and set(manifest["status"]) == {"ok"}
    assert (manifest["n_faces"] > 0).all()
    assert len(ranked) == 2 and set(ranked["status"]) == {"ok"}
    assert ranked["rank"].tolist() == [1, 2] and ranked["score"].is_monotonic_decreasing
    assert (tmp_path / "scores.csv").is_file() and (tmp_path / "shards" / "manifest").is_dir()
    assert names["model"].default_cfg["input_size"] == (3, 224, 224)
