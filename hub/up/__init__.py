"""The composition root of ``enlace up``: server, audit writer, hub app and adapter children.

``runner`` starts and stops them in order; ``server`` is the NATS side (logins, the
embedded server and its restarts), ``sinks`` the ``adapters:`` section, ``children`` the
adapter processes, ``reload`` what SIGHUP does, ``pidfiles`` the lock and the records that
let the next ``enlace up`` stop what a dead one left (and nothing else), ``restarts`` how
often a dead server is started again.
"""

__all__: list[str] = []
