"""The NATS server side: the embedded nats-server process, its logins and their permissions."""
