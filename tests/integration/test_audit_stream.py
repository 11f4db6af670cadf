"""The audit log on a real nats-server: persistence, no fork, deny delete/purge, tamper."""

from __future__ import annotations

import asyncio
import base64
import dataclasses
import json
from collections.abc import AsyncIterator
from pathlib import Path

import nats
import pytest
from click.testing import CliRunner
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from nats.aio.client import Client as NatsClient
from nats.js import JetStreamContext
from nats.js.api import StreamConfig
from nats.js.errors import APIError, NotFoundError
from structlog.testing import capture_logs

from hub.audit import (
    AuditReader,
    AuditStoreError,
    AuditWriter,
    Checkpoint,
    CheckpointSigner,
    CheckpointVerifier,
    kinds,
    verify_log,
)
from hub.audit.checkpoint import WriterState, note_origin, note_size
from hub.audit.errors import AuditStreamWeakened
from hub.audit.leaves import MAX_SIGNED_LEAVES, signed_leaf_map
from hub.audit.merkle import leaf_hash
from hub.audit.reader import leaf_notes
from hub.audit.streams import (
    AUDIT_STREAM,
    AUDIT_SUBJECT,
    CHECKPOINT_STREAM,
    CHECKPOINT_SUBJECT,
    HDR_STATE,
    weaknesses,
)
from hub.cli import cli
from hub.config import HubSettings
from hub.governance.keystore import KeyKind, KeyStore
from hub.jetstream.streams import ensure_audit_streams
from hub.server.process import NatsServer, free_port
from schemas.countersign import sha256_digest
from tests.integration.auditkit import numbered_entry, open_audit_writer

pytestmark = pytest.mark.integration

ORIGIN = "enlace.test/audit"


_entry = numbered_entry


@pytest.fixture
async def fresh(server: NatsServer) -> AsyncIterator[NatsClient]:
    """A connection to a server of the test's own: its audit streams start empty.

    (They cannot be purged, and deleting and at once re-creating a stream now and then
    fails inside nats-server with "error creating store for stream".)
    """
    client = await nats.connect(server.url)
    yield client
    await client.drain()


@pytest.fixture
def signer() -> CheckpointSigner:
    return CheckpointSigner(Ed25519PrivateKey.generate(), "hub-k1")


async def test_appended_entries_are_persisted_in_order_and_verify(
    fresh: NatsClient, signer: CheckpointSigner
) -> None:
    js = fresh.jetstream()
    writer = await open_audit_writer(js, signer, ORIGIN, checkpoint_every=7)
    results = await asyncio.gather(*(writer.append([_entry(i), _entry(i)]) for i in range(20)))
    await writer.close()

    indexes = sorted(i for r in results for i in r)
    assert indexes == list(range(40))
    reader = AuditReader(js)
    entries = await reader.read_all()
    notes = await reader.checkpoints()
    assert len(entries) == 40
    assert len(notes) >= 2  # at least one every-7 checkpoint plus the final one
    report = verify_log(entries, notes, [signer.verifier()], require_covered=True)
    assert report.ok, report.problem
    assert report.size == 40
    assert report.root == writer.root()


async def test_checkpoints_carry_the_signed_leaves_that_name_an_entry_changed_in_place(
    fresh: NatsClient, signer: CheckpointSigner
) -> None:
    js = fresh.jetstream()
    writer = await open_audit_writer(js, signer, ORIGIN, checkpoint_every=7)
    for i in range(20):
        await writer.append([_entry(i), _entry(i)])
    await writer.close()
    reader = AuditReader(js)
    stored = await reader.checkpoint_messages()
    leaves = leaf_notes(stored)
    signed = signed_leaf_map(leaves, [signer.verifier()], ORIGIN)
    entries = await reader.read_all()
    assert signed == {i: leaf_hash(raw) for i, raw in enumerate(entries)}
    # Entry 17 rewritten on disk into another valid entry: named exactly, not its range.
    entries[17] = _entry(999).with_index(17).canonical()
    notes = [s.note for s in stored]
    report = verify_log(entries, notes, [signer.verifier()], leaves=leaves)
    assert report.first_bad_index == 17, report.problem
    assert report.problem is not None and "changed in place" in report.problem.reason


