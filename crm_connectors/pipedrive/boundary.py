"""Incremental position in an `update_time`-sorted Pipedrive list.

Pipedrive's `updated_since` is inclusive (`update_time >= since`), so asking again from the newest
`update_time` we committed returns the records at that instant once more. The boundary keeps that instant
and the ids we already took at it: those are skipped, anything else at or after it is new. Unlike an
exclusive bound, this loses nothing written later in the same second.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any


def rfc3339(moment: dt.datetime) -> str:
    """The form Pipedrive's `updated_since` takes: 2025-01-01T10:20:00Z (UTC, whole seconds)."""
    return moment.astimezone(dt.UTC).replace(microsecond=0).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass
class Boundary:
    since: dt.datetime | None = None
    ids: set[str] = field(default_factory=set)

    @classmethod
    def load(cls, raw: Mapping[str, Any] | None) -> Boundary:
        if not raw or not raw.get("since"):
            return cls()
        since = dt.datetime.fromisoformat(str(raw["since"]))
        return cls(since if since.tzinfo else since.replace(tzinfo=dt.UTC), {str(i) for i in raw.get("ids", ())})

    def dump(self) -> dict[str, Any]:
        if self.since is None:
            return {}
        return {"since": rfc3339(self.since), "ids": sorted(self.ids, key=lambda i: (len(i), i))}

    def seen(self, updated_at: dt.datetime, record_id: str) -> bool:
        """Taken already: at the boundary instant and among the ids taken there."""
        return self.since is not None and updated_at.replace(microsecond=0) == self.since and record_id in self.ids

    def advance(self, updated_at: dt.datetime, record_id: str) -> None:
        # update_time has whole seconds; dropping anything finer keeps the stored boundary exact.
        updated_at = updated_at.replace(microsecond=0)
        if self.since is None or updated_at > self.since:
            self.since, self.ids = updated_at, {record_id}
        elif updated_at == self.since:
            self.ids.add(record_id)
