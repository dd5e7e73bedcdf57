"""Opening a connection's connector: the one place that builds it, saves the credentials it rotates and closes it.

Every engine (sync, webhook processing, writeback, the connection test) goes through `connector_open`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from typing import Any

from crm_connectors.base import Connector
from crm_connectors.models import CRMConnection
from crm_connectors.registry import connector_build


def connection_credentials_save(*, connection_id: int, credentials: Mapping[str, Any]) -> None:
    """Store new credentials (e.g. a rotated OAuth refresh token), encrypted, replacing the old ones."""
    CRMConnection.objects.filter(pk=connection_id).update(credentials=dict(credentials))


@contextmanager
def connector_open(
    connection: CRMConnection, *, run_saves: Callable[[Callable[[], None]], None] | None = None
) -> Iterator[Connector]:
    """The connection's connector, bound to its organisation, its rotated credentials saved at once (outside
    any page transaction: a rolled-back page must not lose a rotated token), closed on the way out whatever
    happens. `run_saves` runs each save where it must run (the sync engine: on its own thread, while pages
    are read ahead in another; see `prefetch.ConsumerRelay`)."""
    connector = connector_build(connection=connection)
    connection_id = connection.pk

    def save(credentials: dict[str, Any]) -> None:
        connection_credentials_save(connection_id=connection_id, credentials=credentials)

    if run_saves is None:
        connector.on_credentials_change = save
    else:
        connector.on_credentials_change = lambda credentials: run_saves(lambda: save(credentials))
    with connector:
        yield connector
