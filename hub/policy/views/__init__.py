"""Redacted views checked against the message schemas: the check, its samples, the schemas."""
