"""Offline work on a deployment: ``enlace init``, directory edits, the demo's content."""

__all__: list[str] = []
