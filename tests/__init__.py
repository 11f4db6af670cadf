"""The test suite: mirrors the packages; ``integration/`` runs real nats-server, PostgreSQL
and browser."""
