"""The console's front-end files are the registry's bytes, and the pages load nothing else."""

from __future__ import annotations

import base64
import hashlib
import json
import re
from pathlib import Path

import hub.console

CONSOLE = Path(hub.console.__file__).parent
VENDOR = CONSOLE / "static" / "vendor"


def test_every_vendored_file_matches_its_recorded_integrity() -> None:
    listing = json.loads((VENDOR / "vendored.json").read_text())["files"]
    assert {row["package"] for row in listing} == {"htmx.org", "htmx-ext-sse", "uplot"}
    for row in listing:
        digest = hashlib.sha384((VENDOR / row["file"]).read_bytes()).digest()
        assert row["integrity"] == "sha384-" + base64.b64encode(digest).decode(), row["file"]
        assert row["tarball_integrity"].startswith("sha512-")
        assert re.fullmatch(r"\d+\.\d+\.\d+", row["version"])
    uplot = next(r for r in listing if r["package"] == "uplot")
    assert uplot["version"] == "1.6.32"


def test_no_file_is_vendored_without_being_listed() -> None:
    listed = {row["file"] for row in json.loads((VENDOR / "vendored.json").read_text())["files"]}
    shipped = {p.name for p in VENDOR.iterdir() if p.suffix in (".js", ".css")}
    assert shipped == listed


def test_templates_load_only_from_the_consoles_own_origin_and_have_no_inline_code() -> None:
    for template in (CONSOLE / "templates").glob("*.html"):
        text = template.read_text()
        assert not re.search(r"(src|href)=\"(https?:)?//", text), template.name
        assert "<style" not in text and " style=" not in text, template.name
        # Every <script> has a src: CSP forbids inline scripts and so do we.
        for tag in re.findall(r"<script[^>]*>", text):
            assert "src=" in tag, (template.name, tag)
        assert not re.search(r"\son[a-z]+=", text), template.name  # no inline handlers
