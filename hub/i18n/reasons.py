"""Plain-language explanations of reason codes, in English (the gettext msgids).

Every reason code a decision may carry is here: the error classes' ``code`` of the
``schemas``, ``hub`` and ``adapters`` packages, and the routing reasons of
:data:`hub.policy.decide.REASONS`. The console and the CLI translate them through
the same catalog (:mod:`hub.i18n`, ``locale/es/LC_MESSAGES/console.po``).
"""

from __future__ import annotations

import gettext

from hub.policy.decide import REASONS as ROUTING_REASONS

__all__ = ["EXPLANATIONS", "explain"]

EXPLANATIONS: dict[str, str] = {
    "amend_closed": "the message named was corrected since or withdrawn; amend its latest version",
    "amend_mismatch": "a correction keeps the original's theme and type",
    "amend_not_sender": "only the original sender's country may correct or retract a message",
    "amend_refused": "the correction or retraction cannot be routed",
    "amend_unknown": "the message to correct or retract is unknown to the hub",
    "adapter_config": "the adapter's settings are wrong",
    "adapter_error": "an adapter failed",
    "audit_checkpoint": "a signed checkpoint of the audit log is invalid",
    "audit_entry_invalid": "an audit entry is not well formed",
    "audit_error": "the audit log could not be used",
    "audit_export": "an audit export file is invalid",
    "audit_log_corrupt": "the audit log is corrupt: an entry was changed or removed",
    "audit_proof": "an inclusion proof does not hold",
    "audit_store": "the audit stream could not be read or written",
    "audit_stream_weakened": "the audit stream's protections were weakened",
    "audit_tree_state": "the audit writer's stored state does not match the log",
    "bad_signature": "the signature does not match the message",
    "bad_token": "the gateway token is wrong",
    "config_invalid": "a setting is wrong",
    "console_bind_refused": "the console may listen only on loopback until it serves TLS",
    "console_error": "the console failed",
    "consumer_tampered": "one of the hub's consumers was changed beyond repair",
    "delivery_error": "a delivery could not be read or trusted; it was not written",
    "duplicate": "a message with this id was already accepted (a replay)",
    "duplicate_key": "a key appears twice in a JSON object",
    "error": "an error",
    "gateway_refused": "the gateway refused the request",
    "governance_bad_signature": "a governance file's signature does not hold",
    "governance_error": "a governance file was refused",
    "governance_invalid": "a governance file is not valid",
    "governance_stale_version": "a governance file is older than the accepted one",
    "governance_unsigned": "a governance file lacks a party's signature",
    "hub_error": "the hub failed on this message repeatedly; it was quarantined",
    "hub_refused": "the hub refused the message",
    "ingress_full": "the sender's ingress quota is full; try again later",
    "init_refused": "the deployment could not be created",
    "invalid_envelope": "the envelope's fields are missing or wrong",
    "invalid_message": "the message is not valid",
    "issued_in_future": "issued later than the allowed clock skew",
    "key_expired": "the signing key has expired",
    "key_not_yet_valid": "the signing key is not valid yet",
    "key_revoked": "the signing key was revoked",
    "keystore": "a private key file could not be used",
    "malformed_delivery": "a delivery is not well formed",
    "malformed_json": "the message is not valid JSON",
    "malformed_signature": "the signature header is missing or malformed",
    "nats_server": "the NATS server could not start or stop",
    "nats_unreachable": "the NATS server could not be reached",
    "onward_not_allowed": "it derives from a message its sender marked no_onward, and carries "
    "no valid consent of that sender to pass it on",
    "operator_exists": "an operator of this name exists",
    "operator_invalid": "an operator account was refused",
    "operator_unknown": "no operator of this name",
    "operators_file_invalid": "the operators file cannot be read",
    "outcome_not_permitted": "only the sender country's own login may read its outcomes",
    "outcome_timeout": "the hub's outcome did not arrive in time; the message may still be handled",
    "party_kit_refused": "the party kit could not be made",
    "policy_error": "a sharing agreement could not be applied",
    "publish_forbidden": "the NATS server does not let this login publish there; a country "
    "publishes only as itself",
    "receipt_batch_invalid": "a sink's batch of receipts could not be unpacked; none of it "
    "was recorded",
    "receipt_batch_too_large": "a sink's batch carried more receipts than one message may",
    "receipt_conflict": "a dead-letter receipt came after a delivered one",
    "receipt_mismatch": "the receipt does not match the delivery it names",
    "receipt_refused": "a sink's receipt was not put on the record",
    "receipt_unchecked": "the receipt names no delivery the hub still holds",
    "receipt_unknown_sink": "the receipt comes from a sink not configured for its country",
    "redaction_failed": "the redacted view could not be made",
    "refused": "the message was refused",
    "retries_exhausted": "the sink kept failing; the delivery went to dead letters",
    "schema_invalid": "the payload does not match the schema of its type",
    "sender_mismatch": "the signing key does not belong to the named sender",
    "server_events_unheard": "the NATS server sends the hub no events: size refusals go unrecorded",
    "signature_error": "the signature does not hold",
    "signing_key_missing": "the adapter has no key to sign receipts",
    "sink_error": "the sink could not write the delivery",
    "sink_outage": "the sink's disk or folder refuses every write; retried until it recovers",
    "sink_refused": "the national system refused the delivery for good",
    "sink_unavailable": "the national system is unavailable for now",
    "streams_missing": "the hub's streams do not exist yet; is the hub running?",
    "subject_mismatch": "the subject does not match the sender, theme or type in the message",
    "tampered_delivery": "a delivery failed its countersignature check",
    "theme_not_allowed": "the sender's point of contact may not publish on this theme",
    "tlog_invalid": "a signed note, cosignature or log proof does not hold",
    "too_large": "the message is larger than the limit",
    "too_old": "issued before the acceptance window",
    "undeliverable": "accepted, but no agreement lets it reach anyone",
    "unknown_key": "the signing key is not in the directory",
    "unknown_sink": "no sink of this name is installed",
    "unknown_type": "the message type or version is unknown",
    "up_busy": "enlace up already runs for this deployment, or its leftovers do",
    "viewing_refused": "the hub did not record the viewing, so the bytes are not shown",
    "witness_conflict": "the hub proved from another size than the one the witness cosigned last",
    "witness_fork": (
        "the hub's log does not extend the one the witness cosigned: forked or rewritten"
    ),
    "witness_malformed": "the witness was sent something that is not a checkpoint with its proof",
    "witness_refused": "a party's witness refused to cosign the audit log's checkpoint",
    "witness_rollback": (
        "the hub's log is smaller than one the witness already cosigned: rolled back"
    ),
    "witness_unknown_log": "the checkpoint is of another log than the one the witness follows",
    "witness_unsigned": "the checkpoint is not signed by a hub key the witness knows",
    **ROUTING_REASONS,
}
"""Reason code → what it means, for people (English)."""


def explain(code: str | None, catalog: gettext.NullTranslations | None = None) -> str:
    """What ``code`` means in the catalog's language ("" for no code, the code if unknown)."""
    if not code:
        return ""
    text = EXPLANATIONS.get(code)
    if text is None:
        return code
    return catalog.gettext(text) if catalog is not None else text
