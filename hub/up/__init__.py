"""The composition root of ``enlace up``: server, audit writer, hub app and adapter children.

``runner`` starts and stops them in order; ``server`` is the NATS side (logins, the
embedded server), ``sinks`` the ``adapters:`` section, ``children`` the adapter processes
and ``reload`` what SIGHUP does.
"""

__all__: list[str] = []
