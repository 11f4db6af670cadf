"""hub.server.tls: the deployment CA, the server certificate, and plain text kept to loopback."""

from __future__ import annotations

import ipaddress
import stat
from pathlib import Path

import pytest
from click.testing import CliRunner
from cryptography import x509
from cryptography.x509.oid import ExtendedKeyUsageOID

from hub.cli import cli
from hub.config import load_settings
from hub.deployment import Deployment
from hub.errors import ConfigError, NatsServerError
from hub.server.process import NatsServer, NatsServerConfig
from hub.server.tls import CA_DAYS, SERVER_DAYS, init_tls, is_loopback, server_names, tls_files
from hub.up.server import UpServer


def _cert(path: Path) -> x509.Certificate:
    return x509.load_pem_x509_certificate(path.read_bytes())


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_init_makes_a_ca_and_a_server_certificate_it_signed(tmp_path: Path) -> None:
    dep = Deployment(tmp_path)
    made = init_tls(dep, server_names("10.0.0.5", ["nats.example.org"]), "abc")
    files = made.files
    assert made.new_ca
    assert (_mode(files.ca_key), _mode(files.server_key)) == (0o600, 0o600)
    assert (_mode(files.ca_cert), _mode(files.server_cert)) == (0o644, 0o644)
    assert _mode(files.ca_key.parent) == 0o700
    ca, server = _cert(files.ca_cert), _cert(files.server_cert)
    server.verify_directly_issued_by(ca)
    assert ca.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    assert not server.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    usage = server.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert list(usage) == [ExtendedKeyUsageOID.SERVER_AUTH]
    sans = server.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert set(sans.get_values_for_type(x509.DNSName)) == {"localhost", "nats.example.org"}
    assert set(sans.get_values_for_type(x509.IPAddress)) == {
        ipaddress.ip_address(a) for a in ("127.0.0.1", "::1", "10.0.0.5")
    }
    assert (server.not_valid_after_utc - server.not_valid_before_utc).days == SERVER_DAYS
    assert (ca.not_valid_after_utc - ca.not_valid_before_utc).days == CA_DAYS


def test_init_again_renews_the_server_certificate_under_the_same_ca(tmp_path: Path) -> None:
    dep = Deployment(tmp_path)
    first = init_tls(dep, server_names("127.0.0.1", []), "abc")
    ca_before = first.files.ca_cert.read_bytes()
    server_before = first.files.server_cert.read_bytes()
    again = init_tls(dep, server_names("127.0.0.1", []), "abc")
    assert not again.new_ca
    assert again.files.ca_cert.read_bytes() == ca_before
    assert again.files.server_cert.read_bytes() != server_before
    _cert(again.files.server_cert).verify_directly_issued_by(_cert(again.files.ca_cert))
    replaced = init_tls(dep, server_names("127.0.0.1", []), "abc", new_ca=True)
    assert replaced.new_ca and replaced.files.ca_cert.read_bytes() != ca_before


def test_a_server_certificate_needs_the_ca_key(tmp_path: Path) -> None:
    dep = Deployment(tmp_path)
    files = init_tls(dep, ("localhost",), "abc").files
    files.ca_key.chmod(0o644)
    with pytest.raises(ConfigError, match="readable by others"):
        init_tls(dep, ("localhost",), "abc")
    files.ca_key.unlink()
    with pytest.raises(ConfigError, match="CA's key is not at"):
        init_tls(dep, ("localhost",), "abc")


def test_loopback_addresses() -> None:
    assert all(map(is_loopback, ["127.0.0.1", "::1", "[::1]", "localhost", "127.1.2.3"]))
    assert not any(map(is_loopback, ["0.0.0.0", "::", "10.0.0.5", "nats.example.org"]))


def test_plain_text_beyond_loopback_is_refused_before_the_server_starts(tmp_path: Path) -> None:
    config = NatsServerConfig(store_dir=tmp_path / "js", host="0.0.0.0", port=4999)
    server = NatsServer(config, tmp_path / "nats.conf")
    with pytest.raises(NatsServerError, match="without TLS") as refused:
        server.start()
    assert "enlace tls init" in refused.value.description
    assert server.process is None and not (tmp_path / "nats.conf").exists()
    config.tls = tls_files(Deployment(tmp_path))
    config.check()  # with a certificate it may listen there
    assert 'cert_file: "' in config.render()


def test_enlace_up_without_tls_material_says_to_run_tls_init(tmp_path: Path) -> None:
    dep = Deployment(tmp_path)
    up = UpServer(dep, load_settings(None))
    with pytest.raises(ConfigError, match="enlace tls init"):
        up._tls()
    assert UpServer(dep, load_settings(None, nats_tls=False))._tls() is None
    init_tls(dep, ("localhost",), "abc")
    assert up._tls() == tls_files(dep)


def test_cli_tls_init_names_the_settings_host_and_prints_no_key(tmp_path: Path) -> None:
    home = tmp_path / "home"
    runner = CliRunner()
    made = runner.invoke(cli, ["init", str(home), "--party", "GT", "--json"])
    assert made.exit_code == 0, made.output
    (home / "enlace.yaml").write_text(
        (home / "enlace.yaml").read_text() + "  tls_names: [nats.gt.example]\n"
    )
    result = runner.invoke(
        cli, ["--home", str(home), "tls", "init", "--name", "192.0.2.10", "--json"]
    )
    assert result.exit_code == 0, result.output
    assert "PRIVATE KEY" not in result.output
    sans = _cert(home / "nats" / "tls" / "server.pem").extensions.get_extension_for_class(
        x509.SubjectAlternativeName
    )
    assert "nats.gt.example" in sans.value.get_values_for_type(x509.DNSName)
    assert ipaddress.ip_address("192.0.2.10") in sans.value.get_values_for_type(x509.IPAddress)
    nowhere = runner.invoke(cli, ["--home", str(tmp_path / "none"), "tls", "init"])
    assert nowhere.exit_code == 4
