"""Decorator registry of connector classes, keyed by their `name`: the one table of CRM kinds, their
connectors and (through the connector class) their webhook modules."""

from importlib import import_module
from types import ModuleType
from typing import TYPE_CHECKING

from crm_connectors.base import Connector
from crm_connectors.webhook_types import WebhookTargetNotFound

if TYPE_CHECKING:
    from crm_connectors.models import CRMConnection

_CONNECTORS: dict[str, type[Connector]] = {}

BUILTIN_CONNECTOR_MODULES = (
    "crm_connectors.csv.connector",
    "crm_connectors.hubspot.connector",
    "crm_connectors.pipedrive.connector",
    "crm_connectors.salesforce.connector",
)


def register(cls: type[Connector]) -> type[Connector]:
    if not cls.name:
        raise ValueError(f"{cls.__qualname__} has no name")
    existing = _CONNECTORS.get(cls.name)
    if existing is not None and existing is not cls:
        raise ValueError(f"connector name {cls.name!r} is taken by {existing.__qualname__}")
    _CONNECTORS[cls.name] = cls
    return cls


def connector_class_get(name: str) -> type[Connector]:
    try:
        return _CONNECTORS[name]
    except KeyError:
        raise KeyError(f"unknown connector {name!r}; known: {', '.join(sorted(_CONNECTORS))}") from None


def webhook_handler(kind: str) -> ModuleType:
    """The webhook module of `kind`'s connector (see `webhook_types` for its functions); WebhookTargetNotFound
    when the kind is unknown or takes no webhooks."""
    connector_class = _CONNECTORS.get(kind)
    if connector_class is None or "webhooks" not in connector_class.features or connector_class.webhook is None:
        raise WebhookTargetNotFound(f"{kind!r} takes no webhooks")
    return connector_class.webhook


def connector_build(*, connection: "CRMConnection") -> Connector:
    """The connection's connector, bound to its organisation, not yet opened: callers use
    `crm_connectors.connections.connector_open`, which also saves rotated credentials and closes it."""
    connector = connector_class_get(connection.kind)(config=connection.config, credentials=connection.credentials)
    connector.organization_slug = connection.organization.slug
    return connector


def connector_names() -> list[str]:
    return sorted(_CONNECTORS)


def load_builtin_connectors() -> None:
    for module in BUILTIN_CONNECTOR_MODULES:
        import_module(module)
