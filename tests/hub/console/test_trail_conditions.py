"""The trail shows the sender's handling conditions, in English and Spanish."""

from __future__ import annotations

import pytest
from starlette.requests import Request

from hub.audit import kinds
from hub.audit.entries import parse_entry
from hub.console.render import Renderer
from hub.console.trail import build_trail
from schemas.handling import Conditions, condition_names
from tests.hub.audit.entrykit import DIGEST, received_m1

PARTIES = [("GT", "Guatemala"), ("SV", "El Salvador")]


def page(lang: str, *conditions: str) -> str:
    entries = [received_m1(*conditions), kinds.routed("M1", "SV", "a", "f", "full", DIGEST)]
    headers = [(b"accept-language", lang.encode())]
    request = Request({"type": "http", "method": "GET", "path": "/trail/M1", "headers": headers})
    return Renderer().text(
        request, "trail.html", trail=build_trail("M1", entries, PARTIES), covered=0
    )


def test_condition_names_hold_no_words_of_the_note() -> None:
    assert condition_names(None) == ()
    assert condition_names(Conditions()) == ()
    secret = "operación Tormenta: informante en la frontera"
    names = condition_names(Conditions(no_onward=True, note=secret))
    assert names == ("no_onward", "note")
    entry = received_m1(*names)
    assert secret not in entry.canonical().decode()
    assert parse_entry(entry.canonical()).conditions == ("no_onward", "note")


def test_an_entry_without_conditions_keeps_its_old_bytes() -> None:
    assert b"conditions" not in received_m1().canonical()


@pytest.mark.parametrize(
    ("lang", "words"),
    [
        ("en", ["Handling conditions", "no onward", "not for court", "in the words of the sender"]),
        (
            "es",
            [
                "Condiciones de manejo",
                "no retransmitir",
                "no para tribunales",
                "palabras del remitente",
            ],
        ),
    ],
)
def test_the_trail_shows_the_conditions(lang: str, words: list[str]) -> None:
    html = page(lang, "no_onward", "not_for_court", "note")
    assert 'id="trail-conditions"' in html
    for word in words:
        assert word in html


def test_no_conditions_no_line() -> None:
    assert 'id="trail-conditions"' not in page("en")
