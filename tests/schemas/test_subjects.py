"""Reading subjects and writing header values: the one grammar the hub and adapters share."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from schemas.subjects import (
    UNKNOWN_COUNTRY,
    delivery_filter,
    delivery_msg_id,
    delivery_subject,
    header_line,
    is_delivery_to,
    receipt_country,
    receipt_subject,
)


@pytest.mark.parametrize(
    ("subject", "country"),
    [
        ("enlace.receipt.GT", "GT"),
        ("enlace.receipt.gt", None),
        ("enlace.receipt.GTM", None),
        ("enlace.receipt.GT.x", None),
        ("enlace.rejected.GT", None),
        ("other.receipt.GT", None),
        ("enlace.receipt.", None),
    ],
)
def test_a_receipt_subject_names_one_country(subject: str, country: str | None) -> None:
    assert receipt_country(subject) == country


def test_receipt_subjects_read_back() -> None:
    assert receipt_country(receipt_subject("HN")) == "HN"


def test_a_delivery_is_to_the_country_of_its_subject_only() -> None:
    subject = delivery_subject("US", "gangs", "seizure")
    assert is_delivery_to(subject, "US")
    assert not is_delivery_to(subject, "SV")
    assert not is_delivery_to("enlace.out.USA.gangs.seizure", "US")
    assert delivery_filter("US").removesuffix(">") in subject


def test_a_delivery_id_names_the_message_and_its_recipient() -> None:
    assert delivery_msg_id("01JB6X1Q8Y6Z3N4M5P7R8S9T0W", "SV") == "01JB6X1Q8Y6Z3N4M5P7R8S9T0W:SV"


def test_the_unknown_country_is_a_country_token_of_no_party() -> None:
    assert UNKNOWN_COUNTRY == "XX"


@given(st.text(max_size=300), st.integers(min_value=0, max_value=200))
def test_a_header_line_is_one_line_within_its_limit(text: str, limit: int) -> None:
    line = header_line(text, limit)
    assert len(line) <= limit
    assert "\n" not in line and "\r" not in line
    assert line == line.strip() or len(line) == limit


def test_a_header_line_keeps_the_words() -> None:
    assert header_line("bad\r\nsignature:\t forged  ", 100) == "bad signature: forged"
