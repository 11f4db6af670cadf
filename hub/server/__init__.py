"""The NATS server side: the embedded nats-server process, its logins and their permissions,
and how the operator commands reach it.
"""

__all__: list[str] = []
