"""Detached JWS with unencoded payload (RFC 7515 + RFC 7797), Ed25519 (RFC 9864).

A signature is the compact serialization with an empty payload part::

    BASE64URL(protected) ".." BASE64URL(signature)

over the signing input ``ASCII(BASE64URL(protected)) || "." || message bytes`` (the message
is signed as its exact bytes, never re-encoded). The protected header is
``{"alg": "Ed25519", "b64": false, "crit": ["b64"], "kid": ...}``; when verifying, the
legacy ``alg: EdDSA`` is accepted too (the key is Ed25519 either way).

Keys are ``cryptography``'s objects, which also signs. Signatures are checked by libsodium
(PyNaCl, which ``nkeys`` already brings): ~58 us against OpenSSL's ~106 us for a 2 KiB
message on the bench machine, where checking the sender's signature was the largest single
cost of the hub per message. Both check RFC 8032 signatures; libsodium also refuses a few
that OpenSSL takes and no honest signer makes (a small-order key or ``R``, a non-canonical
encoding). ``tests/schemas/test_jws.py`` checks that the two agree on signatures made by
``cryptography``, and ``test_jws_interop.py`` that another JOSE library's signatures verify.
"""

from __future__ import annotations

import base64
import binascii
import functools
import json
import re
from dataclasses import dataclass
from typing import Any

import nacl.bindings
import nacl.exceptions
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from schemas.errors import BadSignature, MalformedSignature

__all__ = [
    "ACCEPTED_ALGS",
    "ALG",
    "JwsHeader",
    "b64url_decode",
    "b64url_encode",
    "jwk_from_public_key",
    "load_private_key",
    "parse_detached",
    "private_key_pem",
    "public_key_from_jwk",
    "sign_detached",
    "verify_detached",
    "verify_parsed",
]

ALG = "Ed25519"
ACCEPTED_ALGS = frozenset({"Ed25519", "EdDSA"})
_MAX_SIGNATURE_CHARS = 4096
_B64URL = re.compile(r"[A-Za-z0-9_-]*")
_SIGNATURE_BYTES = 64  # an Ed25519 signature (RFC 8032)


def b64url_encode(data: bytes) -> str:
    """Base64url without padding (RFC 7515 §2)."""
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def b64url_decode(text: str) -> bytes:
    """Decode base64url, padded or not.

    Raises:
        ValueError: ``text`` is not base64url.
    """
    if not _B64URL.fullmatch(text):
        raise ValueError("not base64url")
    try:
        return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (binascii.Error, ValueError) as exc:
        raise ValueError(f"not base64url: {exc}") from None


@dataclass(frozen=True)
class JwsHeader:
    """The protected header of a verified-shape detached JWS."""

    alg: str
    kid: str
    encoded: str
    """The header exactly as it was encoded: the signing input starts with it."""


def sign_detached(payload: bytes, key: Ed25519PrivateKey, kid: str) -> str:
    """Sign the exact bytes ``payload`` (RFC 7797 unencoded payload, Ed25519).

    Args:
        payload: the bytes to sign, as they travel.
        key: the signing key.
        kid: the key's id in the directory, put in the protected header.

    Returns:
        The detached JWS, ``header..signature``.
    """
    encoded = _encoded_header(kid)
    signature = key.sign(encoded.encode("ascii") + b"." + payload)
    return f"{encoded}..{b64url_encode(signature)}"


@functools.lru_cache(maxsize=64)
def _encoded_header(kid: str) -> str:
    """The protected header a signature by ``kid`` carries, encoded (the same every time:
    the hub countersigns every redacted view with its one key)."""
    header = {"alg": ALG, "b64": False, "crit": ["b64"], "kid": kid}
    return b64url_encode(json.dumps(header, separators=(",", ":")).encode())


def parse_detached(jws: str) -> tuple[JwsHeader, bytes]:
    """Parse a detached compact JWS; raises MalformedSignature on any defect of form."""
    if not isinstance(jws, str) or len(jws) > _MAX_SIGNATURE_CHARS:
        raise MalformedSignature("signature is missing or too long")
    parts = jws.strip().split(".")
    if len(parts) != 3 or parts[1] != "":
        raise MalformedSignature("a detached JWS has the form header..signature")
    header = _protected_header(parts[0])
    try:
        signature = b64url_decode(parts[2])
    except ValueError as exc:
        raise MalformedSignature(f"signature does not decode: {exc}") from None
    if len(signature) != 64:
        raise MalformedSignature("an Ed25519 signature is 64 bytes")
    return header, signature


