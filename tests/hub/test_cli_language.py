"""The CLI explains reason codes from the console's one catalog, in the operator's language."""

from __future__ import annotations

import pytest

from hub.cli.language import explainer
from hub.i18n import language_of_environment, translations
from hub.i18n.reasons import EXPLANATIONS, explain


@pytest.mark.parametrize(
    ("env", "flag", "lang"),
    [
        ({}, None, "en"),
        ({"LANG": "es_GT.UTF-8"}, None, "es"),
        ({"LANG": "es_GT.UTF-8", "LC_ALL": "en_US.UTF-8"}, None, "en"),
        ({"LANG": "fr_FR.UTF-8"}, None, "en"),
        ({"LANG": "C.UTF-8"}, None, "en"),
        ({"LANG": "en_US.UTF-8"}, "es", "es"),
        ({}, "xx", "en"),
    ],
)
def test_language_from_the_flag_else_the_locale(
    monkeypatch: pytest.MonkeyPatch, env: dict[str, str], flag: str | None, lang: str
) -> None:
    for name in ("LC_ALL", "LC_MESSAGES", "LANG"):
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    assert language_of_environment(flag) == lang


def test_the_cli_and_the_console_say_the_same_for_every_code() -> None:
    spanish, english = explainer("es"), explainer("en")
    for code in EXPLANATIONS:
        assert spanish(code) == explain(code, translations("es"))
        assert english(code) == EXPLANATIONS[code]
        assert spanish(code) != english(code), code
    assert spanish("bad_signature") == "la firma no corresponde al mensaje"
    assert english(None) == "" and english("not_a_code") == "not_a_code"
