"""Stream one CSV file of one object type into ChangePages of canonical records and row errors.

Line numbers are 1-based source lines (the header is line 1; a quoted multi-line cell makes a record span
several lines and it is reported at its first). Each line is decoded on its own, so a line that is not
valid in the mapping's encoding rejects that record only.
"""

from __future__ import annotations

import codecs
import csv
import io
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from crm_connectors.base import ChangePage, RecordError
from crm_connectors.csv import values
from crm_connectors.csv.mapping import CsvMapping, ObjectMapping

DEFAULT_PAGE_SIZE = 5000


@dataclass
class _DecodedLines:
    """Iterates decoded lines; remembers which ones were not valid in the encoding."""

    binary: IO[bytes]
    encoding: str
    bad_lines: dict[int, str] = field(default_factory=dict)

    def __iter__(self) -> Iterator[str]:
        decoder_name = codecs.lookup(self.encoding).name
        if decoder_name.startswith(("utf-16", "utf-32")):
            # Newlines are not single bytes here: decode the stream as a whole, replacing bad bytes.
            yield from self._whole_stream()
            return
        strip_bom = decoder_name == "utf-8"
        for number, raw in enumerate(self.binary, start=1):
            try:
                line = raw.decode(self.encoding)
            except UnicodeDecodeError as exc:
                self.bad_lines[number] = f"byte {raw[exc.start : exc.start + 1]!r} at position {exc.start + 1}"
                line = raw.decode(self.encoding, "replace")
            if number == 1 and strip_bom and line.startswith("\ufeff"):
                line = line[1:]
            yield line

    def _whole_stream(self) -> Iterator[str]:
        text = codecs.getreader(self.encoding)(self.binary, errors="replace")
        for number, line in enumerate(text, start=1):
            if "\ufffd" in line:
                self.bad_lines[number] = "undecodable bytes"
            yield line.lstrip("\ufeff") if number == 1 else line


def _text_lines(binary: IO[bytes], path: Path, encoding: str) -> tuple[Iterable[str], dict[int, str]]:
    """Decoded lines of the file plus {line number: problem} for lines not valid in `encoding`.

    A file that decodes cleanly (the usual case) is read by the C text layer; only a file with bad bytes
    pays for decoding line by line to pinpoint them.
    """
    if _decodes_cleanly(path, encoding):
        name = codecs.lookup(encoding).name
        text_encoding = "utf-8-sig" if name == "utf-8" else encoding
        return io.TextIOWrapper(binary, encoding=text_encoding, newline=""), {}
    lines = _DecodedLines(binary, encoding)
    return lines, lines.bad_lines


def _decodes_cleanly(path: Path, encoding: str) -> bool:
    decoder = codecs.getincrementaldecoder(encoding)(errors="strict")
    try:
        with path.open("rb") as handle:
            while chunk := handle.read(1 << 20):
                decoder.decode(chunk)
        decoder.decode(b"", final=True)
    except UnicodeDecodeError:
        return False
    return True