async def test_a_long_range_signs_its_newest_leaves_within_jetstream_s_header_limit(
    fresh: NatsClient, signer: CheckpointSigner
) -> None:
    js = fresh.jetstream()
    writer = await open_audit_writer(js, signer, ORIGIN, checkpoint_every=100_000)
    for batch in range(30):  # 3,000 entries, one checkpoint: more than one note may carry
        await writer.append([_entry(batch * 100 + i) for i in range(100)])
    await writer.close()  # the checkpoint is stored: its headers fit in 64 KiB
    reader = AuditReader(js)
    stored = await reader.checkpoint_messages()
    assert [note_origin(s.note) for s in stored] == [ORIGIN]
    leaves = leaf_notes(stored)
    signed = signed_leaf_map(leaves, [signer.verifier()], ORIGIN)
    assert sorted(signed) == list(range(3000 - MAX_SIGNED_LEAVES, 3000))
    entries = await reader.read_all()
    notes = [s.note for s in stored]
    # In the signed part, the entry itself; before it, the range (from the last match: 0).
    for changed, named in ((2999, 2999), (3000 - MAX_SIGNED_LEAVES, 3000 - MAX_SIGNED_LEAVES)):
        tampered = list(entries)
        tampered[changed] = _entry(99_999).with_index(changed).canonical()
        report = verify_log(tampered, notes, [signer.verifier()], leaves=leaves)
        assert report.first_bad_index == named
    tampered = list(entries)
    tampered[10] = _entry(99_999).with_index(10).canonical()
    assert verify_log(tampered, notes, [signer.verifier()], leaves=leaves).first_bad_index == 0


async def test_a_batch_split_by_size_keeps_each_entry_at_its_index(
    fresh: NatsClient, signer: CheckpointSigner
) -> None:
    # Entries are serialised once, at the index they are expected to get: a queue split into
    # several AUDIT messages must still store every entry with its own position.
    js = fresh.jetstream()
    size = len(_entry(0).canonical_at(0)) + 16
    writer = await open_audit_writer(js, signer, ORIGIN, max_batch_bytes=5 * size)
    results = await asyncio.gather(*(writer.append([_entry(i), _entry(i)]) for i in range(20)))
    await writer.close()

    assert sorted(i for r in results for i in r) == list(range(40))
    reader = AuditReader(js)
    stored = await reader.read_all()
    assert [json.loads(raw)["index"] for raw in stored] == list(range(40))
    batches = [batch async for batch in reader.tail(0)]
    assert len(batches) >= 8  # four or fewer entries per message
    report = verify_log(stored, await reader.checkpoints(), [signer.verifier()])
    assert report.ok, report.problem


async def test_writer_reopened_continues_the_same_log(
    fresh: NatsClient, signer: CheckpointSigner
) -> None:
    js = fresh.jetstream()
    first = await open_audit_writer(js, signer, ORIGIN)
    await first.append([_entry(1), _entry(2)])
    await first.close()
    second = await open_audit_writer(js, signer, ORIGIN)
    assert await second.append([_entry(3)]) == [2]
    await second.close()
    reader = AuditReader(js)
    report = verify_log(await reader.read_all(), await reader.checkpoints(), [signer.verifier()])
    assert report.ok and report.size == 3


async def test_two_writers_at_once_never_fork_the_log(
    server: NatsServer, fresh: NatsClient, signer: CheckpointSigner
) -> None:
    other = await nats.connect(server.url)
    try:
        a = await open_audit_writer(fresh.jetstream(), signer, ORIGIN, checkpoint_every=25)
        b = await open_audit_writer(other.jetstream(), signer, ORIGIN, checkpoint_every=25)

        async def write(w: AuditWriter, base: int) -> list[int]:
            out: list[int] = []
            for i in range(30):
                out += await w.append([_entry(base + i)])
            return out

        got = await asyncio.gather(write(a, 0), write(b, 1000), write(a, 2000), write(b, 3000))
        await a.close()
        await b.close()
    finally:
        await other.drain()

    all_indexes = sorted(i for r in got for i in r)
    assert all_indexes == list(range(120))  # no index given twice, none skipped
    reader = AuditReader(fresh.jetstream())
    entries = await reader.read_all()
    report = verify_log(entries, await reader.checkpoints(), [signer.verifier()])
    assert report.ok, report.problem
    assert report.size == 120


