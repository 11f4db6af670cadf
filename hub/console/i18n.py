"""The console's language choice: the ``enlace_lang`` cookie (set by the switch on every
page), else the request's ``Accept-Language``. The catalogs are :mod:`hub.i18n`'s.
"""

from __future__ import annotations

from starlette.requests import HTTPConnection

from hub.i18n import DEFAULT, LANGUAGES, translations

__all__ = ["DEFAULT", "LANGUAGES", "LANG_COOKIE", "choose_language", "translations"]

LANG_COOKIE = "enlace_lang"


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
