"""Test factories: :mod:`schemas.testing`, where ``tests/`` and ``bench/`` both find them."""

from __future__ import annotations

from schemas.testing import EPOCH, TestDirectory, later, make_directory, poc_id

__all__ = ["EPOCH", "TestDirectory", "later", "make_directory", "poc_id"]
