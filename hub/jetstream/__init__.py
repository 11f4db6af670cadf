"""JetStream plumbing: every stream, bucket and durable consumer, the batch writer, the pull loop.

- ``streams``: the stream registry (the audit streams too) and the key-value buckets;
- ``consumers``: every durable consumer, made, mended or refused;
- ``writer``: several writes at once, waited for together;
- ``pull``: the one pull loop every consumer the hub reads goes through.
"""
