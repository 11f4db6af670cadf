"""How a file sink names an ``OSError``: an outage of its medium, or a passing failure."""

from __future__ import annotations

import errno

from adapters.errors import SinkOutage, TransientSinkError

__all__ = ["storage_error"]

# Out of space, quota, read-only, no permission: the medium, not the delivery, is at fault;
# an operator must act, and the delivery waits for it in order.
_OUTAGE_ERRNOS = {errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EACCES, errno.EPERM}


def storage_error(err: OSError, what: str) -> TransientSinkError:
    """The sink error for ``err`` met while writing ``what``: a :class:`SinkOutage` when the
    medium refuses every write, else a :class:`TransientSinkError` (retried, then
    dead-lettered)."""
    text = f"cannot write {what}: {err.strerror or err}"
    if err.errno in _OUTAGE_ERRNOS:
        return SinkOutage(text)
    return TransientSinkError(text)
