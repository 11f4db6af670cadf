"""One message's way through the hub: checks, replay refusal, routing, writes, notices, receipts.

``ingress`` runs a fetched batch (``checks`` → ``replay`` → policy → writes → audit hook →
ack); ``quarantine`` is what a refused message leaves behind (with its notice, a
:class:`schemas.outcomes.Outcome`); ``requests``
remembers who asked what, for replies; ``receipts`` records the sinks' signed receipts.
"""
