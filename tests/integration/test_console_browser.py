"""The console in a real browser (Debian's chromium, driven by Playwright) on a real ``enlace up``.

The demo deployment runs with HN's folder sink; the console is the one ``enlace up``
serves. Every request the page makes is checked to go to the console's own origin: any
other is aborted and recorded, and the module fails if one was attempted.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import tempfile
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.sync_api import Browser, BrowserContext, Page, Route, expect, sync_playwright

from hub.admin.demo import demo_agreements
from hub.console.operators import OperatorStore, Role
from hub.server.process import free_port
from schemas.common import new_message_id
from schemas.subjects import ingress_subject
from tests.integration.consolekit import PASSWORD
from tests.integration.upkit import WAIT, Running, login, run_demo_with_hn_sink

pytestmark = pytest.mark.integration

CHROMIUM = "/usr/bin/chromium"
DOCS = Path(__file__).resolve().parents[2] / "docs"
# The README's screenshots are taken by these tests; written over docs/ only when asked
# (ENLACE_DOC_SHOTS=1), else beside the test's other temporary files: a run of the suite
# leaves the checkout as it was.
SHOTS = DOCS if os.environ.get("ENLACE_DOC_SHOTS") == "1" else Path(tempfile.gettempdir())
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
]


@pytest.fixture(scope="module")
def up(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Running, str]]:
    os.environ["ENLACE_CONSOLE_PORT"] = str(free_port())
    try:
        # The nine countries' sinks are configured; only HN's adapter runs (the others stall).
        running = run_demo_with_hn_sink(tmp_path_factory, register_all=True)
        started = next(running)
    finally:
        del os.environ["ENLACE_CONSOLE_PORT"]
    printed = (started.dep.home / "up.out").read_text()
    url = re.search(r"console:\s+(http://\S+)", printed)
    assert url, printed
    store = OperatorStore(started.dep)
    store.add("ana", Role.AUDITOR, PASSWORD)
    store.add("vic", Role.VIEWER, PASSWORD)
    yield started, url.group(1)
    next(running, None)


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with sync_playwright() as p:
        launched = p.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        yield launched
        launched.close()


@pytest.fixture
def context(browser: Browser, up: tuple[Running, str]) -> Iterator[BrowserContext]:
    """A fresh browser profile whose requests may go only to the console's origin."""
    origin = up[1]
    elsewhere: list[str] = []

    def guard(route: Route) -> None:
        if route.request.url.startswith(origin + "/"):
            route.continue_()
        else:
            elsewhere.append(route.request.url)
            route.abort("blockedbyclient")

    ctx = browser.new_context(viewport={"width": 1400, "height": 900}, base_url=origin)
    ctx.route("**/*", guard)
    yield ctx
    ctx.close()
    assert elsewhere == [], f"the page tried to reach another origin: {elsewhere}"


def _log_in(page: Page, password: str = PASSWORD, name: str = "ana") -> None:
    page.goto("/tail")
    expect(page).to_have_url(re.compile(r"/login\?next="))
    page.fill("#name", name)
    page.fill("#password", password)
    page.click("#login")


def _publish(up: Running, sample: str, poc: str, issued: datetime | None = None) -> str:
    """A fresh copy of a demo sample, signed by ``poc`` and published; returns its id.

    With ``issued`` (a time outside the hub's acceptance window) the hub refuses it.
    """
    message = json.loads((up.dep.samples_dir / f"{sample}.json").read_text())
    message["id"] = new_message_id()
    path = up.dep.home / f"{message['id']}.json"
    message["issued_at"] = (issued or datetime.now(UTC)).strftime("%Y-%m-%dT%H:%M:%SZ")
    path.write_text(json.dumps(message))
    result = up.enlace("publish", str(path), "--poc", poc)
    assert (result.returncode == 0) == (issued is None), result.stdout + result.stderr
    return str(message["id"])


