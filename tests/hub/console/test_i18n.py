"""Spanish and English: every label and every reason code's explanation is translated."""

from __future__ import annotations

import importlib
import re
from pathlib import Path

import pytest
from babel.messages.pofile import read_po
from starlette.requests import HTTPConnection

import hub.console
import hub.i18n
from hub.audit.entries import EntryKind
from hub.console.feed import KIND_GROUPS
from hub.console.i18n import LANG_COOKIE, choose_language, translations
from hub.console.operators import Role
from hub.i18n.reasons import EXPLANATIONS, explain
from hub.policy.decide import REASONS
from schemas.common import Theme
from schemas.errors import EnlaceError

TEMPLATES = Path(hub.console.__file__).parent / "templates"
ERROR_MODULES = [
    "schemas.errors",
    "hub.errors",
    "adapters.errors",
    "hub.audit.errors",
    "hub.policy.errors",
    "hub.console.errors",
    "hub.admin.init",
    "hub.governance.keystore",
    "adapters.client",
]


def _codes() -> set[str]:
    for name in ERROR_MODULES:
        importlib.import_module(name)
    codes, pending = set(), [EnlaceError]
    while pending:
        cls = pending.pop()
        codes.add(cls.code)
        pending.extend(cls.__subclasses__())
    return codes | set(REASONS)


def test_every_reason_code_has_an_explanation_in_english_and_spanish() -> None:
    spanish = translations("es")
    missing = sorted(_codes() - set(EXPLANATIONS))
    assert missing == []
    untranslated = [c for c, text in EXPLANATIONS.items() if spanish.gettext(text) == text]
    assert untranslated == []
    assert explain("no_agreement") == REASONS["no_agreement"]
    assert explain("bad_signature", spanish) == "la firma no corresponde al mensaje"
    assert explain("not_a_code") == "not_a_code"


def test_every_label_of_every_template_is_translated() -> None:
    spanish = translations("es")
    labels = set()
    for template in TEMPLATES.glob("*.html"):
        labels |= set(re.findall(r"""_\(["']([^"']+)["']\)""", template.read_text()))
    assert len(labels) > 30
    # Labels the templates translate from values: kinds, filters, decisions, roles, themes.
    labels |= {k.value for k in EntryKind} | set(KIND_GROUPS) | {r.value for r in Role}
    labels |= {"sender", "routed", "not_routed", "unknown"} | {t.value for t in Theme}
    labels |= {"ok", "never started"}  # a sink's state on the Adapters page
    with (Path(hub.i18n.__file__).parent / "locale/es/LC_MESSAGES/console.po").open("rb") as po:
        catalog = read_po(po)
    translated = {m.id for m in catalog if m.id and m.string}
    assert sorted(labels - translated) == []
    assert spanish.gettext("Live audit tail") == "Auditoría en vivo"


def _conn(headers: dict[str, str]) -> HTTPConnection:
    raw = [(k.lower().encode(), v.encode()) for k, v in headers.items()]
    return HTTPConnection({"type": "http", "headers": raw})


@pytest.mark.parametrize(
    ("headers", "lang"),
    [
        ({}, "en"),
        ({"Accept-Language": "es-GT,es;q=0.9,en;q=0.8"}, "es"),
        ({"Accept-Language": "fr, en;q=0.5, es;q=0.7"}, "es"),
        ({"Accept-Language": "de"}, "en"),
        ({"Accept-Language": "es", "Cookie": f"{LANG_COOKIE}=en"}, "en"),
        ({"Cookie": f"{LANG_COOKIE}=es"}, "es"),
        ({"Accept-Language": "en", "Cookie": f"{LANG_COOKIE}=xx"}, "en"),
    ],
)
def test_language_from_the_cookie_else_accept_language(headers: dict[str, str], lang: str) -> None:
    assert choose_language(_conn(headers)) == lang
