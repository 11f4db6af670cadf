"""Offline work on a deployment: ``enlace init``, directory edits, the demo agreements."""
