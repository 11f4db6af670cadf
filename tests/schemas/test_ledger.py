"""The ledger's rows: one per party, from the outcome and the receipts kept so far."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from schemas.ledger import Ledger, LedgerReceipt
from schemas.outcomes import Outcome, OutcomeStatus, RecipientView, RefusedRecipient
from schemas.subjects import ledger_filter, ledger_subject, outcome_subject

AT = datetime(2026, 12, 6, 4, 0, tzinfo=UTC)
OUTCOME = Outcome(
    message_id="01JD0000000000000000000000",
    status=OutcomeStatus.PARTIAL,
    at=AT,
    recipients=(
        RecipientView(country="SV", view="full", agreement="gt-sv"),
        RecipientView(country="US", view="no-persons", agreement="gt-us"),
        RecipientView(country="HN", view="full", agreement="gt-hn"),
    ),
    refused=(RefusedRecipient(country="CR", reason="no_agreement"),),
)


def receipt(
    recipient: str, sink: str, status: str = "delivered", reason: str = ""
) -> LedgerReceipt:
    return LedgerReceipt.model_validate(
        {
            "message_id": OUTCOME.message_id,
            "recipient": recipient,
            "sink": sink,
            "view": "full",
            "status": status,
            "reason": reason,
            "receipted_at": AT,
            "recorded_at": AT,
            "receipt_digest": "sha256:" + "0" * 64,
        }
    )


def test_each_party_has_its_row_and_state() -> None:
    ledger = Ledger(
        outcome=OUTCOME,
        receipts=(
            receipt("SV", "jsonl"),
            receipt("US", "postgres"),
            receipt("US", "folder", "dead_lettered", "sink_refused"),
        ),
    )
    rows = {r.country: r for r in ledger.rows()}
    assert {cc: (r.state, r.reason) for cc, r in rows.items()} == {
        "SV": ("delivered", ""),
        "US": ("dead_lettered", "sink_refused"),  # one of its sinks could not write it
        "HN": ("awaiting_receipt", ""),
        "CR": ("not_routed", "no_agreement"),
    }
    assert [r.sink for r in rows["US"].receipts] == ["folder", "postgres"]
    assert rows["US"].view == "no-persons"  # the view the outcome says it was sent


def test_a_ledger_entry_reads_back_what_was_written() -> None:
    entry = receipt("SV", "jsonl")
    assert LedgerReceipt.from_json(entry.to_json()) == entry
    assert b'"receipted_at": "2026-12-06T04:00:00Z"' in entry.to_json()


def test_ledger_subjects_sit_under_the_outcome_and_refuse_odd_tokens() -> None:
    subject = ledger_subject("GT", "01JD", "SV", "jsonl")
    assert subject == f"{outcome_subject('GT', '01JD')}.SV.jsonl"
    assert ledger_filter("GT", "01JD") == f"{outcome_subject('GT', '01JD')}.>"
    for bad in ("a.b", "*", ">", "Folder", ""):
        with pytest.raises(ValueError, match="cannot be a subject token"):
            ledger_subject("GT", "01JD", "SV", bad)
    with pytest.raises(ValueError):
        ledger_subject("GT", "01JD", "sv", "jsonl")
