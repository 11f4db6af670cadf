"""Country and currency codes: one set lookup that says what pycountry's lookup said."""

from __future__ import annotations

import re

import pycountry
import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import TypeAdapter, ValidationError

from schemas.common import CountryCode, Currency, is_country, is_currency

_UPPER = st.text(alphabet="ABCDEFGHIJKLMNOPQRSTUVWXYZ", min_size=2, max_size=3)


def _pycountry_country(code: str) -> bool:
    # The check before the set: pattern, then pycountry's (case-insensitive) lookup.
    return (
        bool(re.fullmatch(r"[A-Z]{2}", code)) and pycountry.countries.get(alpha_2=code) is not None
    )


def _pycountry_currency(code: str) -> bool:
    return (
        bool(re.fullmatch(r"[A-Z]{3}", code)) and pycountry.currencies.get(alpha_3=code) is not None
    )


@given(st.one_of(_UPPER, st.text(max_size=4)))
def test_country_codes_are_what_pycountry_says(code: str) -> None:
    assert is_country(code) == _pycountry_country(code)


@given(st.one_of(_UPPER, st.text(max_size=4)))
def test_currency_codes_are_what_pycountry_says(code: str) -> None:
    assert is_currency(code) == _pycountry_currency(code)


@pytest.mark.parametrize("code", ["gt", "Gt", "GTM", "XX", "", " GT", "GT\n", "ＧＴ"])
def test_a_country_code_is_two_upper_case_letters_of_a_country(code: str) -> None:
    assert not is_country(code)
    with pytest.raises(ValidationError, match="ISO 3166-1"):
        TypeAdapter(CountryCode).validate_python(code)


@pytest.mark.parametrize("code", ["usd", "US", "USDX", "XXY", "ＵＳＤ"])
def test_a_currency_code_is_three_upper_case_letters_of_a_currency(code: str) -> None:
    assert not is_currency(code)
    with pytest.raises(ValidationError, match="ISO 4217"):
        TypeAdapter(Currency).validate_python(code)


def test_every_party_and_common_currency_is_known() -> None:
    assert all(is_country(cc) for cc in ("BZ", "CR", "DO", "GT", "HN", "NI", "PA", "SV", "US"))
    assert all(is_currency(c) for c in ("USD", "GTQ", "HNL", "CRC", "EUR"))
