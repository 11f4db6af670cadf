"""The wire contract every part shares, with no network: envelope, typed payloads, signatures,
directory and trust root, every subject and consumer name, outcomes, errors; and the two
client rules hub and adapters share without importing each other and without a NATS import
(:mod:`schemas.tls`, whom a client trusts; :mod:`schemas.pull`, how a batch is fetched)."""
