"""Decorator registry of connector classes, keyed by their `name`."""

from importlib import import_module
from typing import TYPE_CHECKING

from crm_connectors.base import Connector

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


def connector_build(*, connection: "CRMConnection") -> Connector:
    """The connection's connector, bound to its organisation (the one way engines should build one)."""
    connector = connector_class_get(connection.kind)(config=connection.config, credentials=connection.credentials)
    connector.organization_slug = connection.organization.slug
    return connector


def connector_names() -> list[str]:
    return sorted(_CONNECTORS)


def load_builtin_connectors() -> None:
    for module in BUILTIN_CONNECTOR_MODULES:
        import_module(module)
