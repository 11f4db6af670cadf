"""Pages from Jinja2 templates, in the request's language, with what every page shows."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, select_autoescape
from starlette.requests import Request
from starlette.responses import HTMLResponse

from hub.console.i18n import LANGUAGES, choose_language, translations
from hub.i18n.reasons import explain

__all__ = ["Renderer"]

_TEMPLATES = Path(__file__).parent / "templates"


class Renderer:
    """One Jinja2 environment (autoescaped, gettext-aware) shared by every request."""

    def __init__(self) -> None:
        self.env = Environment(
            loader=FileSystemLoader(_TEMPLATES),
            autoescape=select_autoescape(("html",)),
            trim_blocks=True,
            lstrip_blocks=True,
        )

    def text(self, request: Request, template: str, **context: Any) -> str:
        """``template`` rendered in the language of ``request``."""
        lang = choose_language(request)
        catalog = translations(lang)
        return self.env.get_template(template).render(
            request=request,
            lang=lang,
            languages=LANGUAGES,
            operator=request.scope.get("state", {}).get("operator"),
            _=catalog.gettext,
            gettext=catalog.gettext,
            ngettext=catalog.ngettext,
            explain=lambda code: explain(code, catalog),
            **context,
        )

    def page(
        self, request: Request, template: str, status_code: int = 200, **context: Any
    ) -> HTMLResponse:
        """The page ``template`` rendered in the request's language.

        Args:
            request: the request (its language, session and CSRF token).
            template: the template's file name.
            status_code: the response's HTTP status.
            **context: the template's variables.
        """
        return HTMLResponse(self.text(request, template, **context), status_code=status_code)
