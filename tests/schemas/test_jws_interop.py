"""Enlace's detached JWS against an independent JOSE library (joserfc), both ways.

A point of contact may sign with any RFC 7515/7797 implementation and a recipient may
check the hub's countersignatures with one: what Enlace signs, joserfc verifies, and what
joserfc signs (``Ed25519`` of RFC 9864 or the legacy ``EdDSA``), Enlace verifies; a
changed byte fails in both; the public key travels as the same JWK.
"""

from __future__ import annotations

import warnings

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from hypothesis import given
from hypothesis import strategies as st
from joserfc import jws as joserfc_jws
from joserfc.errors import BadSignatureError
from joserfc.jwk import OKPKey

from schemas.errors import BadSignature
from schemas.jws import jwk_from_public_key, public_key_from_jwk, sign_detached, verify_detached
from schemas.testing import make_directory, signed_message

KEY = Ed25519PrivateKey.generate()
THEIR_PRIVATE = OKPKey.import_key(
    KEY.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
)


def _their_key(jwk: dict[str, str]) -> OKPKey:
    """joserfc's key from the JWK Enlace writes (the directory's form)."""
    as_given: dict[str, str | list[str]] = dict(jwk)
    return OKPKey.import_key(as_given)


THEIR_PUBLIC = _their_key(jwk_from_public_key(KEY.public_key()))


def _joserfc_signs(payload: bytes, alg: str) -> str:
    header = {"alg": alg, "b64": False, "crit": ["b64"], "kid": "GT-1"}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # joserfc warns that EdDSA is deprecated (RFC 9864)
        attached = joserfc_jws.serialize_compact(header, payload, THEIR_PRIVATE, algorithms=[alg])
    return joserfc_jws.detach_content(attached)


@given(st.binary(max_size=4096))
def test_joserfc_verifies_what_enlace_signs_and_refuses_a_changed_byte(payload: bytes) -> None:
    signature = sign_detached(payload, KEY, "GT-1")
    checked = joserfc_jws.deserialize_compact(
        signature, THEIR_PUBLIC, algorithms=["Ed25519"], payload=payload
    )
    assert checked.headers() == {"alg": "Ed25519", "b64": False, "crit": ["b64"], "kid": "GT-1"}
    with pytest.raises(BadSignatureError):
        joserfc_jws.deserialize_compact(
            signature, THEIR_PUBLIC, algorithms=["Ed25519"], payload=payload + b"."
        )


@pytest.mark.parametrize("alg", ["Ed25519", "EdDSA"])
@given(text=st.text(max_size=2048))
def test_enlace_verifies_what_joserfc_signs_and_refuses_a_changed_byte(alg: str, text: str) -> None:
    payload = text.encode()  # joserfc takes an unencoded payload as UTF-8 text
    signature = _joserfc_signs(payload, alg)
    assert signature.split(".")[1] == ""  # detached
    header = verify_detached(payload, signature, KEY.public_key())
    assert (header.alg, header.kid) == (alg, "GT-1")
    with pytest.raises(BadSignature):
        verify_detached(payload + b" ", signature, KEY.public_key())


def test_a_signed_message_checks_in_joserfc_with_the_jwk_the_directory_publishes() -> None:
    td = make_directory()
    _, raw, signature = signed_message(td)
    kid = td.poc_kid("GT", "gangs")
    record, _ = td.directory.key(kid)
    jwk = _their_key(record.jwk)
    checked = joserfc_jws.deserialize_compact(signature, jwk, algorithms=["Ed25519"], payload=raw)
    assert checked.headers()["kid"] == kid
    with pytest.raises(BadSignatureError):
        joserfc_jws.deserialize_compact(
            signature, jwk, algorithms=["Ed25519"], payload=raw.replace(b"GT", b"SV", 1)
        )


def test_the_jwk_is_the_same_key_on_both_sides() -> None:
    theirs = THEIR_PUBLIC.as_dict(private=False)
    assert public_key_from_jwk(theirs).public_bytes_raw() == KEY.public_key().public_bytes_raw()
    assert {k: theirs[k] for k in ("kty", "crv", "x")} == jwk_from_public_key(KEY.public_key())