@dataclass
class FileParse:
    """Parses `path` for `mapping.objects[object_type]` and yields pages of at most `page_size` records.

    Rows on lines <= `resume_after_line` were committed by an earlier, interrupted run: they are read
    again (for duplicate detection and the complete id set) but neither re-emitted nor re-reported.
    """

    path: Path
    mapping: CsvMapping
    object_mapping: ObjectMapping
    fingerprint: dict[str, Any]
    resume_after_line: int = 0
    page_size: int = DEFAULT_PAGE_SIZE

    def pages(self) -> Iterator[ChangePage]:
        object_type = self.object_mapping.object_type
        with self.path.open("rb") as binary:
            lines, bad_lines = _text_lines(binary, self.path, self.mapping.encoding)
            reader = csv.reader(lines, delimiter=self.mapping.delimiter)
            try:
                header = [cell.strip() for cell in next(reader)]
            except StopIteration:
                yield self._type_failed("the file is empty: no header line")
                return
            except csv.Error as exc:
                yield self._type_failed(f"the header line cannot be read: {exc}")
                return
            if 1 in bad_lines:
                yield self._type_failed(f"the header line is not valid {self.mapping.encoding}: {bad_lines[1]}")
                return
            problem = self._header_problem(header)
            if problem:
                yield self._type_failed(problem)
                return
            yield from self._rows_to_pages(object_type, header, reader, bad_lines)

    def _header_problem(self, header: list[str]) -> str | None:
        wanted = list(self.object_mapping.columns.values())
        if self.object_mapping.properties != "*":
            wanted += list(self.object_mapping.properties)
        missing = [column for column in dict.fromkeys(wanted) if column not in header]
        if missing:
            return f"missing column(s) in the header: {', '.join(repr(c) for c in missing)}"
        repeated = [column for column in dict.fromkeys(wanted) if header.count(column) > 1]
        if repeated:
            return f"column(s) appear more than once in the header: {', '.join(repr(c) for c in repeated)}"
        return None

    def _rows_to_pages(
        self, object_type: str, header: list[str], reader: Any, bad_lines: dict[int, str]
    ) -> Iterator[ChangePage]:
        mapping, object_mapping = self.mapping, self.object_mapping
        index = {column: position for position, column in enumerate(header)}
        specs = [
            (
                field_name,
                index[column],
                column,
                values.parser_for(
                    object_type,
                    field_name,
                    date_format=mapping.date_format,
                    tz=mapping.timezone,
                    thousands_separator=mapping.thousands_separator,
                    decimal_separator=mapping.decimal_separator,
                    synonyms=object_mapping.values.get(field_name, {}),
                ),
            )
            for field_name, column in object_mapping.columns.items()
            if field_name != "external_id"
        ]
        field_names = [field_name for field_name, _, _, _ in specs]
        cell_parsers = [(position, parse) for _, position, _, parse in specs]
        id_column = object_mapping.columns["external_id"]
        id_position = index[id_column]
        if object_mapping.properties == "*":
            mapped = set(object_mapping.columns.values())
            property_specs = [(column, i) for i, column in enumerate(header) if column not in mapped and column]
        else:
            property_specs = [(column, index[column]) for column in object_mapping.properties]
        width = len(header)
        resume = self.resume_after_line

        records: list[dict[str, Any]] = []
        errors: list[RecordError] = []
        first_line_of: dict[str, int] = {}  # its keys are every id in the file
        accepted = 0
        # Reconciliation may only trust the id set when every line was readable and carried an id.
        ids_trustworthy = True

        rejected = 0

        def reject(line: int, reason: str, column: str | None = None, external_id: str | None = None) -> None:
            nonlocal rejected
            rejected += 1
            if line > resume:
                errors.append(RecordError(object_type, reason, line=line, column=column, external_id=external_id))

        end = reader.line_num
        while True:
            start = end + 1
            try:
                row = next(reader)
            except StopIteration:
                break
            except csv.Error as exc:
                end = reader.line_num
                ids_trustworthy = False
                reject(start, f"unreadable CSV: {exc}")
                continue
            end = reader.line_num
            if not row or (len(row) == 1 and not row[0].strip()):
                continue  # blank line
            if bad_lines and any(n in bad_lines for n in range(start, end + 1)):
                bad = next(n for n in range(start, end + 1) if n in bad_lines)
                ids_trustworthy = False
                reject(start, f"line {bad} is not valid {mapping.encoding}: {bad_lines[bad]}")
                continue
            external_id = row[id_position].strip() if id_position < len(row) else ""
            if not external_id:
                ids_trustworthy = False
                reject(start, "external id is empty", id_column)
                continue
            first_line = first_line_of.setdefault(external_id, start)
            if first_line != start:
                reject(start, f"duplicate external id (first on line {first_line})", id_column, external_id)
                continue
            if len(row) != width and not (len(row) > width and not any(c.strip() for c in row[width:])):
                reject(start, f"has {len(row)} cells but the header has {width}", None, external_id)
                continue

            try:
                record = dict(zip(field_names, [parse(row[position]) for position, parse in cell_parsers]))
            except values.CellError:
                for _, position, column, parse in specs:  # slow path: report every bad cell of the row
                    try:
                        parse(row[position])
                    except values.CellError as exc:
                        reject(start, str(exc), column, external_id)
                continue
            record["external_id"] = external_id
            record["_line"] = start
            if property_specs:
                record["properties"] = {column: row[position] for column, position in property_specs}
            accepted += 1
            if start > resume:
                records.append(record)
                if len(records) >= self.page_size:
                    yield ChangePage(object_type, records, errors=errors, cursor=self._cursor(end, complete=False))
                    records, errors = [], []

        yield ChangePage(
            object_type,
            records,
            errors=errors,
            cursor=self._cursor(end, complete=True, records=accepted, rejected=rejected),
            complete_id_set=frozenset(first_line_of) if ids_trustworthy else None,
        )

    def _cursor(self, line: int, *, complete: bool, records: int = 0, rejected: int = 0) -> dict[str, Any]:
        cursor = {**self.fingerprint, "line": line, "complete": complete}
        if complete:
            cursor.update(records=records, rejected=rejected)
        return cursor

    def _type_failed(self, reason: str) -> ChangePage:
        # No cursor: the saved one stays, so the file is read again once it is fixed.
        return ChangePage(
            self.object_mapping.object_type,
            errors=[RecordError(self.object_mapping.object_type, f"{self.object_mapping.file}: {reason}", line=1)],
        )
