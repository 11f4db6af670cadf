from __future__ import annotations

import pytest
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from hypothesis import given, settings
from hypothesis import strategies as st

from schemas.errors import BadSignature, MalformedSignature
from schemas.jws import (
    b64url_decode,
    b64url_encode,
    jwk_from_public_key,
    parse_detached,
    public_key_from_jwk,
    sign_detached,
    verify_detached,
    verify_parsed,
)


def test_sign_then_verify_exact_bytes() -> None:
    key = Ed25519PrivateKey.generate()
    jws = sign_detached(b'{"a": 1}', key, "k1")
    header = verify_detached(b'{"a": 1}', jws, key.public_key())
    assert header.kid == "k1"
    assert header.alg == "Ed25519"
    assert jws.split(".")[1] == ""  # detached


def test_one_changed_byte_fails() -> None:
    key = Ed25519PrivateKey.generate()
    jws = sign_detached(b'{"a": 1}', key, "k1")
    with pytest.raises(BadSignature):
        verify_detached(b'{"a": 2}', jws, key.public_key())


def test_legacy_eddsa_alg_is_accepted() -> None:
    key = Ed25519PrivateKey.generate()
    header = b64url_encode(b'{"alg":"EdDSA","b64":false,"crit":["b64"],"kid":"k1"}')
    sig = key.sign(header.encode() + b"." + b"msg")
    verify_detached(b"msg", f"{header}..{b64url_encode(sig)}", key.public_key())


@pytest.mark.parametrize(
    "header",
    [
        b'{"alg":"HS256","b64":false,"crit":["b64"],"kid":"k1"}',
        b'{"alg":"Ed25519","kid":"k1"}',  # encoded payload is not what Enlace signs
        b'{"alg":"Ed25519","b64":false,"crit":["b64"]}',
        b"[]",
    ],
)
def test_wrong_headers_are_malformed(header: bytes) -> None:
    key = Ed25519PrivateKey.generate()
    encoded = b64url_encode(header)
    sig = key.sign(encoded.encode() + b".msg")
    with pytest.raises(MalformedSignature):
        verify_detached(b"msg", f"{encoded}..{b64url_encode(sig)}", key.public_key())


@pytest.mark.parametrize("jws", ["", "a.b.c", "abc", "!!..!!", "e30..AAAA"])
def test_garbage_is_malformed(jws: str) -> None:
    with pytest.raises(MalformedSignature):
        verify_detached(b"msg", jws, Ed25519PrivateKey.generate().public_key())


def test_jwk_round_trip() -> None:
    public = Ed25519PrivateKey.generate().public_key()
    jwk = jwk_from_public_key(public)
    assert public_key_from_jwk(jwk) == public
    with pytest.raises(ValueError, match="OKP"):
        public_key_from_jwk({"kty": "EC", "crv": "P-256", "x": jwk["x"]})
    with pytest.raises(ValueError, match="base64url"):
        b64url_decode("a+b/")


def test_a_parsed_jws_verifies_once_parsed_and_refuses_other_bytes() -> None:
    key = Ed25519PrivateKey.generate()
    jws = sign_detached(b"msg", key, "k1")
    header, signature = parse_detached(jws)
    verify_parsed(b"msg", header, signature, key.public_key())
    with pytest.raises(BadSignature, match="k1"):
        verify_parsed(b"msh", header, signature, key.public_key())
    with pytest.raises(BadSignature):
        verify_parsed(b"msg", header, signature, Ed25519PrivateKey.generate().public_key())


def test_the_kept_headers_never_mix_two_headers_up() -> None:
    # The decoded protected headers are kept by their encoded text: each still says its
    # own kid and alg, and a refused header is refused every time it comes back.
    key = Ed25519PrivateKey.generate()
    for _ in range(3):
        assert parse_detached(sign_detached(b"m", key, "k1"))[0].kid == "k1"
        assert parse_detached(sign_detached(b"m", key, "k2"))[0].kid == "k2"
        legacy = b64url_encode(b'{"alg":"EdDSA","b64":false,"crit":["b64"],"kid":"k1"}')
        assert parse_detached(f"{legacy}..{b64url_encode(bytes(64))}")[0].alg == "EdDSA"
        bad = b64url_encode(b'{"alg":"none","b64":false,"crit":["b64"],"kid":"k1"}')
        with pytest.raises(MalformedSignature, match="none"):
            parse_detached(f"{bad}..{b64url_encode(bytes(64))}")


@given(st.text(max_size=200), st.binary(max_size=80))
def test_any_header_and_signature_either_parse_or_are_malformed(
    header: str, signature: bytes
) -> None:
    for encoded in (header, b64url_encode(header.encode())):
        try:
            parsed, sig = parse_detached(f"{encoded}..{b64url_encode(signature)}")
        except MalformedSignature:
            continue
        assert parsed.alg in ("Ed25519", "EdDSA") and parsed.kid and len(sig) == 64


_KEYS = [Ed25519PrivateKey.generate() for _ in range(3)]


def _openssl_accepts(key: Ed25519PrivateKey, signature: bytes, signed: bytes) -> bool:
    try:
        key.public_key().verify(signature, signed)
    except InvalidSignature:
        return False
    return True


@settings(max_examples=300, deadline=None)
@given(
    st.binary(max_size=3000),
    st.sampled_from(range(len(_KEYS))),
    st.sampled_from(range(len(_KEYS))),
    st.sampled_from(["none", "flip", "cut", "grow", "zero"]),
    st.integers(min_value=0),
)
def test_libsodium_agrees_with_openssl_on_cryptographys_signatures(
    payload: bytes, signer: int, checker: int, change: str, where: int
) -> None:
    """verify_parsed (libsodium) accepts exactly what cryptography's verify (OpenSSL)
    accepts, for signatures cryptography made: honest, by another key, or altered."""
    jws = sign_detached(payload, _KEYS[signer], "k1")
    header, signature = parse_detached(jws)
    at = where % len(signature)
    signature = {
        "none": signature,
        "flip": signature[:at] + bytes([signature[at] ^ 1]) + signature[at + 1 :],
        "cut": signature[:at],
        "grow": signature + b"\x00",
        "zero": bytes(64),
    }[change]
    signed = header.encoded.encode("ascii") + b"." + payload
    expected = _openssl_accepts(_KEYS[checker], signature, signed)
    assert expected == (change == "none" and signer == checker)
    try:
        verify_parsed(payload, header, signature, _KEYS[checker].public_key())
    except BadSignature:
        assert not expected
    else:
        assert expected
