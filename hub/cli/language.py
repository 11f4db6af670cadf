"""The language of the CLI's text for people: ``--lang``, else ``ENLACE_LANG``, else ``LANG``.

Reason explanations come from the console's catalog (:mod:`hub.i18n`): one text per
reason code, in Spanish and English, wherever it is shown.
"""

from __future__ import annotations

from collections.abc import Callable

import click

from hub.i18n import LANGUAGES, language_of_environment, translations
from hub.i18n.reasons import explain

__all__ = ["explainer", "lang_option"]

lang_option = click.option(
    "--lang",
    envvar="ENLACE_LANG",
    type=click.Choice(sorted(LANGUAGES)),
    default=None,
    help="Language of the explanations (env ENLACE_LANG; else LC_ALL/LC_MESSAGES/LANG; else en).",
)


def explainer(lang: str | None) -> Callable[[str | None], str]:
    """What a reason code means, in ``lang`` (or the environment's language)."""
    catalog = translations(language_of_environment(lang))
    return lambda code: explain(code, catalog)
