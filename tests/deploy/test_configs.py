"""The nats-server configs in ``deploy/nats``: what the hub generates, what the server accepts."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest
from click.testing import CliRunner

from hub.admin.init import init_deployment
from hub.cli import cli
from hub.deployment import Deployment
from hub.server.logins import authorization_block, read_logins
from hub.server.process import find_nats_server
from hub.server.tls import issue_node_cert
from tests.deploy.cluster_example import PASSWORD, cluster_confs
from tests.deploy.single_example import EXAMPLE_HOME, single_conf

DEPLOY = Path(__file__).resolve().parents[2] / "deploy" / "nats"
CONFS = sorted(DEPLOY.rglob("*.conf"))


def test_single_conf_is_the_generated_one() -> None:
    # Regenerate: .venv/bin/python -m tests.deploy.single_example > deploy/nats/single.conf
    assert (DEPLOY / "single.conf").read_text(encoding="utf-8") == single_conf()


def test_cluster_confs_are_the_generated_ones() -> None:
    # Regenerate: .venv/bin/python -m tests.deploy.cluster_example
    for name, text in cluster_confs().items():
        assert (DEPLOY / "cluster" / name).read_text(encoding="utf-8") == text
        assert f"route:{PASSWORD}@" in text


def test_single_conf_denies_the_hub_what_its_generated_permissions_deny() -> None:
    hub_line = next(line for line in single_conf().splitlines() if "U<public key of hub>" in line)
    for denied in (
        "$JS.API.STREAM.MSG.DELETE.AUDIT",
        "$JS.API.STREAM.MSG.DELETE.AUDIT_CHECKPOINTS",
        "$JS.API.STREAM.UPDATE.AUDIT_CHECKPOINTS",
        "$JS.API.STREAM.PURGE.AUDIT",
    ):
        assert f'"{denied}"' in hub_line


@pytest.fixture(scope="module")
def deployment(tmp_path_factory: pytest.TempPathFactory) -> Deployment:
    """A real deployment (logins, TLS material) to fill the examples' placeholders with."""
    dep = Deployment(tmp_path_factory.mktemp("deploy") / "home")
    init_deployment(dep, ["GT"])
    tls = dep.tls_dir.resolve()
    issue_node_cert(dep, ("127.0.0.1",), tls / "node.pem", tls / "node-key.pem")
    return dep


def _filled(conf: Path, dep: Deployment, into: Path) -> Path:
    """``conf`` with this deployment's paths and public keys, and cluster's users.conf."""
    text = conf.read_text(encoding="utf-8")
    text = text.replace(EXAMPLE_HOME, str(dep.home.resolve()))
    text = text.replace("/etc/enlace/tls", str(dep.tls_dir.resolve()))
    text = text.replace("/var/lib/enlace", str(into / "store"))
    keys = read_logins(dep)
    text = re.sub(r"U<public key of (\w+)>", lambda m: keys[m.group(1)], text)
    (into / "users.conf").write_text(authorization_block(dep), encoding="utf-8")
    target = into / conf.name
    target.write_text(text, encoding="utf-8")
    return target


def _accepted(conf: Path) -> None:
    checked = subprocess.run(
        [str(find_nats_server()), "-t", "-c", str(conf)],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr


@pytest.mark.parametrize("conf", CONFS, ids=[str(c.relative_to(DEPLOY)) for c in CONFS])
def test_nats_server_accepts_every_deploy_config(
    conf: Path, deployment: Deployment, tmp_path: Path
) -> None:
    _accepted(_filled(conf, deployment, tmp_path))


@pytest.mark.parametrize("layout", ["hosts", "local"])
def test_nats_server_accepts_every_config_enlace_cluster_init_writes(
    layout: str, deployment: Deployment, tmp_path: Path
) -> None:
    out = tmp_path / "cluster"
    where = (
        ["--local"]
        if layout == "local"
        else [
            *(f"--name=n{i}.enlace.example" for i in (1, 2, 3)),
            f"--store-dir={tmp_path / 'store'}",
            f"--cert-dir={out / 'tls'}",
        ]
    )
    args = ["--home", str(deployment.home), "cluster", "init", "3", f"--out={out}", *where]
    result = CliRunner().invoke(cli, args, catch_exceptions=False)
    assert result.exit_code == 0, result.output
    confs = sorted(out.glob("node-*.conf"))
    assert len(confs) == 3
    for conf in confs:
        _accepted(conf)


def test_a_config_the_server_refuses_fails_the_check(
    deployment: Deployment, tmp_path: Path
) -> None:
    broken = tmp_path / "broken.conf"
    broken.write_text('tls { cert_file: "/nowhere/server.pem", key_file: "/nowhere/k.pem" }\n')
    checked = subprocess.run(
        [str(find_nats_server()), "-t", "-c", str(broken)],
        capture_output=True,
        timeout=30,
        check=False,
    )
    assert checked.returncode != 0
