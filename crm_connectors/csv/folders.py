"""Where a CSV connection may read: only below its own organisation's folder of an import root.

Every root in `settings.CSV_IMPORT_ROOTS` holds one folder per organisation, named by its slug:
`<root>/<org slug>/`. A connection's `path` is relative to the first root's organisation folder (an
absolute path must lie inside one of the organisation's folders); every file is resolved with symlinks
followed before the check, so `..`, absolute paths and symlinks that leave the folder are refused. The app's
own data (the model store, the broker folder, the SQLite file) is never readable, whatever the roots say.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from django.conf import settings

from crm_connectors.base import ConnectorError

_SLUG = re.compile(r"[-a-zA-Z0-9_]+")


def csv_import_roots() -> list[Path]:
    roots = [Path(root).resolve() for root in settings.CSV_IMPORT_ROOTS if root]
    if not roots:
        raise ConnectorError("no CSV import folder is configured (CSV_IMPORT_ROOTS)")
    return roots


def csv_organization_folders(*, organization_slug: str) -> list[Path]:
    """The organisation's folder under every import root, the first one being where relative paths start."""
    if not organization_slug or not _SLUG.fullmatch(organization_slug):
        # A slug like ".." would turn "<root>/<slug>" into another tenant's folder or the root itself.
        raise ConnectorError("CSV connections need an organisation with a plain slug (letters, digits, - and _)")
    return [(root / organization_slug).resolve() for root in csv_import_roots()]


def csv_organization_folder(*, organization_slug: str) -> Path:
    """Where this organisation's exports go (`<first import root>/<org slug>/`)."""
    return csv_organization_folders(organization_slug=organization_slug)[0]


def csv_path_check(*, path: Path, organization_slug: str) -> Path:
    """`path` resolved (symlinks followed); ConnectorError unless it lies inside the organisation's folder."""
    resolved = Path(path).resolve()
    folders = csv_organization_folders(organization_slug=organization_slug)
    if not any(resolved.is_relative_to(folder) for folder in folders):
        raise ConnectorError(
            f"{path} is outside the folders CSV imports may read: this organisation's folder "
            f"{folders[0]} (CSV_IMPORT_ROOTS/<organisation slug>)"
        )
    for protected in _app_data_paths():
        if resolved.is_relative_to(protected) or protected.is_relative_to(resolved):
            raise ConnectorError(f"{path} holds the application's own data and can never be imported")
    return resolved


def csv_folder_resolve(*, raw_path: Any, organization_slug: str) -> Path:
    """The connection's folder from its `path` config: relative to the organisation's folder."""
    if not isinstance(raw_path, str) or not raw_path:
        raise ConnectorError("CSV connection needs `path`, the folder holding the files")
    base = csv_organization_folder(organization_slug=organization_slug)
    return csv_path_check(path=base / raw_path, organization_slug=organization_slug)  # absolute replaces base


def csv_config_check(*, config: Mapping[str, Any], organization_slug: str) -> None:
    """Save-time check of a CSV connection's paths (the folder need not exist yet): the folder, the mapping
    file and every file an inline mapping names must stay inside the organisation's folder."""
    folder = csv_folder_resolve(raw_path=config.get("path"), organization_slug=organization_slug)
    names = []
    if isinstance(config.get("mapping_file"), str):
        names.append(config["mapping_file"])
    objects = config.get("mapping", {}).get("objects") if isinstance(config.get("mapping"), Mapping) else None
    if isinstance(objects, Mapping):
        names += [
            spec["file"] for spec in objects.values() if isinstance(spec, Mapping) and isinstance(spec.get("file"), str)
        ]
    for name in names:
        csv_path_check(path=folder / name, organization_slug=organization_slug)


def _app_data_paths() -> list[Path]:
    paths = [Path(settings.MODEL_STORE_DIR)]
    broker_dir = getattr(settings, "CELERY_BROKER_DIR", None)
    if broker_dir:
        paths.append(Path(broker_dir))
    database = settings.DATABASES["default"]
    if database["ENGINE"].endswith("sqlite3") and str(database.get("NAME", "")) not in ("", ":memory:"):
        paths.append(Path(database["NAME"]))
    return [path.resolve() for path in paths]