async def test_a_writer_behind_another_appends_after_it(
    server: NatsServer, fresh: NatsClient, signer: CheckpointSigner
) -> None:
    other = await nats.connect(server.url)
    try:
        a = await open_audit_writer(fresh.jetstream(), signer, ORIGIN)
        b = await open_audit_writer(other.jetstream(), signer, ORIGIN)
        assert await a.append([_entry(1), _entry(2)]) == [0, 1]
        # b still believes the log is empty: the server refuses its first try, b reads the
        # tail and appends after it instead of writing a second entry 0.
        assert await b.append([_entry(3)]) == [2]
        assert await a.append([_entry(4)]) == [3]
        await a.close()
        await b.close()
    finally:
        await other.drain()
    reader = AuditReader(fresh.jetstream())
    report = verify_log(await reader.read_all(), await reader.checkpoints(), [signer.verifier()])
    assert report.ok and report.size == 4


async def test_a_writer_behind_another_never_stores_a_smaller_checkpoint_after_its(
    server: NatsServer, fresh: NatsClient, signer: CheckpointSigner
) -> None:
    """Two hub processes checkpoint the one log, each of the log as it knows it: one that
    knows less than the latest stored checkpoint does not store its own after it (the
    parties' witnesses would see the log's latest checkpoint shrink: a rollback)."""
    other = await nats.connect(server.url)
    reader = AuditReader(fresh.jetstream())
    try:
        a = await open_audit_writer(fresh.jetstream(), signer, ORIGIN)
        b = await open_audit_writer(other.jetstream(), signer, ORIGIN)
        await b.append([_entry(1)])
        assert await a.append([_entry(2), _entry(3)]) == [1, 2]  # after b's
        await a.checkpoint()
        await b.checkpoint()  # of 1 entry: b has not seen a's
        assert note_size(await reader.latest_checkpoint() or "") == 3
        assert await b.append([_entry(4)]) == [3]
        await b.checkpoint()  # now it knows more: stored
        assert note_size(await reader.latest_checkpoint() or "") == 4
        await a.close()  # its final checkpoint would be of 3 entries: not stored
        await b.close()  # of 4 again: stored
    finally:
        await other.drain()
    sizes = [note_size(note) for note in await reader.checkpoints()]
    assert sizes == [3, 4, 4], sizes
    report = verify_log(await reader.read_all(), await reader.checkpoints(), [signer.verifier()])
    assert report.ok and report.size == 4


async def test_stale_writer_is_refused_by_the_server(
    fresh: NatsClient, signer: CheckpointSigner
) -> None:
    js = fresh.jetstream()
    writer = await open_audit_writer(js, signer, ORIGIN)
    await writer.append([_entry(1)])
    # A publish that claims the stream is still empty (a stale writer) is refused.
    with pytest.raises(APIError) as info:
        await js.publish(
            AUDIT_SUBJECT,
            _entry(9).with_index(0).canonical(),
            headers={"Nats-Expected-Last-Sequence": "0"},
        )
    assert info.value.err_code == 10071
    await writer.close()


async def test_audit_streams_refuse_delete_and_purge(
    fresh: NatsClient, signer: CheckpointSigner
) -> None:
    js = fresh.jetstream()
    writer = await open_audit_writer(js, signer, ORIGIN)
    await writer.append([_entry(1), _entry(2)])
    await writer.close()
    for stream in (AUDIT_STREAM, CHECKPOINT_STREAM):
        with pytest.raises(APIError):
            await js.delete_msg(stream, 1)
        with pytest.raises(APIError):
            await js.purge_stream(stream)
        info = await js.stream_info(stream)
        assert info.config.deny_delete and info.config.deny_purge
    assert len(await AuditReader(js).read_all()) == 2


