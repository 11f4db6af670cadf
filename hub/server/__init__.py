"""The NATS server side: the embedded nats-server process, its logins and their permissions."""

__all__: list[str] = []
