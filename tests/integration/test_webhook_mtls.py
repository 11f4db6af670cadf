"""The webhook sink over mutual TLS against a real HTTPS server that demands a client cert."""

from __future__ import annotations

import datetime as dt
import ipaddress
import ssl
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from adapters.base import SinkContext
from adapters.delivery import Delivery, parse_delivery
from adapters.errors import TransientSinkError
from adapters.registry import build_sink
from schemas.countersign import sha256_digest
from schemas.subjects import HDR_ORIGINAL_DIGEST, HDR_SIGNATURE, HDR_VIEW

pytestmark = pytest.mark.integration


def _cert(
    name: str,
    key: ec.EllipticCurvePrivateKey,
    issuer: tuple[x509.Name, ec.EllipticCurvePrivateKey] | None,
    ca: bool,
) -> x509.Certificate:
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    issuer_name, issuer_key = issuer or (subject, key)
    now = dt.datetime.now(dt.UTC)
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=1))
        .not_valid_after(now + dt.timedelta(hours=1))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
    )
    if not ca:
        builder = builder.add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
    return builder.sign(issuer_key, hashes.SHA256())


def _write(
    folder: Path, name: str, cert: x509.Certificate, key: ec.EllipticCurvePrivateKey
) -> None:
    (folder / f"{name}.crt").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    (folder / f"{name}.key").write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )


@pytest.fixture
def pki(tmp_path: Path) -> Path:
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca = _cert("Enlace test CA", ca_key, None, ca=True)
    _write(tmp_path, "ca", ca, ca_key)
    for name in ("server", "client"):
        key = ec.generate_private_key(ec.SECP256R1())
        _write(tmp_path, name, _cert(name, key, (ca.subject, ca_key), ca=False), key)
    return tmp_path


@pytest.fixture
def https_url(pki: Path) -> Iterator[str]:
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            self.rfile.read(int(self.headers.get("Content-Length", "0")))
            self.send_response(201)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, format: str, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH, cafile=str(pki / "ca.crt"))
    context.load_cert_chain(str(pki / "server.crt"), str(pki / "server.key"))
    context.verify_mode = ssl.CERT_REQUIRED  # no client certificate, no connection
    server.socket = context.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"https://127.0.0.1:{server.server_address[1]}/intake"
    server.shutdown()
    server.server_close()


def _delivery() -> Delivery:
    body = b'{"id": "01JD0000000000000000000000", "payload": {}}'
    headers = {
        HDR_SIGNATURE: "e30..c2ln",
        HDR_VIEW: "full",
        HDR_ORIGINAL_DIGEST: sha256_digest(body),
    }
    return parse_delivery("enlace.out.GT.gangs.gang_movement", headers, body, "GT")


async def test_mtls_delivery(pki: Path, https_url: str, tmp_path: Path) -> None:
    context = SinkContext(country="GT", state_dir=tmp_path / "state", base_dir=pki)
    options = {
        "url": https_url,
        "ca_file": "ca.crt",
        "client_cert": "client.crt",
        "client_key": "client.key",
    }
    sink = build_sink("webhook", options, context)
    await sink.open()
    result = await sink.deliver(_delivery())
    assert not result.duplicate
    await sink.close()

    other = SinkContext(country="GT", state_dir=tmp_path / "other", base_dir=pki)  # own ledger
    anonymous = build_sink("webhook", {"url": https_url, "ca_file": "ca.crt"}, other)
    await anonymous.open()
    with pytest.raises(TransientSinkError):
        await anonymous.deliver(_delivery())
    await anonymous.close()
