"""``enlace audit verify --from-export`` and ``verify-proof`` work offline."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

from click.testing import CliRunner
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from hub.audit.checkpoint import Checkpoint, CheckpointSigner
from hub.audit.export import write_export
from hub.audit.merkle import CompactTree, inclusion_proof, leaf_hash
from hub.audit.verify import make_proof_bundle
from hub.cli import cli
from hub.governance.keystore import KeyKind, KeyStore
from tests.hub.audit.test_verify import ORIGIN, build_log


def _setup(tmp_path: Path) -> tuple[Path, Path, CheckpointSigner]:
    key = Ed25519PrivateKey.generate()
    signer = CheckpointSigner(key, "hub-k1")
    public = tmp_path / "hub-k1.pub.pem"
    public.write_bytes(
        key.public_key().public_bytes(Encoding.PEM, PublicFormat.SubjectPublicKeyInfo)
    )
    log = build_log(12, 5, signer)
    export = tmp_path / "audit.jsonl"
    write_export(export, ORIGIN, log.entries, log.notes)
    return export, public, signer


def test_verify_export_offline_ok_and_failed(tmp_path: Path) -> None:
    export, public, _ = _setup(tmp_path)
    runner = CliRunner()
    out = runner.invoke(
        cli, ["audit", "verify", "--from-export", str(export), "--key", str(public)]
    )
    assert out.exit_code == 0, out.output
    assert out.output.startswith("OK: 12 entries, root ")
    # Without a directory of the parties' keys (only --key), witnesses cannot be counted.
    assert "note: witnesses not counted" in out.output

    lines = export.read_bytes().split(b"\n")
    lines[1 + 7] = lines[1 + 7].replace(b'"size":7', b'"size":8')
    export.write_bytes(b"\n".join(lines))
    out = runner.invoke(
        cli, ["audit", "verify", "--from-export", str(export), "--key", str(public), "--json"]
    )
    assert out.exit_code == 1
    report = json.loads(out.output)
    assert report["ok"] is False and report["first_bad_index"] == 5


def test_a_key_readable_by_others_is_refused(tmp_path: Path) -> None:
    export, _, _ = _setup(tmp_path)
    key_file = KeyStore(tmp_path / "keys").write(
        KeyKind.HUB, None, "hub-k1", Ed25519PrivateKey.generate()
    )
    key_file.chmod(0o644)
    out = CliRunner().invoke(
        cli, ["audit", "verify", "--from-export", str(export), "--key", str(key_file)]
    )
    assert out.exit_code == 2
    assert "chmod 600" in out.output


def test_verify_proof_offline(tmp_path: Path) -> None:
    _, public, signer = _setup(tmp_path)
    log = build_log(9, 9, signer)
    hashes = [leaf_hash(x) for x in log.entries]
    bundle = make_proof_bundle(log.entries[4], 4, inclusion_proof(hashes, 4), log.notes[-1])
    proof = tmp_path / "p.json"
    proof.write_text(json.dumps(bundle))
    runner = CliRunner()
    out = runner.invoke(cli, ["audit", "verify-proof", str(proof), "--key", str(public)])
    assert out.exit_code == 0, out.output
    assert "OK: entry 4" in out.output
    bundle["index"] = 3
    proof.write_text(json.dumps(bundle))
    out = runner.invoke(cli, ["audit", "verify-proof", str(proof), "--key", str(public)])
    assert out.exit_code == 1 and "proof refused" in out.output


def test_verify_without_deployment_or_key_says_what_to_do(tmp_path: Path) -> None:
    export, _, _ = _setup(tmp_path)
    out = CliRunner().invoke(
        cli, ["--home", str(tmp_path / "none"), "audit", "verify", "--from-export", str(export)]
    )
    assert out.exit_code == 4
    assert "no deployment" in out.output


def test_verify_uses_the_hub_keys_of_the_deployment_directory(tmp_path: Path) -> None:
    home = tmp_path / "dep"
    runner = CliRunner()
    assert runner.invoke(cli, ["init", str(home), "--demo"]).exit_code == 0
    key = KeyStore(home / "keys").load(KeyKind.HUB, None, "hub-k1")
    log = build_log(6, 4, CheckpointSigner(key, "hub-k1"))
    export = tmp_path / "audit.jsonl"
    write_export(export, ORIGIN, log.entries, log.notes)
    out = runner.invoke(cli, ["--home", str(home), "audit", "verify", "--from-export", str(export)])
    assert out.exit_code == 0, out.output
    stranger = build_log(6, 4, CheckpointSigner(Ed25519PrivateKey.generate(), "hub-k1"))
    write_export(export, ORIGIN, stranger.entries, stranger.notes)
    out = runner.invoke(cli, ["--home", str(home), "audit", "verify", "--from-export", str(export)])
    assert out.exit_code == 1 and "not signed by a known hub key" in out.output


def test_consistency_from_the_cli_proves_extension_and_refuses_a_fork(tmp_path: Path) -> None:
    export, public, signer = _setup(tmp_path)  # checkpoints of sizes 5, 10 and 12
    runner = CliRunner()
    base = ["audit", "consistency", "--from-export", str(export), "--key", str(public)]
    out = runner.invoke(cli, [*base, "5", "latest"])
    assert out.exit_code == 0, out.output
    assert "size 12" in out.output and "size 5" in out.output
    out = runner.invoke(cli, [*base, "5", "10", "--json"])
    result = json.loads(out.output)
    assert out.exit_code == 0 and result["ok"] is True
    assert (result["old"]["size"], result["new"]["size"]) == (5, 10) and result["proof"]

    # A checkpoint kept from a fork: same key, same origin, another entry at index 3.
    forked = build_log(12, 7, signer)
    forked.entries[3] = forked.entries[3].replace(b"bad_signature", b"bad_signaturf")
    kept_fork = tmp_path / "fork.note"
    kept_fork.write_text(build_fork_note(forked.entries[:7], signer))
    out = runner.invoke(cli, [*base, str(kept_fork), "latest"])
    assert out.exit_code == 1, out.output
    assert "FAILED" in out.output

    # A checkpoint kept from when the log was longer (a rollback since).
    longer = build_log(15, 15, signer)
    kept_long = tmp_path / "long.note"
    kept_long.write_text(longer.notes[-1])
    out = runner.invoke(cli, [*base, "12", str(kept_long), "--json"])
    assert out.exit_code == 1 and "only 12 entries" in json.loads(out.output)["problem"]

    assert runner.invoke(cli, [*base, "7", "12"]).exit_code == 13  # no checkpoint of size 7
    assert runner.invoke(cli, [*base, "12", "5"]).exit_code == 2
    other = CheckpointSigner(Ed25519PrivateKey.generate(), "hub-k1")
    forged = tmp_path / "forged.note"
    forged.write_text(build_log(5, 5, other).notes[-1])
    out = runner.invoke(cli, [*base, str(forged), "12"])
    assert out.exit_code == 1 and "not signed by a known hub key" in out.output


def build_fork_note(entries: list[bytes], signer: CheckpointSigner) -> str:
    tree = CompactTree()
    for raw in entries:
        tree.append(leaf_hash(raw))
    return signer.sign(Checkpoint(ORIGIN, tree.size, tree.root(), datetime.now(UTC)))
