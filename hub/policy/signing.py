"""Signing an agreement file with a party's commission key (the consensus of DESIGN.md)."""

from __future__ import annotations

from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from hub.policy.loader import validate_agreement
from hub.policy.model import Agreement
from schemas.govdoc import dump_yaml, load_document

__all__ = ["sign_agreement_file"]


def sign_agreement_file(path: Path, party: str, kid: str, key: Ed25519PrivateKey) -> Agreement:
    """Add (or replace) ``party``'s signature on the agreement at ``path``, in place.

    The file is validated first: nobody signs a text that would not load. Other parties'
    signatures are kept; they stay valid only if the text did not change since they signed.

    Args:
        path: the agreement's YAML file.
        party: the party signing.
        kid: the id of its commission key.
        key: that key.

    Returns:
        The agreement signed.

    Raises:
        GovernanceFileError: the file is malformed, or ``party`` is not one of its parties.
    """
    doc = load_document(path)
    agreement = validate_agreement(doc)
    if party not in agreement.parties:
        raise doc.error(
            f"{party} is not a party of agreement {agreement.id!r}; only its parties sign it",
            ("parties",),
        )
    dump_yaml(doc.with_signature(party, kid, key), path)
    return agreement