def test_wrong_password_refused_then_right_one_allowed_with_csp(context: BrowserContext) -> None:
    page = context.new_page()
    _log_in(page, "not the password")
    expect(page.locator("#login-error")).to_be_visible()
    page.fill("#name", "ana")
    page.fill("#password", PASSWORD)
    with page.expect_response(re.compile(r"/tail$")) as response:
        page.click("#login")
    csp = response.value.headers["content-security-policy"]
    assert "default-src 'self'" in csp and "script-src 'self'" in csp
    expect(page.locator("h1")).to_have_text("Live audit tail")


def test_unauthenticated_pages_and_stream_are_refused(context: BrowserContext) -> None:
    page = context.new_page()
    page.goto("/trail/ANY")
    expect(page).to_have_url(re.compile(r"/login\?next=%2Ftrail%2FANY"))
    assert context.request.get("/tail/stream").status == 401
    assert (
        context.request.get("/tail", headers={"Accept": "text/html"}, max_redirects=0).status == 303
    )


def test_tail_shows_a_new_message_without_reload_and_a_filter_narrows_it(
    context: BrowserContext, up: tuple[Running, str]
) -> None:
    page = context.new_page()
    _log_in(page)
    expect(page.locator("h1")).to_have_text("Live audit tail")
    page.wait_for_function("document.querySelector('[sse-connect]') !== null")
    page.wait_for_timeout(500)  # the EventSource connects after htmx processes the page
    message_id = _publish(up[0], "gang_movement", "gt-gangs")
    row = page.locator(f'tr.kind-received a[href="/trail/{message_id}"]')
    expect(row).to_be_visible(timeout=5000)
    SHOTS.mkdir(exist_ok=True)
    page.screenshot(path=str(SHOTS / "console-tail.png"))
    page.fill("#f-country", "US")
    page.select_option("#f-kind", "routed")
    page.click("#apply-filters")
    expect(page).to_have_url(re.compile(r"country=US.*kind=routed"))
    kinds = page.locator("#tail-rows tr td.kind").all_inner_texts()
    assert kinds and set(kinds) <= {"routed", "not_routed", "undeliverable"}
    assert page.locator("#tail-rows tr.kind-received").count() == 0


def test_trail_lists_nine_parties_with_a_reason_for_each_not_routed_and_in_spanish(
    context: BrowserContext, up: tuple[Running, str]
) -> None:
    message_id = _publish(up[0], "firearm_trace_request", "gt-small-arms")
    page = context.new_page()
    _log_in(page)
    page.goto(f"/trail/{message_id}")
    rows = page.locator("#trail-parties tr.party")
    expect(rows).to_have_count(9)
    assert page.locator("tr.party.status-unknown").count() == 0
    not_routed = page.locator("tr.party.status-not_routed")
    assert not_routed.count() >= 1
    for i in range(not_routed.count()):
        assert not_routed.nth(i).locator("td.reason code").inner_text().strip()
    expect(page.locator('tr.party[data-party="US"]')).to_have_class(re.compile("status-routed"))
    page.screenshot(path=str(SHOTS / "console-trail.png"), full_page=True)
    english = not_routed.first.locator("td.reason").inner_text()
    page.click("#lang-es")
    expect(page.locator("h1")).to_contain_text("Recorrido del mensaje")
    spanish = page.locator("tr.party.status-not_routed").first.locator("td.reason").inner_text()
    assert spanish != english
    expect(page.locator("th").first).to_have_text("Parte")
    page.goto("/tail")  # remembered: the next page is in Spanish too
    expect(page.locator("h1")).to_have_text("Auditoría en vivo")


NINE = {"BZ", "CR", "DO", "GT", "HN", "NI", "PA", "SV", "US"}