async def test_forged_message_on_the_stream_is_named_by_verify(
    fresh: NatsClient, signer: CheckpointSigner
) -> None:
    js = fresh.jetstream()
    writer = await open_audit_writer(js, signer, ORIGIN)
    await writer.append([_entry(i) for i in range(5)])
    await writer.close()
    # Someone with publish rights appends an entry claiming an index already taken.
    await js.publish(AUDIT_SUBJECT, _entry(99).with_index(2).canonical(), stream=AUDIT_STREAM)
    reader = AuditReader(js)
    report = verify_log(await reader.read_all(), await reader.checkpoints(), [signer.verifier()])
    assert not report.ok
    assert report.first_bad_index == 5
    # And a writer refuses to go on after a log it cannot read as one linear sequence.
    with pytest.raises(Exception, match="corrupt"):
        await open_audit_writer(js, signer, ORIGIN)


async def test_checkpoint_signed_by_another_key_on_the_stream_is_detected(
    fresh: NatsClient, signer: CheckpointSigner
) -> None:
    js = fresh.jetstream()
    writer = await open_audit_writer(js, signer, ORIGIN)
    await writer.append([_entry(i) for i in range(3)])
    await writer.close()
    intruder = CheckpointSigner(Ed25519PrivateKey.generate(), "hub-k1")
    note = (await AuditReader(js).checkpoints())[-1]
    body = note.partition("\n\n")[0] + "\n"
    forged = intruder.sign(Checkpoint.parse_body(body))
    await js.publish(CHECKPOINT_SUBJECT, forged.encode(), stream=CHECKPOINT_STREAM)
    reader = AuditReader(js)
    report = verify_log(await reader.read_all(), await reader.checkpoints(), [signer.verifier()])
    assert not report.ok
    assert report.problem is not None and report.problem.checkpoint == 1


@pytest.mark.parametrize(
    ("weakening", "named"),
    [
        ({"deny_delete": False}, "deny_delete is off"),
        ({"deny_purge": False}, "deny_purge is off"),
        ({"max_msgs": 1}, "max_msgs is 1"),
        ({"max_bytes": 4096}, "max_bytes is 4096"),
        ({"max_age": 60.0}, "max_age is 60"),
        ({"max_msgs_per_subject": 1}, "max_msgs_per_subject is 1"),
        # (the server allows roll-ups only without deny_purge)
        ({"deny_purge": False, "allow_rollup_hdrs": True}, "allow_rollup_hdrs is on"),
    ],
)
async def test_an_audit_stream_that_could_lose_entries_stops_the_writer(
    fresh: NatsClient, signer: CheckpointSigner, weakening: dict[str, object], named: str
) -> None:
    js = fresh.jetstream()
    config = StreamConfig(
        name=AUDIT_STREAM, subjects=[AUDIT_SUBJECT], deny_delete=True, deny_purge=True
    )
    for name, value in weakening.items():
        setattr(config, name, value)
    await js.add_stream(config)
    await js.publish(AUDIT_SUBJECT, b"an entry written before")
    with pytest.raises(AuditStreamWeakened, match=named) as caught:
        await AuditWriter.open(js, signer, ORIGIN)
    assert caught.value.stream == AUDIT_STREAM
    # The hub's start refuses it the same way, before it makes any other stream.
    with pytest.raises(AuditStreamWeakened, match=named):
        await ensure_audit_streams(js, HubSettings(nats_url="nats://unused"))
    # Refused, not "repaired": nothing was written and the stream is as it was.
    info = await js.stream_info(AUDIT_STREAM)
    assert info.state.messages == 1
    with pytest.raises(NotFoundError):
        await js.stream_info(CHECKPOINT_STREAM)


async def test_a_writer_refuses_audit_streams_the_hub_has_not_made(
    fresh: NatsClient, signer: CheckpointSigner
) -> None:
    js = fresh.jetstream()
    with pytest.raises(AuditStoreError, match="does not exist") as caught:
        await AuditWriter.open(js, signer, ORIGIN)
    assert not isinstance(caught.value, AuditStreamWeakened)
    with pytest.raises(NotFoundError):  # checked, not made
        await js.stream_info(AUDIT_STREAM)


