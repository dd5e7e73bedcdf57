"""A throw-away PostgreSQL database for a benchmark run, next to the one DATABASE_URL names."""

from __future__ import annotations

import sys
from urllib.parse import urlsplit, urlunsplit


def scratch_database_create(url: str, *, suffix: str) -> str:
    """(Re)create `<db>_<suffix>` and return its URL."""
    import psycopg

    parts = urlsplit(url)
    name = f"{parts.path.lstrip('/') or 'salesai'}_{suffix}"
    with psycopg.connect(_admin_url(url), autocommit=True) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}"')
        admin.execute(f'CREATE DATABASE "{name}"')
    return urlunsplit(parts._replace(path=f"/{name}"))


def scratch_database_drop(url: str, scratch_url: str) -> None:
    import psycopg

    name = urlsplit(scratch_url).path.lstrip("/")
    with psycopg.connect(_admin_url(url), autocommit=True) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}"')


def django_connections_close() -> None:
    """Close Django's connections so the scratch database can be dropped."""
    if "django.db" in sys.modules:
        from django.db import connections

        connections.close_all()


def _admin_url(url: str) -> str:
    return urlunsplit(urlsplit(url)._replace(path="/postgres", scheme="postgresql"))
