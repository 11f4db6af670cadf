"""The NATS server side: the embedded nats-server process and its private files, its logins
and their permissions (``logins/``), and how the operator commands reach it.
"""

__all__: list[str] = []
