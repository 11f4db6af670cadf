"""Enlace message schemas: envelope, typed payloads, signatures, directory. No network."""
