"""End to end on a real Ray cluster launcher: sshd on 127.0.0.1, `ray up`, `ray submit`,
`ray job submit`, `ray down`, scanning real sample clips into shards.

Run apart from the rest (`pytest -m cluster`). The head's sshd runs in its own PID namespace,
so the `ray stop` that `ray down` sends the head only sees this cluster's processes, never
another Ray on the machine. Everything started here is torn down at the end; ~/vidfake-src
(the installed copy, with its venv) stays so that the next run skips the install.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import yaml

from vidfake.shards.store import read_faces, read_manifest

pytestmark = [pytest.mark.cluster, pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[1]
CLIPS = ("cosanlab__single_face.mp4", "liveportrait_d18.mp4", "OpenTalker__s.mp4")
RAY = str(Path(sys.executable).with_name("ray"))
HOME = Path.home()
RAY_TMP = Path(tempfile.gettempdir()) / "ray"


def _env() -> dict[str, str]:
    """This process's environment for the ray CLI, minus anything pointing at another Ray."""
    env = {k: v for k, v in os.environ.items() if k != "RAY_ADDRESS"}
    env.update(RAY_USAGE_STATS_ENABLED="0", RAY_AUTH_MODE="disabled")
    return env


def _run(args: list[str], timeout: float) -> subprocess.CompletedProcess:
    """Run a ray CLI command from the repository root; fail the test with its output."""
    proc = subprocess.run(
        args, cwd=ROOT, env=_env(), capture_output=True, text=True, timeout=timeout
    )
    assert proc.returncode == 0, (
        f"{' '.join(args)} -> {proc.returncode}\n{proc.stdout[-4000:]}\n{proc.stderr[-4000:]}"
    )
    return proc


def _ensure_ssh_tools() -> None:
    """Install openssh-server and rsync with apt when missing (CI runs as root)."""
    if (
        all(shutil.which(tool) for tool in ("rsync", "ssh", "ssh-keygen"))
        and Path("/usr/sbin/sshd").exists()
    ):
        return
    if not shutil.which("apt-get") or os.geteuid() != 0:
        pytest.skip("sshd/rsync missing and apt-get is unavailable (or not root) to install them")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    for cmd in (
        ["apt-get", "update"],
        ["apt-get", "install", "-y", "--no-install-recommends", "openssh-server", "rsync"],
    ):
        proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)
        assert proc.returncode == 0, f"{' '.join(cmd)} failed:\n{proc.stdout[-2000:]}{proc.stderr}"


def _port_open(port: int) -> bool:
    """Whether something accepts TCP connections on 127.0.0.1:port."""
    with socket.socket() as sock:
        sock.settimeout(1)
        return sock.connect_ex(("127.0.0.1", port)) == 0


def _dashboard_up(address: str) -> bool:
    """Whether the Ray dashboard (the job server) answers at `address`."""
    try:
        with urllib.request.urlopen(f"{address}/api/version", timeout=5) as reply:
            return reply.status == 200
    except OSError:
        return False


