"""Exit codes of the ``enlace`` command; they mean the same thing in every command."""

from __future__ import annotations

from enum import IntEnum

__all__ = ["EXIT_CODES_HELP", "ExitCode"]


class ExitCode(IntEnum):
    OK = 0
    FAILED = 1  # the thing checked does not hold (invalid signature, bad audit log, …)
    USAGE = 2  # wrong arguments (click's own code)
    REJECTED = 3  # the hub refused the message (enlace publish)
    NO_DEPLOYMENT = 4  # no deployment at --home / ENLACE_HOME / ./.enlace
    GOVERNANCE = 5  # a governance file (trust root, directory, agreement) is refused
    UNAVAILABLE = 6  # NATS or another service could not be reached
    TIMEOUT = 7  # waited for an outcome that did not come
    # publish: the country's ingress quota is full, nothing was published, try again later;
    # up: another `enlace up` of the deployment runs, or a dead one's children (pids printed)
    BUSY = 8
    UNDELIVERABLE = 9  # the hub accepted the message but nobody receives it (reasons printed)
    DUPLICATE = 10  # this id was published before (the hub's record or JetStream's window)
    FORBIDDEN = 11  # the NATS server refused this login the subject (publish as yourself)
    NO_OUTCOME = 12  # no outcome kept for this id: expired, not yet decided, or not ours
    NOT_FOUND = 13  # no such item (enlace quarantine: no quarantine copy of this id or seq)


EXIT_CODES_HELP = (
    "Exit codes: 0 ok; 1 check failed (e.g. invalid signature, reason code printed); "
    "2 usage error; 3 message rejected by the hub; 4 no deployment found; "
    "5 governance file refused; 6 NATS unreachable; 7 timed out waiting; "
    "8 busy: the country's ingress quota is full (try again later), or `enlace up` already "
    "runs for this deployment (its pid printed); 9 accepted but delivered to "
    "nobody (each party's reason printed); 10 duplicate: this id was published before; "
    "11 the NATS server refused this login the subject (a country publishes only as itself); "
    "12 no such outcome (enlace outcome: expired, or never sent by you); "
    "13 not found (enlace quarantine: no copy of this id or sequence)."
)
