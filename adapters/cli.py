"""``enlace adapter run|asyncapi|status|replay-dead-letters`` and ``enlace gateway``.

Registered through the entry point group ``enlace.commands``. The root ``enlace`` group
puts the deployment's home on the context (``--home``); these commands read it by
attribute so that ``adapters`` does not import ``hub``.
"""

from __future__ import annotations

import asyncio
import io
import json
import signal
from pathlib import Path
from typing import Any, NoReturn

import click
import nats.errors

from adapters.config import (
    AdaptersConfig,
    load_adapters_config,
    max_message_bytes_from,
    nats_url_from,
)
from adapters.connection import close, connect, login_for
from adapters.deployment import resolve_home
from adapters.errors import AdapterError, NatsUnreachable, PublishForbidden
from adapters.runner import Processed, SinkRunner
from adapters.service import RunningAdapter, adapter_status, open_runner, open_runners, plain_logs
from schemas.errors import EnlaceError

__all__ = ["adapter", "gateway"]

# Exit codes as documented by `enlace --help` (hub.cli.exit_codes, not importable here).
_FAILED, _USAGE, _NO_DEPLOYMENT, _NATS_UNREACHABLE, _FORBIDDEN = 1, 2, 4, 6, 11


def _home(ctx: click.Context) -> Path:
    root = ctx.find_root().obj
    home = getattr(root, "home", None)
    return Path(home) if home is not None else resolve_home(None)


def _fail(message: str, code: int = _FAILED) -> NoReturn:
    click.echo(f"error: {message}", err=True)
    # Not SystemExit: only the root command (hub.cli) ends the process; click's main turns
    # Exit into the exit status, as for `enlace`'s own commands.
    raise click.exceptions.Exit(code)


def _require(home: Path) -> None:
    if not (home / "enlace.yaml").is_file():
        _fail(f"no deployment at {home} (no enlace.yaml); run `enlace init`", _NO_DEPLOYMENT)


