"""The cluster configs parse, match Ray's cluster-config schema, and keep the local traps shut."""

from __future__ import annotations

import json
import re
from pathlib import Path

import jsonschema
import pytest
import ray.autoscaler
import yaml

ROOT = Path(__file__).resolve().parents[1]
CLUSTER = ROOT / "cluster"
RAY_SCHEMA = Path(ray.autoscaler.__file__).parent / "ray-schema.json"


def _load(name: str) -> dict:
    """One YAML file from cluster/ as a mapping."""
    data = yaml.safe_load((CLUSTER / name).read_text())
    assert isinstance(data, dict), f"{name} is not a YAML mapping"
    return data


def _commands(cfg: dict, key: str) -> list[str]:
    """A launcher command list with each entry's whitespace collapsed, for matching."""
    return [" ".join(cmd.split()) for cmd in cfg.get(key, [])]


@pytest.mark.parametrize("name", ["scan.yaml", "aws.yaml"])
def test_launcher_configs_match_ray_schema(name: str) -> None:
    schema = json.loads(RAY_SCHEMA.read_text())
    jsonschema.validate(_load(name), schema)


def test_ray_schema_rejects_a_broken_config() -> None:
    schema = json.loads(RAY_SCHEMA.read_text())
    broken = _load("scan.yaml")
    broken["file_mounts"] = ["not", "a", "mapping"]
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(broken, schema)


def test_scan_yaml_runs_on_this_machine() -> None:
    cfg = _load("scan.yaml")
    assert cfg["provider"] == {"type": "local", "head_ip": "127.0.0.1", "worker_ips": []}
    assert cfg["auth"]["ssh_user"] == "root"
    assert cfg["auth"]["ssh_private_key"]
    remote, local = next(iter(cfg["file_mounts"].items()))
    assert local == "."
    assert Path(remote).name != "vidfake", "a ~/vidfake folder would shadow the package"
    setup = " && ".join(_commands(cfg, "setup_commands"))
    assert f"pip install --quiet -e {remote}" in setup
    assert ".bashrc" in setup, "the login shell's PATH must reach the venv"


def test_scan_yaml_never_stops_other_rays_and_uses_its_own_ports() -> None:
    cfg = _load("scan.yaml")
    starts = _commands(cfg, "head_start_ray_commands") + _commands(cfg, "worker_start_ray_commands")
    assert starts, "without start commands the launcher's defaults (with `ray stop`) apply"
    assert not [c for c in starts if re.search(r"\bray stop\b", c)]
    head = " ".join(_commands(cfg, "head_start_ray_commands"))
    ports = dict(re.findall(r"--([a-z-]*port)=(\d+)", head))
    assert ports["port"] != "6379"
    assert ports["dashboard-port"] != "8265"
    assert not 10002 <= int(ports["ray-client-server-port"]) <= 19999, "inside worker ports"
    workers = " ".join(_commands(cfg, "worker_start_ray_commands"))
    assert f":{ports['port']}" in workers


def test_aws_yaml_node_types_are_consistent() -> None:
    cfg = _load("aws.yaml")
    assert cfg["provider"]["type"] == "aws" and cfg["provider"]["region"]
    types = cfg["available_node_types"]
    assert cfg["head_node_type"] in types
    for name, node in types.items():
        assert "InstanceType" in node["node_config"], name
        assert node.get("max_workers", 0) <= cfg["max_workers"], name
    assert any("pip install" in c for c in cfg["setup_commands"])


def test_kuberay_job_has_what_kuberay_needs() -> None:
    job = _load("kuberay-job.yaml")
    assert job["apiVersion"] == "ray.io/v1" and job["kind"] == "RayJob"
    spec = job["spec"]
    assert "pipelines/scan.py" in spec["entrypoint"]
    assert (ROOT / "pipelines" / "scan.py").is_file()
    assert isinstance(yaml.safe_load(spec["runtimeEnvYAML"]), dict)
    cluster = spec["rayClusterSpec"]
    assert cluster["rayVersion"] == ray.__version__
    groups = [cluster["headGroupSpec"], *cluster["workerGroupSpecs"]]
    for group in groups:
        assert isinstance(group["rayStartParams"], dict)
        pod = group["template"]["spec"]
        volumes = {v["name"] for v in pod.get("volumes", [])}
        for container in pod["containers"]:
            assert container["name"] and container["image"]
            assert {m["name"] for m in container.get("volumeMounts", [])} <= volumes
    for group in cluster["workerGroupSpecs"]:
        assert group["groupName"]
        assert group["minReplicas"] <= group["replicas"] <= group["maxReplicas"]
