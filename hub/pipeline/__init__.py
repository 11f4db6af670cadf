"""One message's way through the hub, from its ingress stream to its deliveries or its refusal.

- ``intake``: the pull loops of the countries' ingress streams (one shared bound);
- ``ingress``: a fetched batch, message by message: ``checks`` (no I/O) → ``replay``
  (seen ids) → policy → deliveries, notice, quarantine copy, audit entries → outcome
  (``outcomes``: kept per sender and id, to be collected later) → ack;
- ``checks``, ``replay``, ``requests`` (who asked what, for replies), ``quarantine`` (the
  copy a refused message leaves), ``audit_hook`` (each outcome as audit entries);
- ``receipt_checks`` and ``receipts``: the sinks' signed receipts, judged, then recorded;
- ``oversize``: what the NATS server refused for its size before the hub could see it,
  noticed to its sender and audited.

What the sender is told is a :class:`schemas.outcomes.Outcome`.
"""
