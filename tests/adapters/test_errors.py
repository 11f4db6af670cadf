"""Adapter errors carry their context as attributes, beside the sentence."""

from __future__ import annotations

from adapters.errors import AdapterError, OutcomeTimeout, TamperedDelivery, reason_of


def test_an_outcome_timeout_names_the_message_where_it_waits() -> None:
    err = OutcomeTimeout("01J0", "enlace.in.GT.gangs.gang_movement", 7, 2.5)
    assert isinstance(err, AdapterError) and isinstance(err, TimeoutError)
    assert (err.message_id, err.subject, err.stream_seq, err.wait_seconds) == (
        "01J0",
        "enlace.in.GT.gangs.gang_movement",
        7,
        2.5,
    )
    assert str(err) == (
        "outcome_timeout: message 01J0 is in INGRESS (seq 7) but the hub gave no outcome "
        "within 2.5 s; is `enlace up` running? (`enlace status` shows pending messages)"
    )


def test_a_tampered_delivery_reports_the_signature_errors_reason() -> None:
    err = TamperedDelivery("bad", reason="bad_signature", message_id="01J0")
    assert (reason_of(err), err.code, err.message_id, err.subject) == (
        "bad_signature",
        "tampered_delivery",
        "01J0",
        None,
    )
