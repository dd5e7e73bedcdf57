"""The CSV connector: imports CRM exports (one CSV file per object type) from a folder.

Config (`CRMConnection.config`):

    {"path": "<folder>", "mapping": {...}}          or
    {"path": "<folder>", "mapping_file": "<mapping.yaml | mapping.json>"}

plus optional `page_size` (records per committed page, default 5,000). `path` (relative: to the
organisation's folder `<first import root>/<org slug>/`), `mapping_file` (relative: to `path`) and every
mapped file must resolve, symlinks followed, inside the connection's own organisation's folder
(`crm_connectors/csv/folders.py`); anything else is a ConnectorError, when the connection is saved
(`config_check`) and again when it syncs. The mapping format is documented in `crm_connectors/csv/mapping.py`
and `crm_connectors/csv/README.md`.

A CSV export is complete, so the last page of a file carries the file's id set and rows of this
connection that vanished from the file are soft-deleted (only when every line was readable and had an id).

Cursor per object type: the file's sha256 and size, a hash of its mapping and of the files it depends on,
the last committed line and whether the file was finished. An unchanged, finished file without rejected
rows is skipped without parsing and its records are counted as unchanged; an interrupted file resumes after
its last committed line; a changed file is read from the top.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any, ClassVar

from crm_connectors.base import OBJECT_TYPES, ChangePage, Connector, ConnectorError, RecordError
from crm_connectors.csv.folders import csv_config_check, csv_folder_resolve, csv_path_check
from crm_connectors.csv.mapping import CsvMapping, mapping_load, mapping_parse
from crm_connectors.csv.reader import DEFAULT_PAGE_SIZE, FileParse
from crm_connectors.registry import register


@register
class CsvConnector(Connector):
    name = "csv"
    label = "CSV files"
    # No "reconcile": a full run re-reads the same export an incremental run reads, whose complete id set
    # already soft-deletes what is gone. No writeback or webhooks: a folder takes no scores and calls nobody.
    features = frozenset({"source_columns"})
    settings_schema: ClassVar[dict[str, Any]] = {
        "type": "object",
        "properties": {
            "path": {"type": "string", "minLength": 1},
            "mapping": {"type": "object"},
            "mapping_file": {"type": "string", "minLength": 1},
            "page_size": {"type": "integer", "minimum": 1},
        },
        "required": ["path"],
        "oneOf": [{"required": ["mapping"]}, {"required": ["mapping_file"]}],
        "additionalProperties": False,
    }

    def __init__(self, *, config: Mapping[str, Any], credentials: Mapping[str, Any]) -> None:
        super().__init__(config=config, credentials=credentials)
        self._raw_mapping: dict[str, Any] | None = None
        self._mapping: CsvMapping | None = None
        self._file_hashes: dict[Path, tuple[str, int]] = {}

    @classmethod
    def config_check(cls, *, config: Mapping[str, Any], organization_slug: str) -> None:
        csv_config_check(config=config, organization_slug=organization_slug)

    def check_credentials(self) -> None:
        """A CSV connection has no credentials: check the folder and the mapping instead."""
        self._mapping_get()

    def source_column(self, *, object_type: str, field: str) -> str | None:
        """The CSV header our `field` is read from, for error reports."""
        object_mapping = self._mapping_get().objects.get(object_type)
        return object_mapping.columns.get(field) if object_mapping else None

    def iter_changes(self, *, object_type: str, cursor: Mapping[str, Any], full: bool) -> Iterator[ChangePage]:
        mapping = self._mapping_get()
        object_mapping = mapping.objects.get(object_type)
        if object_mapping is None:
            return
        path = self._inside_roots(self._folder() / object_mapping.file)
        if not path.is_file():
            yield ChangePage(
                object_type,
                errors=[_type_error(object_type, f"{object_mapping.file}: file not found in {self._folder()}")],
            )
            return
        fingerprint = self._fingerprint(object_type, path)
        same_file = {key: cursor.get(key) for key in fingerprint} == fingerprint
        # A file with rejected rows is read again, so its errors stay visible until the file is fixed.
        if same_file and not full and cursor.get("complete") and not cursor.get("rejected"):
            yield ChangePage(object_type, cursor=dict(cursor), skipped_unchanged=int(cursor.get("records", 0)))
            return
        interrupted = same_file and not full and not cursor.get("complete")
        resume_after_line = int(cursor.get("line", 0)) if interrupted else 0
        yield from FileParse(
            path=path,
            mapping=mapping,
            object_mapping=object_mapping,
            fingerprint=fingerprint,
            resume_after_line=resume_after_line,
            page_size=int(self.config.get("page_size") or DEFAULT_PAGE_SIZE),
        ).pages()

    # --- configuration ----------------------------------------------------------------------------------

    def _mapping_get(self) -> CsvMapping:
        if self._mapping is None:
            if "mapping_file" in self.config:
                mapping_path = self._inside_roots(self._folder() / str(self.config["mapping_file"]))
                raw = mapping_load(mapping_path)
            else:
                raw = self.config.get("mapping")
            if raw is None:
                raise ConnectorError("CSV connection needs `mapping` or `mapping_file`")
            self._mapping = mapping_parse(raw)
            self._raw_mapping = dict(raw)
        return self._mapping

    def _folder(self) -> Path:
        folder = csv_folder_resolve(raw_path=self.config.get("path"), organization_slug=self.organization_slug)
        if not folder.is_dir():
            raise ConnectorError(f"CSV folder {folder} does not exist")
        return folder

    def _inside_roots(self, path: Path) -> Path:
        # Checked again at read time: a symlink placed after the connection was saved is caught here.
        return csv_path_check(path=path, organization_slug=self.organization_slug)

    # --- cursors ----------------------------------------------------------------------------------------

    def _fingerprint(self, object_type: str, path: Path) -> dict[str, Any]:
        """What must stay the same for a file to be skipped or resumed."""
        sha256, size = self._file_hash(path)
        raw = self._raw_mapping or {}
        options = {key: value for key, value in raw.items() if key != "objects"}
        mapping_text = json.dumps([options, raw.get("objects", {}).get(object_type)], sort_keys=True, default=str)
        # Rows rejected for an unknown parent must be retried when a parent file changes.
        parents = {}
        for parent_type in OBJECT_TYPES[: OBJECT_TYPES.index(object_type)]:
            parent_mapping = self._mapping_get().objects.get(parent_type)
            if parent_mapping is not None:
                parent_path = self._inside_roots(self._folder() / parent_mapping.file)
                parents[parent_type] = self._file_hash(parent_path)[0] if parent_path.is_file() else None
        return {
            "sha256": sha256,
            "size": size,
            "mapping": hashlib.sha256(mapping_text.encode()).hexdigest()[:16],
            "parents": parents,
        }

    def _file_hash(self, path: Path) -> tuple[str, int]:
        if path not in self._file_hashes:
            digest = hashlib.sha256()
            size = 0
            with path.open("rb") as handle:
                while chunk := handle.read(1 << 20):
                    digest.update(chunk)
                    size += len(chunk)
            self._file_hashes[path] = (digest.hexdigest(), size)
        return self._file_hashes[path]


def _type_error(object_type: str, reason: str) -> RecordError:
    return RecordError(object_type, reason)
