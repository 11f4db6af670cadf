"""``enlace witness``: a party witnesses the hub's audit log (:mod:`adapters.witness`).

On a party's machine (``enlace --home KIT witness``) it logs in as the kit's party, keeps
the last checkpoint it cosigned in ``state/witness/<CC>.checkpoint``, and every few
seconds cosigns the hub's latest checkpoint if, and only if, it extends that one.
``--once`` does one round and says what happened: exit 0 when the checkpoint was cosigned
(or there was nothing new), 1 when the witness refused it (the reason code printed: a
forked or rolled back log), 6 when the hub's NATS cannot be reached. ``enlace up`` runs
the witnesses of the parties whose sinks it runs, in its own process.
"""

from __future__ import annotations

import asyncio
import signal

import click
import nats.errors

from adapters.config import nats_url_from, party_from
from adapters.connection import close, connect, login_for
from adapters.errors import AdapterError
from adapters.witness import Witnesses, WitnessOutcome, open_witness, witness_once
from hub.cli.context import CliContext, fail, pass_cli, print_json
from hub.cli.exit_codes import ExitCode
from hub.logging import configure_logging
from schemas.errors import EnlaceError

__all__ = ["witness"]


async def _once(cli: CliContext, country: str, url: str) -> WitnessOutcome:
    witness = open_witness(cli.home, country)
    nc = await connect(url, login_for(cli.home, country), keep_reconnecting=False)
    try:
        return await witness_once(nc, witness, set())
    finally:
        await close(nc)


async def _forever(cli: CliContext, countries: list[str], url: str, every: float) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    group = await Witnesses.start(cli.home, countries, url, every)
    click.echo(f"witnessing the audit log for {', '.join(countries)} at {url}", err=True)
    try:
        await stop.wait()
    finally:
        await group.close()


@click.command(
    help="Witness the hub's audit log as a party: cosign (with the party's system key) each "
    "new checkpoint that extends the last one cosigned, refuse one that does not (a forked "
    "or rolled back log) and store either in AUDIT_WITNESS. --once: one round; exit 0 "
    "cosigned or nothing new, 1 refused (reason printed), 6 NATS unreachable."
)
@click.option(
    "--country",
    "countries",
    multiple=True,
    metavar="CC",
    help="The party (repeatable; default: the party of this kit, `party:` in enlace.yaml).",
)
@click.option("--once", is_flag=True, help="One round, then say what happened.")
@click.option(
    "--every", type=float, default=10.0, show_default=True, help="Seconds between rounds."
)
@click.option("--json", "as_json", is_flag=True, help="With --once: the outcome as JSON.")
@click.option("--nats-url", default=None, help="NATS URL (else ENLACE_NATS_URL / config).")
@pass_cli
def witness(
    cli: CliContext,
    countries: tuple[str, ...],
    once: bool,
    every: float,
    as_json: bool,
    nats_url: str | None,
) -> None:
    cli.require_deployment()
    configure_logging(None, "warning" if once else "info")  # on stderr: --json stays JSON
    try:
        chosen = [cc.upper() for cc in countries] or [party_from(cli.home) or ""]
        if not all(chosen):
            fail("give --country CC (this deployment is no party's kit)", ExitCode.USAGE)
        url = nats_url_from(cli.home, nats_url)
        if not once:
            asyncio.run(_forever(cli, chosen, url, every))
            return
        outcomes = {cc: asyncio.run(_once(cli, cc, url)) for cc in chosen}
    except (nats.errors.Error, OSError) as exc:
        fail(f"cannot reach the hub's NATS: {exc}; is `enlace up` running?", ExitCode.UNAVAILABLE)
    except AdapterError as exc:
        code = ExitCode.UNAVAILABLE if exc.code == "nats_unreachable" else ExitCode.FAILED
        fail(exc.description, code)
    except EnlaceError as exc:
        fail(str(exc), ExitCode.GOVERNANCE)
    if as_json:
        print_json({cc: o.__dict__ for cc, o in outcomes.items()})
    else:
        for cc, o in outcomes.items():
            what = f"{o.status}" + (f" checkpoint of size {o.size}" if o.size is not None else "")
            why = f": {o.reason}: {o.detail}" if o.reason else ""
            click.echo(f"{cc}: {what}{why}", err=o.status == "refused")
    if any(o.status == "refused" for o in outcomes.values()):
        raise SystemExit(int(ExitCode.FAILED))