async def test_a_new_audit_stream_keeps_every_entry(
    fresh: NatsClient, signer: CheckpointSigner
) -> None:
    js = fresh.jetstream()
    writer = await open_audit_writer(js, signer, ORIGIN)
    await writer.close()
    for stream in (AUDIT_STREAM, "AUDIT_CHECKPOINTS"):
        info = await js.stream_info(stream)
        assert weaknesses(info.config, replicas=1) == []
        assert info.config.deny_delete and info.config.deny_purge
    # Opening again finds them sound (same config: the server's create is idempotent).
    writer = await open_audit_writer(js, signer, ORIGIN)
    await writer.close()


# -- the operator CLI against the live log ----------------------------------------------------


async def _populate(url: str, key: Ed25519PrivateKey) -> None:
    nc = await nats.connect(url)
    js = nc.jetstream()
    writer = await open_audit_writer(js, CheckpointSigner(key, "hub-k1"), ORIGIN)
    mid = "01JB6X1Q8Y6Z3N4M5P7R8S9T0V"
    digest = sha256_digest(b"m")
    await writer.append(
        [
            kinds.hub_event("start", "hub"),
            kinds.received(
                message_id=mid,
                sender_country="GT",
                poc="gt-gangs",
                type_="gang_movement",
                theme="gangs",
                digest=digest,
                size=700,
            ),
            kinds.routed(mid, "SV", "gangs-2026", "gt-sv", "full", digest),
            kinds.undeliverable(mid, [("CR", "no_agreement")]),
            kinds.rejected(None, "HN", "bad_signature", digest, 10),
        ]
    )
    await writer.close()
    await nc.drain()


def test_cli_tail_show_verify_export_and_proofs(server: NatsServer, tmp_path: Path) -> None:
    key = Ed25519PrivateKey.generate()
    key_file = KeyStore(tmp_path / "keys").write(KeyKind.HUB, None, "hub-k1", key)
    asyncio.run(_populate(server.url, key))
    runner = CliRunner()
    url = ["--nats-url", server.url]
    keyopt = ["--key", str(key_file)]

    out = runner.invoke(cli, ["audit", "tail", "--json", *url])
    assert out.exit_code == 0, out.output
    assert len(out.output.splitlines()) == 5
    out = runner.invoke(cli, ["audit", "tail", "--country", "CR", "--json", *url])
    assert [json.loads(x)["kind"] for x in out.output.splitlines()] == ["undeliverable"]
    out = runner.invoke(cli, ["audit", "tail", "--theme", "gangs", *url])
    assert out.exit_code == 0 and "routed" in out.output and "rejected" not in out.output

    mid = "01JB6X1Q8Y6Z3N4M5P7R8S9T0V"
    out = runner.invoke(cli, ["audit", "show", mid, *url])
    assert out.exit_code == 0
    assert all(k in out.output for k in ("received", "routed", "undeliverable"))
    assert runner.invoke(cli, ["audit", "show", "01JB6X1Q8Y6Z3N4M5P7R8S9T0W", *url]).exit_code == 1

    out = runner.invoke(cli, ["audit", "verify", *keyopt, *url])
    assert out.exit_code == 0, out.output
    assert out.output.startswith("OK: 5 entries")

    export_file = tmp_path / "audit.jsonl"
    assert runner.invoke(cli, ["audit", "export", str(export_file), *url]).exit_code == 0
    out = runner.invoke(cli, ["audit", "verify", "--from-export", str(export_file), *keyopt])
    assert out.exit_code == 0, out.output

    kept = tmp_path / "checkpoint.txt"
    assert runner.invoke(cli, ["audit", "checkpoint", "-o", str(kept), *url]).exit_code == 0
    assert kept.read_text().split("\n")[1] == "5"
    out = runner.invoke(cli, ["audit", "verify", "--checkpoint", str(kept), *keyopt, *url])
    assert out.exit_code == 0, out.output
    out = runner.invoke(cli, ["audit", "consistency", str(kept), "latest", *keyopt, *url])
    assert out.exit_code == 0, out.output
    out = runner.invoke(cli, ["audit", "consistency", "0", "5", "--json", *keyopt, *url])
    assert out.exit_code == 13, out.output  # no checkpoint of the empty log was signed

    proof_file = tmp_path / "proof.json"
    out = runner.invoke(cli, ["audit", "proof", mid, "-o", str(proof_file), *url])
    assert out.exit_code == 0, out.output
    assert len(json.loads(proof_file.read_text())["proofs"]) == 3
    out = runner.invoke(cli, ["audit", "verify-proof", str(proof_file), *keyopt])
    assert out.exit_code == 0, out.output
    assert out.output.count("OK: entry") == 3
    other = KeyStore(tmp_path / "other").write(
        KeyKind.HUB, None, "hub-k1", Ed25519PrivateKey.generate()
    )
    out = runner.invoke(cli, ["audit", "verify-proof", str(proof_file), "--key", str(other)])
    assert out.exit_code == 1


