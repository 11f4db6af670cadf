"""TLS of the deployment's NATS: its own CA, the server's certificate, the clients' context.

``enlace tls init`` (and ``enlace init``) makes, with ``cryptography``:

==============================  ======  =====================================================
file                            mode    what
==============================  ======  =====================================================
``keys/tls/ca-key.pem``         0600    the deployment CA's key (ECDSA P-256); needed only to
                                        issue a certificate: keep it, or move it offline
``nats/tls/ca.pem``             0644    the CA's certificate, valid :data:`CA_DAYS`; every
                                        client trusts it and nothing else (a party kit
                                        carries it)
``nats/tls/server.pem``         0644    the server's certificate, valid :data:`SERVER_DAYS`,
                                        its names (SANs) from the settings
``nats/tls/server-key.pem``     0600    the server's key
==============================  ======  =====================================================

Running it again re-issues the server certificate under the same CA (a rotation no client
notices); ``new_ca`` replaces the CA too (every party kit then needs the new ``ca.pem``).
Every client (hub and adapters) verifies the server with
:func:`schemas.tls.client_context`: the deployment CA and no other.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from hub.deployment import Deployment
from hub.errors import ConfigError
from hub.server.private_files import write_private

__all__ = [
    "CA_DAYS",
    "SERVER_DAYS",
    "TlsFiles",
    "TlsSummary",
    "init_tls",
    "is_loopback",
    "issue_node_cert",
    "server_names",
    "tls_files",
]

CA_DAYS = 3650
"""The CA's lifetime (10 years): replacing it means handing every party a new ``ca.pem``."""
SERVER_DAYS = 397
"""The server certificate's lifetime (13 months): re-issue it yearly, no client notices."""
_LOOPBACK_NAMES = ("localhost", "127.0.0.1", "::1")


@dataclass(frozen=True)
class TlsFiles:
    """Where a deployment keeps its TLS material (see the module)."""

    ca_cert: Path
    ca_key: Path
    server_cert: Path
    server_key: Path

    def complete(self) -> bool:
        """Whether the server can run TLS from these files (the CA's key may be away)."""
        return all(p.is_file() for p in (self.ca_cert, self.server_cert, self.server_key))


def tls_files(deployment: Deployment) -> TlsFiles:
    """The TLS files of ``deployment`` (they may not exist yet)."""
    tls = deployment.tls_dir.resolve()
    return TlsFiles(
        ca_cert=deployment.tls_ca_cert.resolve(),
        ca_key=deployment.keys_dir.resolve() / "tls" / "ca-key.pem",
        server_cert=tls / "server.pem",
        server_key=tls / "server-key.pem",
    )


@dataclass(frozen=True)
class TlsSummary:
    """What ``enlace tls init`` made (no key material)."""

    files: TlsFiles
    names: tuple[str, ...]
    new_ca: bool
    ca_not_after: datetime
    server_not_after: datetime
    fingerprint: str = field(default="")  # SHA-256 of the CA certificate, to read aloud

    def as_dict(self) -> dict[str, object]:
        return {
            "ca_cert": str(self.files.ca_cert),
            "ca_key": str(self.files.ca_key),
            "server_cert": str(self.files.server_cert),
            "server_key": str(self.files.server_key),
            "names": list(self.names),
            "new_ca": self.new_ca,
            "ca_not_after": self.ca_not_after.isoformat(),
            "server_not_after": self.server_not_after.isoformat(),
            "ca_sha256": self.fingerprint,
        }