def _wait_for(check: Callable[[], bool], what: str, timeout: float) -> None:
    """Poll `check()` until it is true; fail with `what` after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(0.5)


@pytest.fixture(scope="module")
def sshd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """An sshd on 127.0.0.1:22 in its own PID namespace, with a throwaway key for root."""
    _ensure_ssh_tools()
    probe = subprocess.run(
        ["unshare", "--pid", "--fork", "--mount-proc", "true"], capture_output=True, text=True
    )
    if probe.returncode != 0:
        pytest.skip(
            "cannot give sshd its own PID namespace (unshare: "
            f"{probe.stderr.strip()}); without it `ray down` would stop every Ray here"
        )
    if _port_open(22):
        pytest.skip("127.0.0.1:22 is taken by another sshd; `ray submit` can only use port 22")
    tmp = tmp_path_factory.mktemp("sshd")
    key = tmp / "id_ed25519"
    for path in (key, tmp / "host_ed25519"):
        subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(path)], check=True)
    shutil.copy(key.with_suffix(".pub"), tmp / "authorized_keys")
    config = tmp / "sshd_config"
    config.write_text(
        f"Port 22\nListenAddress 127.0.0.1\nHostKey {tmp}/host_ed25519\n"
        f"PidFile {tmp}/sshd.pid\nAuthorizedKeysFile {tmp}/authorized_keys\n"
        "PermitRootLogin prohibit-password\nPubkeyAuthentication yes\n"
        "PasswordAuthentication no\nKbdInteractiveAuthentication no\n"
        "StrictModes no\nUsePAM no\nSubsystem sftp internal-sftp\n"
    )
    Path("/run/sshd").mkdir(mode=0o755, parents=True, exist_ok=True)
    log = (tmp / "sshd.log").open("w")
    proc = subprocess.Popen(
        ["unshare", "--pid", "--fork", "--mount-proc", "--kill-child"]
        + ["/usr/sbin/sshd", "-D", "-e", "-f", str(config)],
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    login = ["ssh", "-i", str(key), "-o", "BatchMode=yes", "-o", "StrictHostKeyChecking=no"]
    login += ["-o", "UserKnownHostsFile=/dev/null", "root@127.0.0.1", "true"]
    try:
        _wait_for(
            lambda: (
                proc.poll() is None and subprocess.run(login, capture_output=True).returncode == 0
            ),
            f"sshd to accept the key (log: {tmp / 'sshd.log'})",
            30,
        )
        yield key
    finally:
        proc.kill()  # unshare ignores SIGTERM; --kill-child then ends the whole namespace
        proc.wait(timeout=30)
        log.close()


@pytest.fixture(scope="module")
def cluster(sshd: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """`ray up` on cluster/scan.yaml (with the throwaway key); `ray down` afterwards."""
    cfg = yaml.safe_load((ROOT / "cluster" / "scan.yaml").read_text())
    cfg["cluster_name"] = "vidfake-test"
    cfg["auth"]["ssh_private_key"] = str(sshd)
    path = tmp_path_factory.mktemp("cluster") / "scan.yaml"
    path.write_text(yaml.safe_dump(cfg))
    bashrc = HOME / ".bashrc"
    saved = bashrc.read_text() if bashrc.exists() else None
    # A stand-in for someone else's Ray worker: `ray stop` kills any process whose command
    # line names default_worker.py, so it dies if the head's `ray stop` can reach it.
    canary = subprocess.Popen(
        [sys.executable, "-c", "import time; time.sleep(3600)", "default_worker.py"]
    )
    try:
        _run([RAY, "up", "-y", str(path)], timeout=840)  # first run installs torch
        yield path
    finally:
        try:
            down = subprocess.run(
                [RAY, "down", "-y", str(path)],
                cwd=ROOT,
                env=_env(),
                capture_output=True,
                text=True,
                timeout=180,
            )
        finally:
            if saved is None:
                bashrc.unlink(missing_ok=True)
            else:
                bashrc.write_text(saved)
            for name in ("ray_bootstrap_config.yaml", "ray_bootstrap_key.pem", "scan.py"):
                (HOME / name).unlink(missing_ok=True)
            for suffix in ("state", "lock"):  # the launcher's record of this test cluster
                (RAY_TMP / f"cluster-{cfg['cluster_name']}.{suffix}").unlink(missing_ok=True)
            survived = canary.poll() is None
            canary.kill()
            canary.wait()
    assert down.returncode == 0, down.stderr[-4000:]
    assert survived, "`ray down` stopped a Ray process outside the cluster"


@pytest.fixture
def archive(tmp_path: Path, sample_dir: Path) -> Path:
    """A small archive of real sample clips."""
    folder = tmp_path / "archive"
    folder.mkdir()
    for name in CLIPS:
        shutil.copy(sample_dir / "clips" / name, folder / name)
    return folder


def _check_shards(out: Path) -> None:
    """One manifest row per clip, every one scanned with faces found."""
    manifest = read_manifest(out).to_pylist()
    assert sorted(Path(row["path"]).name for row in manifest) == sorted(CLIPS)
    assert [row["status"] for row in manifest] == ["ok"] * len(CLIPS), manifest
    assert read_faces(out, columns=["video_id"]).num_rows >= len(CLIPS)


def test_ray_submit_scans_on_the_cluster(cluster: Path, archive: Path, tmp_path: Path) -> None:
    out = tmp_path / "shards"
    proc = _run(
        [RAY, "submit", str(cluster), "pipelines/scan.py", "--", str(archive), "--out", str(out)],
        timeout=420,
    )
    assert f"{len(CLIPS)} videos: {len(CLIPS)} ok" in proc.stdout + proc.stderr
    _check_shards(out)


def test_ray_job_submit_scans_on_the_cluster(cluster: Path, archive: Path, tmp_path: Path) -> None:
    cfg = yaml.safe_load(cluster.read_text())
    head = " ".join(cfg["head_start_ray_commands"])
    port = head.split("--dashboard-port=")[1].split()[0]
    address = f"http://127.0.0.1:{port}"
    if importlib.util.find_spec("aiohttp") is None:
        pytest.skip("the Ray dashboard needs ray[default] (aiohttp), which is not installed")
    _wait_for(lambda: _dashboard_up(address), f"the dashboard at {address}", 60)
    out = tmp_path / "shards"
    _run(
        [RAY, "job", "submit", "--address", address, "--working-dir", "."]
        + ["--", "python", "pipelines/scan.py", str(archive), "--out", str(out)],
        timeout=420,
    )
    _check_shards(out)