def test_adapters_page_lists_the_nine_countries_sinks_and_marks_the_stalled_ones(
    context: BrowserContext, up: tuple[Running, str]
) -> None:
    _publish(up[0], "gang_movement", "gt-gangs")  # routed to US, whose adapter is not run
    page = context.new_page()
    _log_in(page)
    page.click("#nav-adapters")
    expect(page.locator("h1")).to_have_text("Adapters")
    rows = page.locator("#sinks tr.sink")
    expect(rows).to_have_count(9)
    assert {rows.nth(i).get_attribute("data-country") for i in range(9)} == NINE
    us = page.locator('#sinks tr.sink[data-country="US"]')
    expect(us).to_have_class(re.compile("stalled"))
    waiting = [us.locator(f"td.{c}").inner_text() for c in ("pending", "ack-pending")]
    assert sum(int(n) for n in waiting) > 0
    assert us.locator("td.dead-letters").inner_text().isdigit()  # the operator login reads it
    page.check("#f-stalled")
    page.click("#apply-filters")
    expect(page).to_have_url(re.compile(r"/adapters\?country=&stalled=1"))
    stalled = page.locator("#sinks tr.sink")
    assert stalled.count() >= 1
    assert stalled.count() == page.locator("#sinks tr.sink.stalled").count()
    assert page.locator('#sinks tr.sink[data-country="HN"]:not(.stalled)').count() == 0


def _volumes(context: BrowserContext) -> dict[str, Any]:
    response = context.request.get("/volumes/data?window=1h")
    assert response.ok, response.status
    data: dict[str, Any] = response.json()
    return data


def test_volumes_page_draws_its_charts_with_the_counts_of_what_was_published(
    context: BrowserContext, up: tuple[Running, str]
) -> None:
    page = context.new_page()
    _log_in(page)
    before = _volumes(context)
    theme = json.loads((up[0].dep.samples_dir / "gang_movement.json").read_text())["theme"]
    for _ in range(2):
        _publish(up[0], "gang_movement", "gt-gangs")
    _publish(up[0], "gang_movement", "gt-gangs", issued=datetime.now(UTC) - timedelta(days=3))
    after = _volumes(context)  # publish returned: the hub's decisions are on the record
    assert after["accepted"] == before["accepted"] + 2
    assert sum(after["by_country"]["GT"]) == sum(before["by_country"].get("GT", [])) + 2
    assert sum(after["by_theme"][theme]) == sum(before["by_theme"].get(theme, [])) + 2
    assert sum(after["rejected"].values()) == sum(before["rejected"].values()) + 1
    page.click("#nav-volumes")
    page.select_option("#f-window", "1h")
    page.click("#apply-filters")
    expect(page).to_have_url(re.compile(r"/volumes\?window=1h"))
    expect(page.locator("#volume-charts")).to_have_attribute("data-loaded", "true")
    expect(page.locator("#chart-theme canvas")).to_have_count(1)
    expect(page.locator("#chart-country canvas")).to_have_count(1)
    assert int(page.locator("#chart-country").get_attribute("data-drawn") or 0) >= 1
    accepted = page.locator("#outcomes tr.accepted td.count").inner_text()
    assert int(accepted) >= after["accepted"]
    assert page.locator("#outcomes tr.rejected").count() >= 1
    page.screenshot(path=str(SHOTS / "console-volumes.png"), full_page=True)
    page.click("#lang-es")
    expect(page.locator("h1")).to_have_text("Volúmenes")
    expect(page.locator("#outcomes th").first).to_have_text("Resultado")


# -- integrity, governance and proof downloads (issue 15, pages 2, 6 and 7) --------------------


def _wait_for_page(page: Page, path: str, selector: str) -> None:
    """Reload ``path`` until ``selector`` shows (the hub signs a checkpoint every 10 s)."""
    deadline = time.monotonic() + WAIT
    while True:
        page.goto(path)
        if page.locator(selector).count() or time.monotonic() > deadline:
            break
        page.wait_for_timeout(1000)
    expect(page.locator(selector).first).to_be_visible()


