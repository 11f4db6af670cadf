"""The console's languages: gettext catalogs (``locale/<lang>/LC_MESSAGES/console.po``).

The ``.po`` sources are the catalogs: they are compiled in memory when the console
starts (Babel), so a fresh clone needs no build step and no ``.mo`` is committed.
English is the source language (msgids); a language is chosen by the ``enlace_lang``
cookie (set by the switch on every page), else the request's ``Accept-Language``.
"""

from __future__ import annotations

import gettext
import io
from functools import cache
from pathlib import Path

from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from starlette.requests import HTTPConnection

__all__ = ["DEFAULT", "LANGUAGES", "LANG_COOKIE", "choose_language", "translations"]

LANGUAGES: dict[str, str] = {"en": "English", "es": "Español"}
DEFAULT = "en"
LANG_COOKIE = "enlace_lang"
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


def choose_language(conn: HTTPConnection) -> str:
    """The cookie's language if it is one we have, else the best of ``Accept-Language``."""
    chosen = conn.cookies.get(LANG_COOKIE, "")
    if chosen in LANGUAGES:
        return chosen
    weighted: list[tuple[float, str]] = []
    for part in conn.headers.get("accept-language", "").split(","):
        tag, _, params = part.strip().partition(";")
        quality = 1.0
        if params.strip().startswith("q="):
            try:
                quality = float(params.strip()[2:])
            except ValueError:
                quality = 0.0
        primary = tag.strip().lower().split("-")[0]
        if primary in LANGUAGES and quality > 0:
            weighted.append((quality, primary))
    # Stable sort: among equal weights the header's order wins, as RFC 9110 intends.
    weighted.sort(key=lambda pair: -pair[0])
    return weighted[0][1] if weighted else DEFAULT
