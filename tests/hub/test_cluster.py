"""hub.server.cluster and ``enlace cluster init``: the node configs, their routes' TLS and login.

A real cluster made from these files (routes refused without the login, R3 streams) is
``tests/integration/test_cluster.py``; ``nats-server -t`` on the generated files is
``tests/deploy/test_configs.py``.
"""

from __future__ import annotations

import json
import re
import stat
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.x509.oid import ExtendedKeyUsageOID

from hub.cli.exit_codes import ExitCode
from hub.errors import ConfigError
from hub.server.cluster import ROUTE_USER, hosts_layout, local_layout
from hub.server.logins import read_logins
from hub.server.tls import tls_files
from tests.hub.governance_fixtures import DemoHome, copy_demo, run

NAMES = ("n1.enlace.example", "n2.enlace.example", "n3.enlace.example")


@pytest.fixture
def demo(tmp_path_factory: pytest.TempPathFactory, tmp_path: Path) -> DemoHome:
    return copy_demo(tmp_path_factory.getbasetemp(), tmp_path / "home")


def _init(demo: DemoHome, *args: str) -> dict[str, object]:
    result = run(demo.home, "cluster", "init", *args, "--json")
    assert result.exit_code == 0, result.output
    data: dict[str, object] = json.loads(result.output)
    return data


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_init_writes_one_config_per_node_with_authenticated_tls_routes(demo: DemoHome) -> None:
    made = _init(demo, "3", *(f"--name={n}" for n in NAMES))
    folder = demo.deployment.nats_dir.resolve() / "cluster"
    password = (folder / "route.secret").read_text()
    assert len(password) >= 40
    configs = [Path(str(p)) for p in made["configs"]]  # type: ignore[attr-defined]
    assert [p.name for p in configs] == ["node-1.conf", "node-2.conf", "node-3.conf"]
    for i, path in enumerate(configs, start=1):
        text = path.read_text()
        assert _mode(path) == 0o600
        assert f"server_name: enlace-n{i}\n" in text
        assert "sync_interval: always" in text
        assert 'include "users.conf"' in text
        cluster = text[text.index("cluster {") :]
        assert f'authorization {{ user: "{ROUTE_USER}", password: "{password}"' in cluster
        assert 'ca_file: "/etc/enlace/tls/ca.pem"' in cluster
        routes = re.findall(r'"(nats-route://[^"]+)"', cluster)
        assert routes == [f"nats-route://{ROUTE_USER}:{password}@{n}:6222" for n in NAMES]
        # Clients are served TLS too, with the same node certificate.
        assert 'cert_file: "/etc/enlace/tls/node.pem"' in text[: text.index("cluster {")]
    assert made["nats_url"] == ",".join(f"nats://{n}:4222" for n in NAMES)
    assert _mode(folder / "route.secret") == 0o600
    assert _mode(folder) == 0o700


def test_every_node_gets_the_same_generated_logins(demo: DemoHome) -> None:
    _init(demo, "3", "--local")
    users = (demo.deployment.nats_dir / "cluster" / "users.conf").read_text()
    for public_key in read_logins(demo.deployment).values():
        assert public_key in users
    # The demo's sinks' consumers are permitted, as on the embedded server.
    assert "$JS.API.CONSUMER.MSG.NEXT.DELIVERY.sink-GT-" in users
    assert "system_account: SYS" in users


def test_the_node_certificate_serves_clients_and_routes_under_the_deployment_ca(
    demo: DemoHome,
) -> None:
    _init(demo, "3", *(f"--name={n}" for n in NAMES))
    tls = demo.deployment.nats_dir / "cluster" / "tls"
    cert = x509.load_pem_x509_certificate((tls / "node.pem").read_bytes())
    ca = x509.load_pem_x509_certificate(tls_files(demo.deployment).ca_cert.read_bytes())
    cert.verify_directly_issued_by(ca)
    assert (tls / "ca.pem").read_bytes() == tls_files(demo.deployment).ca_cert.read_bytes()
    usage = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    # nats-server checks a route's certificate both ways: it must be good for both.
    assert set(usage) == {ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH}
    sans = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert set(NAMES) <= set(sans.get_values_for_type(x509.DNSName))
    assert _mode(tls / "node-key.pem") == 0o600


def test_running_it_again_keeps_the_route_password(demo: DemoHome) -> None:
    _init(demo, "3", "--local")
    secret = demo.deployment.nats_dir / "cluster" / "route.secret"
    first = secret.read_text()
    _init(demo, "3", "--local")
    assert secret.read_text() == first


def test_a_route_secret_readable_by_others_is_refused(demo: DemoHome) -> None:
    _init(demo, "3", "--local")
    secret = demo.deployment.nats_dir / "cluster" / "route.secret"
    secret.chmod(0o644)
    result = run(demo.home, "cluster", "init", "3", "--local")
    assert result.exit_code == ExitCode.USAGE
    assert "chmod 600" in result.output


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["2", "--local"], "cannot keep R3"),
        (["3"], "--name"),
        (["3", "--name=a", "--name=b"], "one per node"),
        (["3", "--name=a", "--name=a", "--name=b"], "its own host name"),
        (["3", "--local", "--name=a", "--name=b", "--name=c"], "--name"),
    ],
)
def test_impossible_clusters_are_refused(demo: DemoHome, args: list[str], says: str) -> None:
    result = run(demo.home, "cluster", "init", *args)
    assert result.exit_code == ExitCode.USAGE
    assert says in result.output
    assert not (demo.deployment.nats_dir / "cluster" / "node-1.conf").exists()


def test_without_the_ca_key_no_certificate_is_issued(demo: DemoHome) -> None:
    tls_files(demo.deployment).ca_key.unlink()
    result = run(demo.home, "cluster", "init", "3", "--local")
    assert result.exit_code == ExitCode.USAGE
    assert "CA's key" in result.output


def test_layouts(tmp_path: Path) -> None:
    local = local_layout(tmp_path, 3)
    ports = [p for n in local.nodes for p in (n.client_port, n.route_port, n.http_port)]
    assert len(set(ports)) == 9  # nothing shared on one machine
    assert {n.listen for n in local.nodes} == {"127.0.0.1"}
    assert len({n.store_dir for n in local.nodes}) == 3
    hosts = hosts_layout(tmp_path, list(NAMES), Path("/var/lib/enlace/jetstream"))
    assert {n.http_port for n in hosts.nodes} == {None}  # monitoring stays off the network
    with pytest.raises(ConfigError):
        local_layout(tmp_path, 1)