def test_verify_now_shows_progress_then_verified_with_the_size(
    context: BrowserContext, up: tuple[Running, str]
) -> None:
    _publish(up[0], "gang_movement", "gt-gangs")
    page = context.new_page()
    _log_in(page)
    _wait_for_page(page, "/integrity", "#checkpoint-latest")
    _publish(up[0], "gang_movement", "gt-gangs")  # a second checkpoint, of a larger size
    _wait_for_page(page, "/integrity", "#checkpoint-previous")
    size = int(page.locator("#checkpoint-latest td.size").inner_text())
    previous = int(page.locator("#checkpoint-previous td.size").inner_text())
    assert 0 < previous < size
    expect(page.locator("#checkpoint-latest .key-name")).to_have_text(re.compile(r"\S+"))
    expect(page.locator("#checkpoint-latest .ok")).to_be_visible()
    # HN's witness runs beside its sink: the page counts the parties that cosigned.
    expect(page.locator("#witness-count .of")).to_have_text("9")
    with page.expect_response(re.compile(r"/integrity/verify$")) as started:
        page.click("#verify-now")
    assert started.value.request.method == "POST"
    assert '<progress id="verify-progress"' in started.value.text()
    result = page.locator("#verify-result")
    expect(result).to_contain_text("Verified:", timeout=WAIT * 1000)
    verified = re.search(r"Verified: (\d+) entries", result.inner_text())
    assert verified and int(verified.group(1)) >= size
    expect(page.locator("#verify-status .who")).to_contain_text("Started by ana")
    consistency = page.locator("#consistency.ok")
    expect(consistency).to_contain_text("the newer checkpoint extends the older")
    # The hub goes on appending (receipts, its own entries): newer checkpoints may be signed
    # between the page and the run, which checks the latest two it reads.
    sizes = re.search(r"Consistency from size (\d+) to size (\d+)", consistency.inner_text())
    assert sizes and previous <= int(sizes.group(1)) < int(sizes.group(2))
    assert size <= int(sizes.group(2)) <= int(verified.group(1))
    expect(page.locator("#verify-progress")).to_have_count(0)
    page.click("#lang-es")
    expect(page.locator("h1")).to_have_text("Integridad del registro de auditoría")
    expect(page.locator("#witness-count")).to_contain_text("partes cofirmaron")
    expect(page.locator("#verify-result")).to_contain_text("Verificado:")


def test_governance_lists_the_demo_agreements_in_force_with_flows_and_signers(
    context: BrowserContext, up: tuple[Running, str]
) -> None:
    page = context.new_page()
    _log_in(page)
    page.click("#nav-governance")
    expect(page.locator("h1")).to_have_text("Governance")
    rows = page.locator("#agreements-in-force tr.agreement")
    expect(rows).to_have_count(len(demo_agreements()))
    for doc in demo_agreements():
        row = page.locator(f'#agreements-in-force tr[data-agreement="{doc["id"]}"]')
        expect(row.locator("td.tlp")).to_have_text(doc["max_tlp"])
        expect(row.locator("ul.flows li")).to_have_count(len(doc["flows"]))
    expect(page.locator("#highest-tlp strong")).to_have_text("red")
    expect(page.locator("#directory-signers .signer")).to_have_count(9)
    expect(page.locator("#directory-version")).to_contain_text("Version 1")
    page.click("#lang-es")
    expect(page.locator("h1")).to_have_text("Gobernanza")
    expect(page.locator("#agreements-in-force td.state").first).to_have_text("en vigor")


def test_a_trail_entry_s_proof_download_passes_verify_proof_and_a_tampered_one_fails(
    up: tuple[Running, str], tmp_path: Path
) -> None:
    running, origin = up
    message_id = _publish(running, "gang_movement", "gt-gangs")
    with httpx.Client(base_url=origin, timeout=WAIT) as client:
        assert client.get(f"/trail/{message_id}/proof/0").status_code == 401
        login = client.post("/login", data={"name": "ana", "password": PASSWORD})
        assert login.status_code == 303
        deadline = time.monotonic() + WAIT
        while 'class="proof"' not in (page := client.get(f"/trail/{message_id}")).text:
            assert time.monotonic() < deadline, "no checkpoint covered the message's entries"
            time.sleep(1)
        links = re.findall(r'class="proof" href="([^"]+)"', page.text)
        assert links and all(link.startswith(f"/trail/{message_id}/proof/") for link in links)
        download = client.get(links[0])
        assert download.status_code == 200
        assert download.headers["content-disposition"].startswith("attachment;")
        index = int(links[0].rsplit("/", 1)[1])
        other = client.get(f"/trail/{message_id}/proof/{index + 100000}")
        assert other.status_code == 409  # beyond the latest checkpoint
        if index > 0:  # an entry of another message is refused, not proved
            assert client.get(f"/trail/{message_id}/proof/0").status_code == 404
    good = tmp_path / "proof.json"
    good.write_bytes(download.content)
    checked = running.enlace("audit", "verify-proof", str(good))
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert f"entry {index}" in checked.stdout and message_id in checked.stdout
    bundle = json.loads(download.content)
    entry = json.loads(bundle["entry"])
    assert entry["message_id"] == message_id and entry["index"] == index
    bundle["entry"] = bundle["entry"].replace(message_id, new_message_id())
    bad = tmp_path / "tampered.json"
    bad.write_text(json.dumps(bundle))
    refused = running.enlace("audit", "verify-proof", str(bad))
    assert refused.returncode == 1, refused.stdout + refused.stderr
    assert "proof refused" in refused.stderr