def _stop_on_signals() -> asyncio.Event:
    """An event SIGINT and SIGTERM set: the command finishes what it does, then exits 0."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    return stop


async def _run(home: Path, targets: dict[str, list[str]], url: str, engine: str) -> None:
    stop = _stop_on_signals()
    if engine == "loop":  # without FastStream: not even imported
        countries: list[RunningAdapter] = []
        try:
            for country, sinks in targets.items():
                countries.append(await open_runners(home, country, sinks, url))
            runners = [r for c in countries for r in c.runners]
            _say_consuming(runners, url)
            await asyncio.gather(*(runner.run(stop) for runner in runners))
        finally:
            for running in countries:
                await running.close()
        return
    from adapters.app import open_app

    app = await open_app(home, targets, url)
    try:
        _say_consuming(app.runners, url)
        await app.run(stop)
    finally:
        await app.close()


def _say_consuming(runners: list[SinkRunner], url: str) -> None:
    for runner in runners:
        name = f"{runner.settings.country}/{runner.settings.sink_name}"
        click.echo(f"adapter {name} consuming {url}", err=True)


def _guard(coro: Any) -> Any:
    try:
        return asyncio.run(coro)
    except NatsUnreachable as err:
        _fail(err.description, _NATS_UNREACHABLE)
    except PublishForbidden as err:
        _fail(err.description, _FORBIDDEN)
    except EnlaceError as err:
        _fail(str(err))
    except (OSError, nats.errors.NoServersError) as err:
        _fail(f"cannot reach NATS: {err}; is `enlace up` running?", _NATS_UNREACHABLE)


@click.group("adapter", help="Sink adapters that deliver into national systems.")
def adapter() -> None:
    pass


_country = click.option("--country", "country", required=True, metavar="CC", help="Recipient.")
_nats = click.option("--nats-url", default=None, help="NATS URL (else ENLACE_NATS_URL / config).")


@adapter.command(
    "run",
    help="Consume deliveries into sinks until stopped: every sink of the country (or those "
    "named with --sink), or with --all every sink in enlace.yaml, in this one process: a "
    "FastStream app, one NATS connection (the country's login) per country.",
)
@click.option("--country", default=None, metavar="CC", help="Recipient country.")
@click.option(
    "--sink",
    "sinks",
    multiple=True,
    help="One of the country's sinks, NAME; without --country CC/NAME (repeat).",
)
@click.option("--all", "run_all", is_flag=True, help="Every sink in enlace.yaml, one process.")
@click.option(
    "--engine",
    type=click.Choice(["faststream", "loop"]),
    default="faststream",
    show_default=True,
    help="loop: the sink runner's own fetch loop instead of the FastStream app (the same "
    "steps; `make bench` compares the two).",
)
@_nats
@click.pass_context
def run(
    ctx: click.Context,
    country: str | None,
    sinks: tuple[str, ...],
    run_all: bool,
    engine: str,
    nats_url: str | None,
) -> None:
    home = _home(ctx)
    _require(home)
    plain_logs()
    if (run_all and (country or sinks)) or not (run_all or country or sinks):
        _fail(
            "give --all, --country CC (and --sink NAME to run only some of its sinks) or "
            "--sink CC/NAME …",
            _USAGE,
        )
    config = _config(home)
    if run_all:
        targets: dict[str, list[str]] = {}
        for cc, settings in config.entries():
            targets.setdefault(cc, []).append(settings.sink_name)
        if not targets:
            _fail("no sinks are configured (enlace.yaml `adapters:`)")
    elif country is not None:
        targets = {country.upper(): list(sinks)}
    else:
        targets = _sink_targets(sinks)
    try:  # before connecting: each sink named is configured, or the country has one
        for cc, names in targets.items():
            for name in names:
                config.sink(cc, name)
            if not config.sinks_of(cc):
                config.sink(cc)  # says that none is, and how to add one
    except AdapterError as err:
        _fail(str(err))
    _guard(_run(home, targets, nats_url_from(home, nats_url), engine))


def _sink_targets(sinks: tuple[str, ...]) -> dict[str, list[str]]:
    """``CC/NAME`` options by country (what ``enlace up`` gives its one adapter child)."""
    targets: dict[str, list[str]] = {}
    for value in sinks:
        cc, slash, name = value.partition("/")
        if not slash or not cc or not name:
            _fail(f"--sink {value}: without --country, give CC/NAME (e.g. GT/folder)", _USAGE)
        targets.setdefault(cc.upper(), []).append(name)
    return targets


def _config(home: Path) -> AdaptersConfig:
    try:
        return load_adapters_config(home)
    except AdapterError as err:
        _fail(str(err))


@adapter.command(
    "asyncapi",
    help="The AsyncAPI 3.0 document of the adapter app (what `enlace adapter run --all` "
    "runs): each sink a subscriber of its country's deliveries. YAML, or JSON with --json.",
)
@click.option("--country", default=None, metavar="CC", help="Only this country's sinks.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_context
def asyncapi(ctx: click.Context, country: str | None, as_json: bool) -> None:
    from adapters.app import describe

    home = _home(ctx)
    _require(home)
    cc = country.upper() if country else None
    config = _config(home)
    if cc is not None and not config.sinks_of(cc):
        _fail(f"{cc} has no sinks in enlace.yaml's `adapters:` section")
    spec = describe(config, cc).to_specification()
    if as_json:
        click.echo(spec.to_json())
        return
    # ruamel (a dependency of ours), not FastStream's to_yaml: that needs PyYAML.
    from ruamel.yaml import YAML

    yaml, out = YAML(typ="safe", pure=True), io.StringIO()
    yaml.default_flow_style = False
    yaml.sort_base_mapping_type_on_output = False  # type: ignore[assignment]  # as FastStream's
    yaml.dump(spec.to_jsonable(), out)
    click.echo(out.getvalue(), nl=False)


@adapter.command("list", help="The sinks enlace.yaml configures (what `enlace up` starts).")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_context
def list_sinks(ctx: click.Context, as_json: bool) -> None:
    home = _home(ctx)
    _require(home)
    rows = [
        {"country": cc, "sink": s.sink, "name": s.sink_name, "argv": _argv(cc, s.sink_name)}
        for cc, s in _config(home).entries()
    ]
    if as_json:
        click.echo(json.dumps(rows, indent=2))
        return
    for row in rows:
        click.echo(f"{row['country']}/{row['name']} ({row['sink']}): {' '.join(row['argv'])}")


@adapter.command(
    "sinks",
    help="Every installed sink (entry point group enlace.sinks) and the options it takes "
    "in enlace.yaml's adapters: section. Every sink also takes `name` (to tell two sinks "
    "of one kind apart) and `retry` (max_attempts, backoff_base, backoff_max).",
)
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def installed(as_json: bool) -> None:
    from adapters.sink_options import installed_sinks

    sinks = installed_sinks()
    if as_json:
        click.echo(json.dumps([s.to_dict() for s in sinks], indent=2))
        return
    for sink in sinks:
        click.echo(f"{sink.name} ({sink.entry_point})")
        if sink.options is None:
            click.echo("  (its options are not declared: see its documentation)")
        for option in sink.options or []:
            need = "required" if option.required else f"default {option.default or 'none'}"
            click.echo(f"  {option.name}: {option.type}, {need}. {option.description}")


@adapter.command(
    "webhook-secret",
    help="Print a new Standard Webhooks secret (whsec_…) to share with a webhook's "
    "receiver; give it to the sink through signing_secret_env or signing_secret_file.",
)
def webhook_secret() -> None:
    from adapters.sinks._standard_webhooks import new_secret

    click.echo(new_secret())


def _argv(country: str, name: str) -> list[str]:
    return ["enlace", "adapter", "run", "--country", country, "--sink", name]


async def _status(home: Path, country: str | None, url: str) -> list[dict[str, Any]]:
    config = load_adapters_config(home)
    # The operator's read-only login on the hub's machine; a party kit's own elsewhere.
    nc = await connect(url, login_for(home, "operator"), keep_reconnecting=False)
    try:
        js = nc.jetstream()
        return [
            await adapter_status(js, cc, s.sink_name)
            for cc, s in config.entries()
            if country is None or cc == country
        ]
    finally:
        await close(nc)


@adapter.command("status", help="Lag, pending acks and dead letters of each configured sink.")
@click.option("--country", default=None, metavar="CC", help="Only this country.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@_nats
@click.pass_context
def status(ctx: click.Context, country: str | None, as_json: bool, nats_url: str | None) -> None:
    home = _home(ctx)
    _require(home)
    cc = country.upper() if country else None
    rows = _guard(_status(home, cc, nats_url_from(home, nats_url)))
    if as_json:
        click.echo(json.dumps(rows, indent=2))
        return
    if not rows:
        click.echo("no sinks configured (enlace.yaml `adapters:`)")
    for row in rows:
        click.echo(
            f"{row['country']}/{row['sink']}: {row['state']}, lag {row['lag']}, "
            f"ack pending {row['ack_pending']}, dead letters {row['dead_letters']}"
        )


async def _replay(home: Path, country: str, sink: str | None, url: str) -> list[Any]:
    running = await open_runner(home, country, sink, url, start=False)
    try:
        return await running.runner.replay_dead_letters()
    finally:
        await running.close()


@adapter.command("replay-dead-letters", help="Try the country's dead letters again.")
@_country
@click.option("--sink", default=None, help="Which of the country's sinks (if several).")
@_nats
@click.pass_context
def replay_dead_letters(
    ctx: click.Context, country: str, sink: str | None, nats_url: str | None
) -> None:
    home = _home(ctx)
    _require(home)
    report = _guard(_replay(home, country.upper(), sink, nats_url_from(home, nats_url)))
    done = sum(1 for _, outcome in report if isinstance(outcome, Processed))
    for seq, outcome in report:
        click.echo(f"dead letter #{seq}: {outcome}")
    click.echo(f"{done} of {len(report)} dead letter(s) delivered")
    if done < len(report):
        raise click.exceptions.Exit(_FAILED)


@click.command("gateway", help="HTTP gateway: national systems POST unsigned messages.")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8480, show_default=True, type=int)
@click.option(
    "--tokens",
    "tokens_file",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Token file (default <home>/state/gateway-tokens.json).",
)
@click.option(
    "--issue-token",
    "issue_for",
    default=None,
    metavar="POC",
    help="Print a new API token for this point of contact (stored hashed) and exit.",
)
@_nats
@click.pass_context
def gateway(
    ctx: click.Context,
    host: str,
    port: int,
    tokens_file: Path | None,
    issue_for: str | None,
    nats_url: str | None,
) -> None:
    # Imported here: only this command needs starlette and uvicorn.
    from adapters.sources.gateway import TokenStore, serve

    home = _home(ctx)
    _require(home)
    if issue_for is not None:
        store = TokenStore(tokens_file or home / "state" / "gateway-tokens.json")
        click.echo(store.issue(issue_for))
        return
    url = nats_url_from(home, nats_url)
    click.echo(f"gateway on http://{host}:{port}, publishing to {url}", err=True)
    _guard(serve(home, host, port, tokens_file, url))


async def _watch(home: Path, folder: Path, poc: str, interval: float, wait: bool, url: str) -> None:
    from adapters.client import EnlaceClient
    from adapters.connection import ServerErrors
    from adapters.deployment import AdapterHome, DirectoryFile
    from adapters.sources.folder_watch import FolderWatcher
    from adapters.sources.prepare import ClientPublisher, poc_of

    stop = _stop_on_signals()  # also while it connects
    paths = AdapterHome(home)
    directory = DirectoryFile(paths)
    login = login_for(home, poc_of(directory(), poc).country)
    errors = ServerErrors(url, login.name)
    nc = await connect(url, login, errors)
    watcher = FolderWatcher(
        folder,
        poc,
        directory,
        paths.keys_dir,
        ClientPublisher(EnlaceClient.of_deployment(nc, home, errors), wait=wait),
        max_bytes=max_message_bytes_from(home),
        interval=interval,
    )
    click.echo(f"watching {folder} as {poc}; sent/, undelivered/ and failed/ in it", err=True)
    try:
        await watcher.run(stop)
    finally:
        await close(nc)


@adapter.command("watch", help="Sign and publish the JSON files dropped in a folder.")
@click.option("--poc", required=True, help="The point of contact the files are from.")
@click.option(
    "--folder",
    required=True,
    type=click.Path(file_okay=False, path_type=Path),
    help="The folder to watch (sent/, undelivered/ and failed/ are made inside).",
)
@click.option("--interval", default=1.0, show_default=True, help="Seconds between scans.")
@click.option(
    "--wait/--no-wait",
    default=True,
    show_default=True,
    help="Wait for the hub's verdict: a message it refuses goes to failed/ with its reason, "
    "one it delivers to nobody to undelivered/ with each party's reason. With --no-wait, "
    "sent/ means only that INGRESS stored it.",
)
@_nats
@click.pass_context
def watch(
    ctx: click.Context,
    poc: str,
    folder: Path,
    interval: float,
    wait: bool,
    nats_url: str | None,
) -> None:
    home = _home(ctx)
    _require(home)
    folder.mkdir(parents=True, exist_ok=True)
    _guard(_watch(home, folder, poc, interval, wait, nats_url_from(home, nats_url)))