def test_cli_says_when_nats_is_unreachable(tmp_path: Path) -> None:
    out = CliRunner().invoke(
        cli, ["audit", "tail", "--nats-url", f"nats://127.0.0.1:{free_port()}"]
    )
    assert out.exit_code == 6
    assert "cannot reach NATS" in out.output


async def test_checkpoints_are_signed_every_t_seconds(
    fresh: NatsClient, signer: CheckpointSigner
) -> None:
    js = fresh.jetstream()
    writer = await open_audit_writer(js, signer, ORIGIN, checkpoint_seconds=0.05)
    await writer.append([_entry(1), _entry(2)])
    reader = AuditReader(js)
    for _ in range(200):  # no timing assertion: wait (up to ~10 s) for the timer's checkpoint
        if await reader.latest_checkpoint():
            break
        await asyncio.sleep(0.05)
    note = await reader.latest_checkpoint()
    assert note is not None
    assert Checkpoint.parse_body(note.partition("\n\n")[0] + "\n").size == 2
    await writer.close()
    with pytest.raises(AuditStoreError):
        await writer.append([_entry(3)])


async def test_a_kept_checkpoint_catches_a_log_recreated_shorter(
    fresh: NatsClient, signer: CheckpointSigner, tmp_path: Path
) -> None:
    js = fresh.jetstream()
    writer = await open_audit_writer(js, signer, ORIGIN)
    await writer.append([_entry(i) for i in range(6)])
    await writer.close()
    kept = await AuditReader(js).latest_checkpoint()
    assert kept is not None
    # Someone with admin rights deletes the whole stream and writes a shorter history.
    for stream in (AUDIT_STREAM, CHECKPOINT_STREAM):
        await js.delete_stream(stream)
    writer = await open_audit_writer(js, signer, ORIGIN)
    await writer.append([_entry(i) for i in range(3)])
    await writer.close()
    reader = AuditReader(js)
    entries, notes = await reader.read_all(), await reader.checkpoints()
    assert verify_log(entries, notes, [signer.verifier()]).ok  # consistent with itself…
    report = verify_log(entries, [*notes, kept], [signer.verifier()])
    assert not report.ok  # …but not with the checkpoint a party kept
    assert report.first_bad_index == 3


# -- start-up from the state stored with the latest checkpoint -------------------------------


async def _write_batches(writer: AuditWriter, batches: int, base: int = 0) -> None:
    for i in range(batches):  # one append at a time: one AUDIT message each
        await writer.append([_entry(base + 2 * i), _entry(base + 2 * i + 1)])


async def _full_rebuild(js: JetStreamContext) -> tuple[int, bytes, int, CheckpointVerifier]:
    """Size, root and batches read of a writer that reads the whole log, and its key.

    Its key signed none of the checkpoints, so it cannot start from one; its own final
    checkpoint is signed by that key (hence the verifier).
    """
    stranger = CheckpointSigner(Ed25519PrivateKey.generate(), "hub-k1")
    writer = await open_audit_writer(js, stranger, ORIGIN)
    assert writer.opened is not None and writer.opened.resumed_from is None
    await writer.close()
    return writer.size, writer.root(), writer.opened.batches_read, stranger.verifier()