def is_loopback(host: str) -> bool:
    """Whether ``host`` (a listen address or name) is reachable from this machine only."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def server_names(host: str, extra: list[str]) -> tuple[str, ...]:
    """The server certificate's names: the loopback names, the listen address (unless it
    is every address) and the ``extra`` ones (``tls_names``), each once."""
    names = [*_LOOPBACK_NAMES]
    if host not in ("0.0.0.0", "::", ""):  # noqa: S104 (a listen address, compared only)
        names.append(host)
    names += extra
    return tuple(dict.fromkeys(n.strip() for n in names if n.strip()))


def _general_name(name: str) -> x509.GeneralName:
    try:
        return x509.IPAddress(ipaddress.ip_address(name.strip("[]")))
    except ValueError:
        return x509.DNSName(name)


def _name(common: str) -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Enlace"),
            x509.NameAttribute(NameOID.COMMON_NAME, common),
        ]
    )


def _pem_key(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def _new_ca(files: TlsFiles, label: str, now: datetime) -> x509.Certificate:
    key = ec.generate_private_key(ec.SECP256R1())
    name = _name(f"Enlace deployment CA {label}")
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + timedelta(days=CA_DAYS))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(False, False, False, False, False, True, True, False, False),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    files.ca_key.parent.mkdir(mode=0o700, parents=True, exist_ok=True)  # as keys/ is
    write_private(files.ca_key, _pem_key(key))
    _write_public(files.ca_cert, cert.public_bytes(serialization.Encoding.PEM))
    return cert


def _load_ca(files: TlsFiles) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey]:
    if not files.ca_key.is_file():
        raise ConfigError(
            f"the deployment CA's key is not at {files.ca_key}: bring it back from where it "
            "is kept to issue a server certificate, or make a new CA with --new-ca (every "
            "party kit then needs the new nats/tls/ca.pem)"
        )
    if files.ca_key.stat().st_mode & 0o077:
        raise ConfigError(f"{files.ca_key}: readable by others; run `chmod 600 {files.ca_key}`")
    cert = x509.load_pem_x509_certificate(files.ca_cert.read_bytes())
    key = serialization.load_pem_private_key(files.ca_key.read_bytes(), password=None)
    if not isinstance(key, ec.EllipticCurvePrivateKey) or key.public_key() != cert.public_key():
        raise ConfigError(f"{files.ca_key} is not the key of the CA certificate {files.ca_cert}")
    return cert, key


def _write_public(path: Path, data: bytes) -> None:
    write_private(path, data)
    path.chmod(0o644)


def _issue(
    ca_cert: x509.Certificate,
    ca_key: ec.EllipticCurvePrivateKey,
    names: tuple[str, ...],
    usages: tuple[x509.ObjectIdentifier, ...],
    now: datetime,
) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey]:
    """A new key and its certificate for ``names``, issued by the CA for ``usages``."""
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (
        x509.CertificateBuilder()
        .subject_name(_name(names[0] if names else "nats"))
        .issuer_name(ca_cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + timedelta(days=SERVER_DAYS))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.SubjectAlternativeName([_general_name(n) for n in names]), False)
        .add_extension(x509.ExtendedKeyUsage(list(usages)), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    return cert, key


def issue_node_cert(
    deployment: Deployment, names: tuple[str, ...], cert_path: Path, key_path: Path
) -> datetime:
    """Issue a cluster node's certificate: for its clients and for its routes.

    nats-server verifies routes both ways with one certificate (it is the client of the
    route it dials and the server of the one it accepts), so this one is for server and
    client authentication, under the deployment CA, valid :data:`SERVER_DAYS`.

    Args:
        deployment: whose CA issues it (its key must be here).
        names: every name clients and the other nodes reach the nodes by.
        cert_path: where the certificate goes (0644).
        key_path: where its key goes (0600).

    Returns:
        When the certificate expires.

    Raises:
        ConfigError: the deployment has no CA, or its key is missing, too open or wrong.
    """
    files = tls_files(deployment)
    if not files.ca_cert.is_file():
        raise ConfigError(f"this deployment has no CA yet ({files.ca_cert}): run `enlace tls init`")
    ca_cert, ca_key = _load_ca(files)
    usages = (ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH)
    cert, key = _issue(ca_cert, ca_key, names, usages, datetime.now(UTC))
    key_path.parent.mkdir(parents=True, exist_ok=True)
    write_private(key_path, _pem_key(key))
    _write_public(cert_path, cert.public_bytes(serialization.Encoding.PEM))
    return cert.not_valid_after_utc


def init_tls(
    deployment: Deployment, names: tuple[str, ...], label: str, new_ca: bool = False
) -> TlsSummary:
    """Make the deployment CA (if it has none, or ``new_ca``) and issue the server's
    certificate for ``names``.

    Args:
        deployment: where the files go (see the module).
        names: the server's DNS names and IP addresses (:func:`server_names`).
        label: names the CA (the deployment id), so that two deployments' CAs differ.
        new_ca: replace an existing CA.

    Raises:
        ConfigError: the CA exists but its key is missing, too open or not its key.
    """
    files = tls_files(deployment)
    now = datetime.now(UTC)
    made_ca = new_ca or not files.ca_cert.is_file()
    if made_ca:
        ca_cert = _new_ca(files, label, now)
        ca_key = _load_ca(files)[1]
    else:
        ca_cert, ca_key = _load_ca(files)
    cert, key = _issue(ca_cert, ca_key, names, (ExtendedKeyUsageOID.SERVER_AUTH,), now)
    write_private(files.server_key, _pem_key(key))
    _write_public(files.server_cert, cert.public_bytes(serialization.Encoding.PEM))
    return TlsSummary(
        files=files,
        names=names,
        new_ca=made_ca,
        ca_not_after=ca_cert.not_valid_after_utc,
        server_not_after=cert.not_valid_after_utc,
        fingerprint=ca_cert.fingerprint(hashes.SHA256()).hex(),
    )
