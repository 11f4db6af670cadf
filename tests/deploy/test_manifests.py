"""The host and container files in ``deploy/``: systemd units that ``systemd-analyze verify``
accepts, and compose, Helm and Kubernetes files that parse and agree with what
``enlace cluster init`` writes. Syntax and consistency only: nothing here starts them."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from ruamel.yaml import YAML

from hub.server.process import find_nats_server

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"
UNITS = sorted((DEPLOY / "systemd").glob("*.service"))
ENLACE = Path(sys.executable).parent / "enlace"


def _verify(units: list[Path]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["systemd-analyze", "verify", *map(str, units)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="no systemd-analyze here")
def test_systemd_analyze_accepts_every_unit(tmp_path: Path) -> None:
    assert [u.name for u in UNITS] == ["enlace-hub.service", "enlace-nats.service"]
    copies = []
    for unit in UNITS:  # the binaries where this checkout has them (verify wants them)
        text = unit.read_text(encoding="utf-8")
        text = text.replace("/usr/local/bin/nats-server", str(find_nats_server()))
        text = text.replace("/opt/enlace/.venv/bin/enlace", str(ENLACE))
        copy = tmp_path / unit.name
        copy.write_text(text, encoding="utf-8")
        copies.append(copy)
    checked = _verify(copies)
    assert checked.returncode == 0, checked.stderr
    assert checked.stderr == "", checked.stderr  # not even an unknown key


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="no systemd-analyze here")
def test_a_broken_unit_fails_the_check(tmp_path: Path) -> None:
    bad = tmp_path / "bad.service"
    bad.write_text("[Service]\nExecStart=/nowhere/nats-server\nRestart=sometimes\n")
    checked = _verify([bad])
    assert checked.returncode != 0 or checked.stderr


def test_the_nats_unit_runs_the_config_enlace_cluster_init_writes() -> None:
    unit = (DEPLOY / "systemd" / "enlace-nats.service").read_text()
    assert "ExecStart=/usr/local/bin/nats-server -c /etc/enlace/node.conf" in unit
    node = (DEPLOY / "nats" / "cluster" / "node-1.conf").read_text()
    # The example's paths are those the unit's host layout uses.
    assert 'cert_file: "/etc/enlace/tls/node.pem"' in node
    assert 'store_dir: "/var/lib/enlace/jetstream"' in node
    assert "ReadWritePaths=/var/lib/enlace" in unit


def _yaml(path: Path) -> Any:
    return YAML(typ="safe").load(path.read_text(encoding="utf-8"))


def test_the_compose_file_runs_three_nodes_and_two_hubs() -> None:
    compose = _yaml(DEPLOY / "compose" / "compose.yaml")
    services = compose["services"]
    assert {"n1", "n2", "n3", "hub-1", "hub-2"} <= set(services)
    for i in (1, 2, 3):
        mounts = services[f"n{i}"]["volumes"]
        assert f"./nats/node-{i}.conf:/etc/enlace/node.conf:ro" in mounts
        assert "./nats/users.conf:/etc/enlace/users.conf:ro" in mounts
    assert "--no-adapters" in services["hub-2"]["command"]  # one consumer per sink
    build = services["hub-1"]["build"]
    assert (DEPLOY / "compose" / build["context"] / build["dockerfile"]).is_file()


def test_the_helm_values_keep_sync_always_tls_and_the_route_login() -> None:
    values = _yaml(DEPLOY / "helm" / "nats-values.yaml")["config"]
    assert values["cluster"]["enabled"] is True
    assert values["cluster"]["replicas"] == 3
    assert values["cluster"]["tls"]["enabled"] is True
    assert values["cluster"]["routeURLs"]["user"] == "route"
    assert values["cluster"]["merge"]["authorization"]["user"] == "route"
    assert values["jetstream"]["merge"]["sync_interval"] == "always"
    assert values["nats"]["tls"]["enabled"] is True
    assert values["merge"]["max_payload"] == 1114112


def test_the_hub_manifest_runs_two_hubs_and_one_adapter_set() -> None:
    docs = list(YAML(typ="safe").load_all((DEPLOY / "k8s" / "enlace-hub.yaml").read_text()))
    kinds = {(d["kind"], d["metadata"]["name"]): d for d in docs}
    hub = kinds[("Deployment", "enlace-hub")]["spec"]
    assert hub["replicas"] >= 2
    env = {e["name"]: e["value"] for e in hub["template"]["spec"]["containers"][0]["env"]}
    assert env["ENLACE_STREAMS__REPLICAS"] == "3"
    assert kinds[("Deployment", "enlace-adapters")]["spec"]["replicas"] == 1
    assert ("PersistentVolumeClaim", "enlace-home") in kinds