def _publish_unsigned(up: Running) -> str:
    """A demo sample sent by GT's login without its signature: the hub quarantines it."""
    message = json.loads((up.dep.samples_dir / "gang_movement.json").read_text())
    message["id"] = new_message_id()

    async def send() -> None:
        errors: list[str] = []
        nc = await login(up, "GT", errors)
        try:
            subject = ingress_subject("GT", message["theme"], message["type"])
            await nc.jetstream().publish(subject, json.dumps(message).encode())
        finally:
            await nc.close()
        assert errors == []

    # Playwright's sync API runs an event loop in this thread: send from another one.
    with ThreadPoolExecutor(1) as pool:
        pool.submit(asyncio.run, send()).result()
    return str(message["id"])


def test_a_quarantined_message_is_inspected_by_an_auditor_and_not_by_a_viewer(
    context: BrowserContext, up: tuple[Running, str]
) -> None:
    message_id = _publish_unsigned(up[0])
    page = context.new_page()
    _log_in(page, name="vic")
    page.click("#nav-rejections")
    expect(page.locator("h1")).to_have_text("Rejections and quarantine")
    page.fill("#r-country", "GT")
    page.click("#apply-rejection-filters")
    expect(page).to_have_url(re.compile(r"/rejections\?country=GT"))
    row = page.locator("tr.rejection", has=page.locator(f'a[href="/trail/{message_id}"]'))
    for _ in range(50):  # the hub quarantines it soon after: reload until it is listed
        if row.count():
            break
        page.wait_for_timeout(200)
        page.reload()
    expect(row).to_have_count(1)
    expect(row.locator("td.reason code")).to_have_text("malformed_signature")
    inspect = row.locator("a.inspect").get_attribute("href")
    assert inspect is not None
    with page.expect_response(re.compile(r"/rejections/\d+$")) as refused:
        page.goto(inspect)
    assert refused.value.status == 403
    expect(page.locator("#refusal")).to_contain_text("auditor")
    assert page.locator("#copy-content").count() == 0
    page.click("#logout")

    _log_in(page)
    page.goto(inspect)
    expect(page.locator("#copy-content")).to_contain_text(f'"id": "{message_id}"')
    expect(page.locator("#viewing-recorded")).to_be_visible()
    with page.expect_download() as download:
        page.click("#download")
    saved = download.value.path()
    assert json.loads(Path(saved).read_bytes())["id"] == message_id
    # Each viewing is on the record, by name, with the copy's sequence: never the bytes.
    shown = up[0].enlace("audit", "tail", "--json", "-n", "1000")
    viewed = [json.loads(x) for x in shown.stdout.splitlines() if "quarantine_viewed" in x]
    seq = int(inspect.rsplit("/", 1)[-1])
    assert [(e["owner"], e["seq"], e["outcome"]) for e in viewed] == [
        ("ana", seq, "shown"),
        ("ana", seq, "exported"),
    ]
    # The CLI reads the same copy through the same read-only login.
    listed = up[0].enlace("quarantine", "list", "--json", "--country", "GT")
    assert listed.returncode == 0, listed.stderr
    assert seq in [json.loads(x)["seq"] for x in listed.stdout.splitlines()]
