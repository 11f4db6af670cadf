"""What the Volumes page shows: messages by theme and by country over a window, and
accepted vs rejected by reason, from the console's :class:`~hub.console.tally.AuditTally`.

"Accepted" counts the ``received`` entries (a message the hub verified and decided on,
whether or not it reached anyone); a redelivered message's repeated decision is not
counted again. "Rejected" counts ``rejected`` entries, by reason code.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from hub.console.tally import RECEIVED, REJECTED, WINDOWS, AuditTally, Window

__all__ = ["VolumeFilter", "volume_report"]

_DEFAULT_WINDOW = "24h"


@dataclass(frozen=True)
class VolumeFilter:
    """The page's filters as given in the URL: ``window`` (1h, 24h, 7d) and ``country``."""

    window: Window
    country: str = ""

    @classmethod
    def from_query(cls, query: Mapping[str, str]) -> VolumeFilter:
        window = WINDOWS.get(query.get("window", ""), WINDOWS[_DEFAULT_WINDOW])
        country = query.get("country", "").strip().upper()
        return cls(window, country if len(country) == 2 and country.isalpha() else "")

    def query(self) -> dict[str, str]:
        """The URL query that links to this view."""
        found = {"window": self.window.name}
        if self.country:
            found["country"] = self.country
        return found


def volume_report(tally: AuditTally, flt: VolumeFilter, now: datetime) -> dict[str, Any]:
    """The counts of ``flt``'s window up to ``now``, as the page's JSON endpoint returns them.

    Args:
        tally: the counts, refreshed by the caller.
        flt: the window and the sender country (empty: all).
        now: the end of the window.

    Returns:
        ``times`` (each bucket's start, epoch seconds), ``by_theme`` and ``by_country``
        (a count per bucket for each), ``accepted`` and ``rejected`` (reason → count)
        over the whole window, and the window itself.
    """
    times = flt.window.starts(now)
    slot = {at: i for i, at in enumerate(times)}
    by_theme: dict[str, list[int]] = {}
    by_country: dict[str, list[int]] = {}
    rejected: Counter[str] = Counter()
    accepted = 0
    for (kind, name, country), at, n in tally.counts(flt.window, now):
        if flt.country and country != flt.country:
            continue
        if kind == REJECTED:
            rejected[name] += n
        elif kind == RECEIVED and at in slot:
            accepted += n
            by_theme.setdefault(name, [0] * len(times))[slot[at]] += n
            by_country.setdefault(country, [0] * len(times))[slot[at]] += n
    return {
        "window": flt.window.name,
        "bucket_seconds": flt.window.bucket,
        "country": flt.country or None,
        "times": times,
        "by_theme": dict(sorted(by_theme.items())),
        "by_country": dict(sorted(by_country.items())),
        "accepted": accepted,
        "rejected": dict(rejected.most_common()),
    }
