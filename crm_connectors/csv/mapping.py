"""The CSV mapping: which file holds which object type and which column feeds which of our fields.

Format (JSON, or YAML in a `.yaml`/`.yml` mapping file); see README.md in this folder:

    encoding: utf-8               # optional (default utf-8; a leading BOM is ignored)
    delimiter: ","                # optional
    date_format: "%d/%m/%Y"       # optional strptime format; ISO 8601 is always accepted too
    timezone: Europe/Berlin       # optional, for date-times without an offset (default UTC)
    thousands_separator: ""       # optional, removed from numbers ("," turns "1,200" into 1200)
    decimal_separator: "."        # optional
    objects:
      companies:
        file: companies.csv       # relative to the connection's `path`
        columns: {external_id: "Company ID", name: "Company Name", domain: "Website"}
        properties: "*"           # extra columns kept in `properties`: "*" = every unmapped one, or a list
      contacts:
        file: contacts.csv
        columns: {external_id: "Contact ID", company_external_id: "Company ID", email: "Email"}
        values:                   # extra cell texts for choice/boolean fields, matched case-insensitively
          lifecycle_stage: {"Marketing Qualified": mql}
      deals: {...}
      activities: {...}

Every mapped column must be in the file's header; `external_id` is always required, as are `name` for
companies and deals and `kind` and `occurred_at` for activities.
"""

from __future__ import annotations

import codecs
import json
from collections.abc import Mapping as MappingABC
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml

from crm_connectors.base import OBJECT_TYPES, ConnectorError
from crm_connectors.csv import values

_TOP_KEYS = frozenset(
    {"encoding", "delimiter", "date_format", "timezone", "thousands_separator", "decimal_separator", "objects"}
)
_OBJECT_KEYS = frozenset({"file", "columns", "properties", "values"})


@dataclass(frozen=True)
class ObjectMapping:
    object_type: str
    file: str
    columns: dict[str, str]  # our field -> CSV header
    properties: str | tuple[str, ...]  # "*" or the listed headers ("" / () = none)
    values: dict[str, dict[str, Any]]  # field -> {cell text: canonical value}


@dataclass(frozen=True)
class CsvMapping:
    encoding: str
    delimiter: str
    date_format: str | None
    timezone: ZoneInfo
    thousands_separator: str
    decimal_separator: str
    objects: dict[str, ObjectMapping]


def mapping_load(path: Path) -> dict[str, Any]:
    """Read a mapping file: YAML for .yaml/.yml, JSON otherwise."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConnectorError(f"cannot read mapping file {path}: {exc.strerror or exc}") from None
    try:
        loaded = yaml.safe_load(text) if path.suffix.lower() in (".yaml", ".yml") else json.loads(text)
    except (yaml.YAMLError, json.JSONDecodeError) as exc:
        raise ConnectorError(f"mapping file {path} is not valid: {exc}") from None
    if not isinstance(loaded, dict):
        raise ConnectorError(f"mapping file {path} must hold an object at the top level")
    return loaded


def mapping_parse(raw: MappingABC[str, Any]) -> CsvMapping:
    """Validate a mapping dict; every problem is a ConnectorError naming the bad key."""
    if not isinstance(raw, MappingABC):
        raise ConnectorError("mapping must be an object")
    _no_unknown_keys(raw, _TOP_KEYS, "mapping")
    encoding = _text(raw, "encoding", "utf-8")
    try:
        codecs.lookup(encoding)
    except LookupError:
        raise ConnectorError(f"mapping.encoding: unknown encoding {encoding!r}") from None
    delimiter = _text(raw, "delimiter", ",")
    if len(delimiter) != 1:
        raise ConnectorError("mapping.delimiter must be one character")
    timezone_name = _text(raw, "timezone", "UTC")
    try:
        tz = ZoneInfo(timezone_name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ConnectorError(f"mapping.timezone: unknown time zone {timezone_name!r}") from None

    objects_raw = raw.get("objects")
    if not isinstance(objects_raw, MappingABC) or not objects_raw:
        raise ConnectorError(f"mapping.objects must map some of {', '.join(OBJECT_TYPES)} to their files")
    _no_unknown_keys(objects_raw, frozenset(OBJECT_TYPES), "mapping.objects")
    objects = {
        object_type: _object_parse(object_type, objects_raw[object_type])
        for object_type in OBJECT_TYPES
        if object_type in objects_raw
    }
    return CsvMapping(
        encoding=encoding,
        delimiter=delimiter,
        date_format=_text(raw, "date_format", "") or None,
        timezone=tz,
        thousands_separator=_text(raw, "thousands_separator", ""),
        decimal_separator=_text(raw, "decimal_separator", ".") or ".",
        objects=objects,
    )


def _object_parse(object_type: str, raw: Any) -> ObjectMapping:
    where = f"mapping.objects.{object_type}"
    if not isinstance(raw, MappingABC):
        raise ConnectorError(f"{where} must be an object with `file` and `columns`")
    _no_unknown_keys(raw, _OBJECT_KEYS, where)
    file = raw.get("file")
    if not isinstance(file, str) or not file:
        raise ConnectorError(f"{where}.file is required")

    columns = raw.get("columns")
    if not isinstance(columns, MappingABC) or not all(isinstance(v, str) and v for v in columns.values()):
        raise ConnectorError(f"{where}.columns must map our field names to CSV headers")
    known = values.FIELDS[object_type]
    unknown = sorted(set(columns) - set(known))
    if unknown:
        raise ConnectorError(f"{where}.columns: unknown field(s) {', '.join(unknown)}; known: {', '.join(known)}")
    missing = [name for name in values.REQUIRED[object_type] if name not in columns]
    if missing:
        raise ConnectorError(f"{where}.columns must map {', '.join(missing)}")

    properties = raw.get("properties", ())
    if properties != "*":
        if not isinstance(properties, (list, tuple)) or not all(isinstance(p, str) for p in properties):
            raise ConnectorError(f'{where}.properties must be "*" or a list of column headers')
        properties = tuple(properties)

    value_maps = raw.get("values") or {}
    if not isinstance(value_maps, MappingABC):
        raise ConnectorError(f"{where}.values must map fields to {{cell text: value}}")
    for field_name, synonyms in value_maps.items():
        kind = known.get(field_name)
        if kind not in (values.CHOICE, values.BOOLEAN) or not isinstance(synonyms, MappingABC):
            raise ConnectorError(f"{where}.values.{field_name}: only choice and boolean fields take value maps")
        allowed = values.choice_values(object_type, field_name) if kind == values.CHOICE else {True, False}
        bad = [v for v in synonyms.values() if v not in allowed]
        if bad:
            raise ConnectorError(f"{where}.values.{field_name}: {bad[0]!r} is not one of {sorted(map(str, allowed))}")
    return ObjectMapping(
        object_type=object_type,
        file=file,
        columns=dict(columns),
        properties=properties,
        values={name: dict(synonyms) for name, synonyms in value_maps.items()},
    )


def _text(raw: MappingABC[str, Any], key: str, default: str) -> str:
    value = raw.get(key, default)
    if value is None:
        return default
    if not isinstance(value, str):
        raise ConnectorError(f"mapping.{key} must be text")
    return value


def _no_unknown_keys(raw: MappingABC[str, Any], allowed: frozenset[str], where: str) -> None:
    unknown = sorted(set(raw) - allowed)
    if unknown:
        raise ConnectorError(f"{where}: unknown key(s) {', '.join(map(str, unknown))}")