async def _verify(js: JetStreamContext, *verifiers: CheckpointVerifier) -> int:
    reader = AuditReader(js)
    report = verify_log(await reader.read_all(), await reader.checkpoints(), verifiers)
    assert report.ok, report.problem
    return report.size


async def test_a_writer_opened_after_a_checkpoint_reads_only_what_follows_it(
    fresh: NatsClient, signer: CheckpointSigner
) -> None:
    js = fresh.jetstream()
    first = await open_audit_writer(js, signer, ORIGIN, checkpoint_every=10_000)
    await _write_batches(first, 80)
    await first.close()  # the final checkpoint stores its state: 160 entries, sequence 80
    # A writer that never checkpoints (it crashed, say) adds 5 batches after it.
    crashed = await open_audit_writer(js, signer, ORIGIN, checkpoint_every=10_000)
    assert crashed.opened is not None
    assert (crashed.opened.resumed_from, crashed.opened.batches_read) == (160, 0)
    await _write_batches(crashed, 5, base=1000)

    with capture_logs() as logs:
        writer = await open_audit_writer(js, signer, ORIGIN)
    opened = writer.opened
    assert opened is not None
    assert opened.resumed_from == 160 and opened.reason is None
    assert (opened.start_seq, opened.batches_read, opened.size) == (81, 5, 170)
    assert next(e for e in logs if e["event"] == "audit_writer_opened")["batches_read"] == 5
    assert not [e for e in logs if e["event"] == "audit_writer_full_read"]
    assert await writer.append([_entry(5000), _entry(5001)]) == [170, 171]
    await writer.close()
    await crashed.close()

    size, root, batches_read, stranger = await _full_rebuild(js)
    assert (size, root, batches_read) == (172, writer.root(), 86)
    assert await _verify(js, signer.verifier(), stranger) == 172


async def _republish_latest(js: JetStreamContext, headers: dict[str, str] | None) -> None:
    """Store the latest checkpoint note again, as the latest, with other headers."""
    note = await AuditReader(js).latest_checkpoint()
    assert note is not None
    await js.publish(CHECKPOINT_SUBJECT, note.encode(), stream=CHECKPOINT_STREAM, headers=headers)


async def _state_of_latest(js: JetStreamContext) -> WriterState:
    stored = await AuditReader(js).latest_checkpoint_message()
    assert stored is not None
    return WriterState.parse_text(
        base64.b64decode(stored.headers[HDR_STATE]).decode().partition("\n\n")[0] + "\n"
    )


async def _open_falls_back(js: JetStreamContext, signer: CheckpointSigner, why: str) -> AuditWriter:
    with capture_logs() as logs:
        writer = await open_audit_writer(js, signer, ORIGIN)
    assert writer.opened is not None
    assert writer.opened.resumed_from is None and writer.opened.start_seq == 1
    assert writer.opened.reason is not None and why in writer.opened.reason
    assert [e["reason"] for e in logs if e["event"] == "audit_writer_full_read"] == [
        writer.opened.reason
    ]
    return writer


@pytest.mark.parametrize("forgery", ["peaks changed", "peaks re-signed wrong"])
async def test_a_checkpoint_with_tampered_peaks_makes_the_writer_read_everything(
    fresh: NatsClient, signer: CheckpointSigner, forgery: str
) -> None:
    js = fresh.jetstream()
    first = await open_audit_writer(js, signer, ORIGIN)
    await _write_batches(first, 6)
    await first.close()
    state = await _state_of_latest(js)
    wrong_peaks = (leaf_hash(b"forged"), *state.peaks[1:])
    if forgery == "peaks changed":  # by someone without the key: the state's signature fails
        note = signer.sign_state(state)
        note = note.replace(
            base64.b64encode(state.peaks[0]).decode(), base64.b64encode(wrong_peaks[0]).decode()
        )
        why = "does not match"
    else:  # by the key itself (a bug): the peaks do not give the signed root
        note = signer.sign_state(dataclasses.replace(state, peaks=wrong_peaks))
        why = "stored peaks do not give the signed root hash"
    await _republish_latest(js, {HDR_STATE: base64.b64encode(note.encode()).decode()})

    writer = await _open_falls_back(js, signer, why)
    assert writer.opened is not None and writer.opened.batches_read == 6
    assert await writer.append([_entry(99)]) == [12]
    await writer.close()
    assert await _verify(js, signer.verifier()) == 13


