"""The deployment layout, as the hub uses it (defined once in :mod:`schemas.layout`)."""

from __future__ import annotations

from schemas.layout import DEFAULT_HOME, Deployment, resolve_home

__all__ = ["DEFAULT_HOME", "Deployment", "resolve_home"]
