"""The wire contract every part shares, with no network: envelope, typed payloads, signatures,
directory and trust root, every subject and consumer name, outcomes, errors."""
