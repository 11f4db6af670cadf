"""The languages of text people read: gettext catalogs (``locale/<lang>/LC_MESSAGES/console.po``).

The console's labels and every reason code's explanation (:mod:`hub.i18n.reasons`) are
in one catalog, shared by the console and the CLI (which must not import the web stack
to explain a reason). The ``.po`` sources are the catalogs: they are compiled in memory
on first use (Babel), so a fresh clone needs no build step and no ``.mo`` is committed.
English is the source language (msgids).
"""

from __future__ import annotations

import gettext
import io
import os
from functools import cache
from pathlib import Path

from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po

__all__ = ["DEFAULT", "LANGUAGES", "language_of_environment", "translations"]

LANGUAGES: dict[str, str] = {"en": "English", "es": "Español"}
DEFAULT = "en"
_LOCALE_DIR = Path(__file__).parent / "locale"


@cache
def translations(lang: str) -> gettext.NullTranslations:
    """The catalog of ``lang`` (English: the msgids themselves), compiled once."""
    po = _LOCALE_DIR / lang / "LC_MESSAGES" / "console.po"
    if lang == DEFAULT or not po.is_file():
        return gettext.NullTranslations()
    with po.open("rb") as source:
        catalog = read_po(source, locale=lang)
    compiled = io.BytesIO()
    write_mo(compiled, catalog)
    compiled.seek(0)
    return gettext.GNUTranslations(compiled)


def language_of_environment(flag: str | None = None) -> str:
    """``flag`` when given, else the language of ``LC_ALL`` / ``LC_MESSAGES`` / ``LANG``
    when it is one we have (``es_GT.UTF-8`` → ``es``), else English."""
    if flag:
        return flag if flag in LANGUAGES else DEFAULT
    for name in ("LC_ALL", "LC_MESSAGES", "LANG"):
        value = os.environ.get(name, "")
        if value:
            primary = value.split(".")[0].split("_")[0].lower()
            return primary if primary in LANGUAGES else DEFAULT
    return DEFAULT
