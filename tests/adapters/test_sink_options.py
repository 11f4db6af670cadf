"""``enlace adapter sinks`` and the README's table: read off the sinks' option models."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner
from standardwebhooks import Webhook

from adapters.sink_options import installed_sinks, readme_table
from adapters.sinks.postgres import PostgresOptions
from adapters.sinks.webhook import WebhookOptions
from hub.cli import cli

README = Path(__file__).resolve().parents[2] / "README.md"


def invoke(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(cli, list(args), catch_exceptions=False)
    return result.exit_code, result.stdout


def test_sinks_lists_every_installed_sink_with_the_options_it_accepts() -> None:
    code, out = invoke("adapter", "sinks", "--json")
    assert code == 0
    sinks = {s["sink"]: s for s in json.loads(out)}
    assert {"folder", "jsonl", "webhook", "postgres"} <= set(sinks)
    webhook = {o["name"]: o for o in sinks["webhook"]["options"]}
    assert list(webhook) == list(WebhookOptions.model_fields)
    assert webhook["url"]["required"] is True
    assert "Standard Webhooks secret" in webhook["signing_secret_env"]["description"]
    table = {o["name"]: o for o in sinks["postgres"]["options"]}
    assert list(table) == list(PostgresOptions.model_fields)
    assert table["table"]["default"] == "enlace_deliveries"
    assert sinks["folder"]["entry_point"] == "adapters.sinks.folder:FolderSink"


def test_sinks_human_output_names_each_option() -> None:
    code, out = invoke("adapter", "sinks")
    assert code == 0
    assert "webhook (adapters.sinks.webhook:WebhookSink)" in out
    assert "  url: URL, required. the national system's intake endpoint (POST)" in out
    assert "  timeout: number, default 10.0. seconds for the whole request" in out


def test_the_readme_lists_the_options_the_sinks_accept() -> None:
    # Regenerate with: python -c "from adapters.sink_options import *;
    # print(readme_table(installed_sinks()))" and paste between the sink-options markers.
    text = README.read_text(encoding="utf-8")
    start = text.index("<!-- sink-options:")
    table = text[text.index("\n", start) + 1 : text.index("<!-- /sink-options -->")]
    assert table == readme_table(installed_sinks())
    assert "`enlace adapter sinks`" in text


def test_webhook_secret_is_one_a_standard_webhooks_receiver_takes() -> None:
    code, out = invoke("adapter", "webhook-secret")
    assert code == 0
    secret = out.strip()
    assert secret.startswith("whsec_")
    assert secret != invoke("adapter", "webhook-secret")[1].strip()
    Webhook(secret)  # raises for a secret the scheme does not accept


def test_enlace_adapters_is_the_adapter_group_under_its_plural_name() -> None:
    plural = CliRunner().invoke(cli, ["adapters", "run", "--help"])
    singular = CliRunner().invoke(cli, ["adapter", "run", "--help"])
    assert plural.exit_code == singular.exit_code == 0, plural.output
    assert plural.output.replace("adapters", "adapter") == singular.output
