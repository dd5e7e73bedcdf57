"""Write-side services for CRM connections: create/configure a connection, schedule and start syncs."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import jsonschema
from django.conf import settings
from django.db import transaction
from django.utils import timezone

from crm_connectors.base import Connector, ConnectorError
from crm_connectors.connections import connector_open
from crm_connectors.http import HostNotAllowed, outbound_url_check
from crm_connectors.models import CRMConnection, SyncRun
from crm_connectors.outbox import sync_run_send
from crm_connectors.registry import connector_class_get
from crm_connectors.schedules import (
    connection_reconcile_schedule,
    connection_schedule_sync,
    connection_writeback_schedule,
)
from salesai.core.models import Organization
from salesai.core.services import audit_log_record

logger = logging.getLogger(__name__)


def connection_create(
    *,
    organization: Organization,
    kind: str,
    name: str,
    config: Mapping[str, Any] | None = None,
    credentials: Mapping[str, Any] | None = None,
    sync_interval_minutes: int | None = None,
    actor_id: int | None = None,
) -> CRMConnection:
    """Create the organization's connection `name` (or update it: same kind required) and schedule its sync.

    `config` is validated against the connector's settings schema; `credentials` are stored encrypted and
    left as they are on update when not given. Raises ConnectorError on an unknown kind or bad config.
    The change is audited as `actor_id`'s (None: an operator's command or the system).
    """
    connector_class = connection_config_validate(organization=organization, kind=kind, config=config)
    config = dict(config or {})
    interval = sync_interval_minutes or settings.SYNC_DEFAULT_INTERVAL_MINUTES
    if interval < 1:
        raise ConnectorError("sync_interval_minutes must be at least 1")

    with transaction.atomic():
        connection = CRMConnection.objects.select_for_update().filter(organization=organization, name=name).first()
        if connection is None:
            connection = CRMConnection(organization=organization, name=name, kind=kind)
        elif connection.kind != kind:
            raise ConnectorError(f"connection {name!r} already exists with kind {connection.kind!r}")
        before = {"config": connection.config, "sync_interval_minutes": connection.sync_interval_minutes}
        created = connection.pk is None
        connection.config = config
        if credentials is not None:
            connection.credentials = dict(credentials)
        if sync_interval_minutes is not None or connection.pk is None:
            connection.sync_interval_minutes = interval
        connection.save()
        connection_change_audit(
            connection=connection,
            actor_id=actor_id,
            created=created,
            credentials_replaced=credentials is not None,
            fields=[field for field, value in before.items() if getattr(connection, field) != value],
        )
        connection_schedule_sync(connection=connection)
        if "writeback" in connector_class.features:
            connection_writeback_schedule(connection=connection)
        if "reconcile" in connector_class.features:
            connection_reconcile_schedule(connection=connection)
    return connection


def connection_change_audit(
    *, connection: CRMConnection, actor_id: int | None, created: bool, credentials_replaced: bool, fields: list[str]
) -> None:
    """Record who created or changed a connection, and what (field names only: never config or secrets)."""
    audit_log_record(
        action="connection.create" if created else "connection.update",
        organization_id=connection.organization_id,
        actor_id=actor_id,
        target_type="crm_connectors.crmconnection",
        target_id=connection.pk,
        detail={
            "name": connection.name,
            "kind": connection.kind,
            "fields": sorted(fields),
            "credentials_replaced": credentials_replaced,
        },
    )


def connection_config_validate(
    *, organization: Organization, kind: str, config: Mapping[str, Any] | None
) -> type[Connector]:
    """Raise ConnectorError unless `config` may be saved for `organization`'s `kind` connection: the
    connector's schema, then its own checks (a CSV folder must lie inside the organisation's folder)."""
    connector_class = _connector_class(kind)
    config = dict(config or {})
    _config_validate(connector_class.settings_schema, config, kind=kind)
    connector_class.config_check(config=config, organization_slug=organization.slug)
    return connector_class


def sync_run_start(*, connection_id: int, full: bool = False) -> SyncRun:
    """Queue a sync: a queued SyncRun now (the outbox row), its Celery task once this transaction commits.

    A broker that is down does not fail the request: the run stays queued and the outbox sweep sends it."""
    connection = CRMConnection.objects.get(pk=connection_id)
    run = SyncRun.objects.create(
        connection=connection,
        mode=SyncRun.Mode.FULL if full else SyncRun.Mode.INCREMENTAL,
        heartbeat_at=timezone.now(),
    )
    transaction.on_commit(lambda: sync_run_send(sync_run_id=run.pk, connection_id=connection.pk, full=full))
    return run


def _connector_class(kind: str) -> type[Connector]:
    try:
        return connector_class_get(kind)
    except KeyError as exc:
        raise ConnectorError(str(exc.args[0])) from None


def _config_validate(schema: Mapping[str, Any], config: dict[str, Any], *, kind: str) -> None:
    try:
        jsonschema.validate(config, schema)
    except jsonschema.ValidationError as exc:
        where = "/".join(str(part) for part in exc.absolute_path) or "config"
        raise ConnectorError(f"invalid {kind} config at {where}: {exc.message}") from None
    _config_urls_check(config, kind=kind)


def _config_urls_check(config: Mapping[str, Any], *, kind: str) -> None:
    """Base and token URLs may only name the vendor's hosts (or allow-listed ones): the stored token goes there."""
    vendor_hosts = _connector_class(kind).api_hosts
    if not vendor_hosts:
        return  # no HTTP API; its client, if any, still allows only CRM_ALLOWED_HOSTS
    for key, value in config.items():
        if key.endswith("url") and isinstance(value, str) and value:
            try:
                outbound_url_check(value, vendor_hosts=vendor_hosts)
            except HostNotAllowed as exc:
                raise ConnectorError(f"invalid {kind} config at {key}: {exc}") from None


@dataclass(frozen=True)
class CredentialsCheck:
    ok: bool
    error: str = ""  # why the CRM refused (or could not be reached); never contains a credential


def connection_credentials_check(*, connection_id: int) -> CredentialsCheck:
    """Build the connection's connector and make its cheap authenticated call (`check_credentials`).

    A refused token, an unreachable CRM or a config the connector rejects is a failed check, not an error:
    the caller shows the reason. Credential values are scrubbed from that reason, whatever the CRM echoed.
    A token rotated by an OAuth refresh during the check is saved, exactly as during a sync."""
    connection = CRMConnection.objects.select_related("organization").get(pk=connection_id)
    credentials = dict(connection.credentials or {})
    try:
        with connector_open(connection) as connector:
            connector.check_credentials()
    except ConnectorError as exc:
        return CredentialsCheck(ok=False, error=_secrets_scrubbed(str(exc) or type(exc).__name__, credentials))
    except Exception as exc:  # noqa: BLE001 - network/library failures: a failed check with its kind, no trace
        logger.warning("credentials check of connection %s failed: %s", connection_id, type(exc).__name__)
        return CredentialsCheck(ok=False, error=_secrets_scrubbed(f"{type(exc).__name__}: {exc}", credentials))
    return CredentialsCheck(ok=True)


def _secrets_scrubbed(message: str, credentials: Any) -> str:
    if isinstance(credentials, Mapping):
        credentials = list(credentials.values())
    for value in credentials if isinstance(credentials, list) else [credentials]:
        if isinstance(value, (Mapping, list)):
            message = _secrets_scrubbed(message, value)
        elif isinstance(value, str) and len(value) >= 4:  # shorter values would mangle ordinary words
            message = message.replace(value, "***")
    return message
