"""JetStream plumbing: every stream, key-value bucket and durable consumer, and the batch writer."""