async def test_a_log_whose_checkpoints_carry_no_state_opens_by_reading_everything(
    fresh: NatsClient, signer: CheckpointSigner
) -> None:
    js = fresh.jetstream()
    first = await open_audit_writer(js, signer, ORIGIN)
    await _write_batches(first, 4)
    await first.close()
    await _republish_latest(js, None)  # a checkpoint as the code before states wrote it

    writer = await _open_falls_back(js, signer, "carries no writer state")
    assert await writer.append([_entry(99)]) == [8]
    await writer.close()
    assert await _verify(js, signer.verifier()) == 9
    # Its own final checkpoint has a state: the next writer starts from it.
    following = await open_audit_writer(js, signer, ORIGIN)
    assert following.opened is not None and following.opened.resumed_from == 9
    await following.close()


async def test_after_a_key_rotation_the_writer_reads_everything_once(
    fresh: NatsClient, signer: CheckpointSigner
) -> None:
    js = fresh.jetstream()
    first = await open_audit_writer(js, signer, ORIGIN)
    await _write_batches(first, 3)
    await first.close()
    rotated = CheckpointSigner(Ed25519PrivateKey.generate(), "hub-k2")
    writer = await _open_falls_back(js, rotated, "not signed by this hub's key 'hub-k2'")
    await writer.append([_entry(99)])
    await writer.close()
    assert await _verify(js, signer.verifier(), rotated.verifier()) == 7


async def test_a_recreated_audit_stream_is_not_taken_for_the_checkpointed_one(
    fresh: NatsClient, signer: CheckpointSigner
) -> None:
    js = fresh.jetstream()
    first = await open_audit_writer(js, signer, ORIGIN)
    await _write_batches(first, 3)
    await first.close()
    await js.delete_stream(AUDIT_STREAM)  # an administrator; the checkpoints stay
    writer = await _open_falls_back(js, signer, "is not the one the checkpoint covers")
    assert writer.size == 0
    await writer.close()


async def test_two_writers_resumed_from_a_checkpoint_keep_one_linear_log(
    server: NatsServer, fresh: NatsClient, signer: CheckpointSigner
) -> None:
    js = fresh.jetstream()
    first = await open_audit_writer(js, signer, ORIGIN)
    await _write_batches(first, 10)
    await first.close()
    other = await nats.connect(server.url)
    try:
        a = await open_audit_writer(js, signer, ORIGIN, checkpoint_every=7)
        b = await open_audit_writer(other.jetstream(), signer, ORIGIN, checkpoint_every=7)
        for w in (a, b):
            assert w.opened is not None and w.opened.resumed_from == 20

        async def write(w: AuditWriter, base: int) -> list[int]:
            return [i for n in range(15) for i in await w.append([_entry(base + n)])]

        got = await asyncio.gather(write(a, 0), write(b, 1000), write(a, 2000), write(b, 3000))
        await a.close()
        await b.close()
        # A third writer resumes from whichever checkpoint came last and agrees with both.
        c = await open_audit_writer(js, signer, ORIGIN)
        assert c.opened is not None and c.opened.resumed_from is not None
        assert await c.append([_entry(9999)]) == [80]
        await c.close()
    finally:
        await other.drain()
    assert sorted(i for r in got for i in r) == list(range(20, 80))
    assert await _verify(js, signer.verifier()) == 81
    size, root, _, stranger = await _full_rebuild(js)
    assert (size, root) == (81, c.root())
    assert await _verify(js, signer.verifier(), stranger) == 81