# A point of contact signs every message with the same few protected headers, so the
# decoded form of each is kept (a refused header raises, and is not kept). Bounded: a
# sender making up a new header per message only pushes older ones out.
@functools.lru_cache(maxsize=256)
def _protected_header(encoded: str) -> JwsHeader:
    try:
        header: Any = json.loads(b64url_decode(encoded))
    except (ValueError, UnicodeDecodeError, RecursionError) as exc:
        raise MalformedSignature(f"signature does not decode: {exc}") from None
    if not isinstance(header, dict):
        raise MalformedSignature("JWS protected header is not a JSON object")
    alg, kid = header.get("alg"), header.get("kid")
    if alg not in ACCEPTED_ALGS:
        raise MalformedSignature(f"JWS alg {alg!r} is not accepted; use {ALG!r}")
    if not isinstance(kid, str) or not kid:
        raise MalformedSignature("JWS header has no kid")
    if header.get("b64") is not False or header.get("crit") != ["b64"]:
        raise MalformedSignature('JWS header must carry "b64": false and "crit": ["b64"]')
    return JwsHeader(alg=alg, kid=kid, encoded=encoded)


def verify_detached(payload: bytes, jws: str, key: Ed25519PublicKey) -> JwsHeader:
    """Check ``jws`` over ``payload`` with ``key``.

    Args:
        payload: the exact signed bytes.
        jws: the detached JWS.
        key: the public key the signature must be by.

    Returns:
        The JWS's protected header.

    Raises:
        MalformedSignature: the JWS is not a detached Ed25519 JWS of ours.
        BadSignature: it does not match ``payload`` under ``key`` (``kid`` as named).
    """
    header, signature = parse_detached(jws)
    verify_parsed(payload, header, signature, key)
    return header


def verify_parsed(
    payload: bytes, header: JwsHeader, signature: bytes, key: Ed25519PublicKey
) -> None:
    """Check a JWS already parsed by :func:`parse_detached` (whose header named the key).

    Args:
        payload: the exact signed bytes.
        header: the JWS's protected header.
        signature: its signature bytes.
        key: the public key the signature must be by.

    Raises:
        BadSignature: it does not match ``payload`` under ``key`` (``kid`` as named).
    """
    if len(signature) == _SIGNATURE_BYTES:
        signed = signature + header.encoded.encode("ascii") + b"." + payload
        try:  # libsodium's signed message: the signature, then what it signs
            nacl.bindings.crypto_sign_open(signed, key.public_bytes_raw())
        except nacl.exceptions.BadSignatureError:
            pass
        else:
            return
    raise BadSignature(f"signature by {header.kid!r} does not match the message", kid=header.kid)


def jwk_from_public_key(key: Ed25519PublicKey) -> dict[str, str]:
    """The public key as a JWK (RFC 8037, kty OKP, crv Ed25519)."""
    raw = key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return {"kty": "OKP", "crv": "Ed25519", "x": b64url_encode(raw)}


def public_key_from_jwk(jwk: dict[str, Any]) -> Ed25519PublicKey:
    """Load an OKP/Ed25519 JWK; raises ValueError when it is anything else."""
    if jwk.get("kty") != "OKP" or jwk.get("crv") != "Ed25519":
        raise ValueError("key must be a JWK with kty OKP and crv Ed25519")
    if "d" in jwk:
        raise ValueError("a public JWK must not carry the private part 'd'")
    x = jwk.get("x")
    if not isinstance(x, str):
        raise ValueError("JWK has no 'x'")
    raw = b64url_decode(x)
    if len(raw) != 32:
        raise ValueError("an Ed25519 public key is 32 bytes")
    return Ed25519PublicKey.from_public_bytes(raw)


def private_key_pem(key: Ed25519PrivateKey) -> bytes:
    """The private key as unencrypted PKCS#8 PEM (files 0600 keep it private)."""
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def load_private_key(pem: bytes) -> Ed25519PrivateKey:
    """Read an unencrypted PKCS#8 PEM Ed25519 private key.

    Raises:
        ValueError: the bytes are not PEM, or not an Ed25519 key.
    """
    key = serialization.load_pem_private_key(pem, password=None)
    if not isinstance(key, Ed25519PrivateKey):
        raise ValueError("not an Ed25519 private key")
    return key
