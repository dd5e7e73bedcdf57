"""A local fake Salesforce (OAuth token endpoint + REST API subset) on 127.0.0.1, for tests and benchmarks.

Speaks Salesforce's wire format for what the connector uses:
- `POST /services/oauth2/token` (grant_type=refresh_token) -> access_token + instance_url; an expired or
  unknown access token gets `401 [{"errorCode": "INVALID_SESSION_ID", ...}]`.
- `GET /services/data/vXX.X/query?q=` and `/queryAll?q=` with a tiny SOQL subset:
  `SELECT f1, f2, Rel.Field FROM T [WHERE c AND c ...] [ORDER BY f1, f2]`, conditions `Field op literal`
  with op in = != > >= < <= and literals true/false/null, numbers, 'text' and date-times
  (`2026-01-01T00:00:00Z`). Unknown fields -> 400 INVALID_FIELD. Batches of `page_size` (or the
  `Sforce-Query-Options: batchSize=N` header) with `nextRecordsUrl` `/services/data/vXX.X/query/01g...-N`.
  `query` hides deleted (IsDeleted) and archived (IsArchived) rows, `queryAll` returns them.
- `GET .../sobjects/T/describe` (fields with types, custom `__c` ones included) and
  `GET .../sobjects/T/deleted/?start=&end=` (<= 15 days back, else 400 INVALID_REPLICATION_DATE).
- Every API response carries `Sforce-Limit-Info: api-usage=N/M`; past the quota -> 403 REQUEST_LIMIT_EXCEEDED.
- `fail(...)` injects errors (503, REQUEST_LIMIT_EXCEEDED, ...) on matching requests; `before(...)` runs
  an action (records edited by users) in the middle of a sync.

The server has its own clock (`now`, sent in the Date header): every write moves it forward by
`write_step`, so SystemModstamps are distinct and ordered unless a test says otherwise.
"""

from __future__ import annotations

import datetime as dt
import itertools
import json
import re
import threading
from collections.abc import Callable
from dataclasses import dataclass
from email.utils import format_datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Self
from urllib.parse import parse_qs, urlsplit

API_VERSION = "61.0"
KEY_PREFIXES = {
    "Account": "001",
    "Contact": "003",
    "Lead": "00Q",
    "Opportunity": "006",
    "OpportunityHistory": "008",
    "OpportunityStage": "01J",
    "Task": "00T",
    "Event": "00U",
}
_COMMON = {"Id": "id", "IsDeleted": "boolean", "CreatedDate": "datetime", "SystemModstamp": "datetime"}
STANDARD_FIELDS: dict[str, dict[str, str]] = {
    "Account": {
        "Name": "string",
        "Website": "url",
        "Industry": "picklist",
        "NumberOfEmployees": "int",
        "AnnualRevenue": "currency",
        "BillingCountry": "string",
        "BillingCity": "string",
        "OwnerId": "reference",
    },
    "Contact": {
        "AccountId": "reference",
        "FirstName": "string",
        "LastName": "string",
        "Email": "email",
        "Phone": "phone",
        "Title": "string",
        "LeadSource": "picklist",
        "HasOptedOutOfEmail": "boolean",
        "OwnerId": "reference",
    },
    "Lead": {
        "FirstName": "string",
        "LastName": "string",
        "Email": "email",
        "Phone": "phone",
        "Title": "string",
        "Company": "string",
        "LeadSource": "picklist",
        "Status": "picklist",
        "HasOptedOutOfEmail": "boolean",
        "OwnerId": "reference",
        "IsConverted": "boolean",
        "ConvertedDate": "date",
        "ConvertedContactId": "reference",
        "ConvertedAccountId": "reference",
        "ConvertedOpportunityId": "reference",
    },
    "Opportunity": {
        "Name": "string",
        "AccountId": "reference",
        "ContactId": "reference",
        "Amount": "currency",
        "StageName": "picklist",
        "IsClosed": "boolean",
        "IsWon": "boolean",
        "CloseDate": "date",
        "OwnerId": "reference",
    },
    "Task": {
        "Subject": "combobox",
        "Description": "textarea",
        "ActivityDate": "date",
        "CompletedDateTime": "datetime",
        "TaskSubtype": "picklist",
        "CallType": "picklist",
        "WhoId": "reference",
        "WhatId": "reference",
        "AccountId": "reference",
        "IsArchived": "boolean",
        "Status": "picklist",
    },
    "Event": {
        "Subject": "combobox",
        "Description": "textarea",
        "StartDateTime": "datetime",
        "ActivityDateTime": "datetime",
        "ActivityDate": "date",
        "WhoId": "reference",
        "WhatId": "reference",
        "AccountId": "reference",
        "IsArchived": "boolean",
        "IsAllDayEvent": "boolean",
    },
}
STANDARD_FIELDS.update(
    {
        # Written by Salesforce itself on every change of an opportunity's stage, amount or close date.
        "OpportunityHistory": {
            "OpportunityId": "reference",
            "StageName": "picklist",
            "Amount": "currency",
            "CloseDate": "date",
            "Probability": "percent",
        },
        "OpportunityStage": {
            "ApiName": "string",
            "MasterLabel": "string",
            "DefaultProbability": "percent",
            "IsClosed": "boolean",
            "IsWon": "boolean",
            "IsActive": "boolean",
            "SortOrder": "int",
        },
    }
)
# Salesforce's default sales process: (stage, DefaultProbability %, closed, won).
DEFAULT_STAGES = (
    ("Prospecting", 10, False, False),
    ("Qualification", 10, False, False),
    ("Needs Analysis", 20, False, False),
    ("Proposal/Price Quote", 75, False, False),
    ("Negotiation/Review", 90, False, False),
    ("Closed Won", 100, True, True),
    ("Closed Lost", 0, True, False),
)
_HISTORY_TRACKED = ("StageName", "Amount", "CloseDate")
DELETED_FEED_DAYS = 15


def sf_datetime(value: dt.datetime) -> str:
    """Salesforce's JSON date-time format: `2026-01-01T00:00:00.000+0000`."""
    return value.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.000+0000")


class SoqlError(ValueError):
    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


@dataclass
class Fault:
    status: int
    body: Any
    path_contains: str
    times: int
    headers: dict[str, str]
    skip: int = 0  # let this many matching requests through first


class FakeSalesforce:
    def __init__(
        self,
        *,
        page_size: int = 2000,
        daily_limit: int = 100_000,
        start: dt.datetime = dt.datetime(2026, 1, 1, tzinfo=dt.UTC),
        write_step: dt.timedelta = dt.timedelta(minutes=10),
        custom_fields: dict[str, dict[str, str]] | None = None,
    ) -> None:
        self.page_size = page_size
        self.daily_limit = daily_limit
        self.api_usage = 0
        self.now = start
        self.write_step = write_step
        self.fields = {sobject: {**_COMMON, **fields} for sobject, fields in STANDARD_FIELDS.items()}
        for sobject, extra in (custom_fields or {}).items():
            self.fields[sobject].update(extra)
        self.records: dict[str, dict[str, dict[str, Any]]] = {sobject: {} for sobject in self.fields}
        self.deleted_log: dict[str, list[tuple[str, dt.datetime]]] = {sobject: [] for sobject in self.fields}
        self.users: dict[str, str] = {}  # user id -> email
        self.earliest_deleted_available: dt.datetime | None = None  # None: 15 days before now
        self.client_id, self.client_secret, self.refresh_token = "test-client-id", "test-client-secret", "test-refresh"
        self.valid_tokens: set[str] = set()
        self.token_requests = 0
        self.requests: list[tuple[str, str, dict[str, str]]] = []  # (method, path, query params)
        self.statuses: list[int] = []  # status of every answer, in order
        self.faults: list[Fault] = []
        self.hooks: list[tuple[str, Callable[[], None]]] = []  # run once before the first matching request
        # Writeback: record ids a validation rule rejects in composite/sobjects updates, with the message.
        self.write_rejects: dict[str, str] = {}
        self._ids = itertools.count(1)
        self._locators: dict[str, list[dict[str, Any]]] = {}
        self._lock = threading.RLock()
        self._server: ThreadingHTTPServer | None = None
        for order, (name, percent, closed, won) in enumerate(DEFAULT_STAGES):
            stage_id = self.new_id("OpportunityStage")
            self.records["OpportunityStage"][stage_id] = {
                "Id": stage_id,
                "IsDeleted": False,
                "CreatedDate": start,
                "SystemModstamp": start,
                "ApiName": name,
                "MasterLabel": name,
                "DefaultProbability": percent,
                "IsClosed": closed,
                "IsWon": won,
                "IsActive": True,
                "SortOrder": order + 1,
            }

    # --- lifecycle ------------------------------------------------------------------------------------

    def start(self) -> Self:
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _handler_for(self))
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def url(self) -> str:
        assert self._server is not None, "start() the fake first"
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    # --- data -----------------------------------------------------------------------------------------

    def tick(self) -> dt.datetime:
        self.now += self.write_step
        return self.now

    def advance(self, **delta: float) -> None:
        with self._lock:
            self.now += dt.timedelta(**delta)

    def new_id(self, sobject: str) -> str:
        return f"{KEY_PREFIXES.get(sobject, 'a00')}{next(self._ids):012d}AAA"

    def add_user(self, email: str) -> str:
        user_id = f"005{next(self._ids):012d}AAA"
        self.users[user_id] = email
        return user_id

    def add(self, sobject: str, **fields: Any) -> str:
        with self._lock:
            record_id = fields.pop("Id", None) or self.new_id(sobject)
            stamp = self.tick()
            record = {"Id": record_id, "IsDeleted": False, "CreatedDate": stamp, "SystemModstamp": stamp}
            if "IsArchived" in self.fields[sobject]:
                record["IsArchived"] = False
            record.update(fields)
            self.records[sobject][record_id] = record
            if sobject == "Opportunity":
                self._history_add(record)
            return record_id

    def _history_add(self, opportunity: dict[str, Any]) -> None:
        """The OpportunityHistory row Salesforce writes: a snapshot of the tracked fields at the change."""
        history_id = self.new_id("OpportunityHistory")
        stamp = opportunity["SystemModstamp"]
        self.records["OpportunityHistory"][history_id] = {
            "Id": history_id,
            "IsDeleted": False,
            "CreatedDate": stamp,
            "SystemModstamp": stamp,
            "OpportunityId": opportunity["Id"],
            **{name: opportunity.get(name) for name in _HISTORY_TRACKED},
        }

    def update(self, sobject: str, record_id: str, **fields: Any) -> None:
        with self._lock:
            record = self.records[sobject][record_id]
            tracked_before = [record.get(name) for name in _HISTORY_TRACKED]
            record.update(fields)
            record["SystemModstamp"] = self.tick()
            if sobject == "Opportunity" and [record.get(name) for name in _HISTORY_TRACKED] != tracked_before:
                self._history_add(record)

    def delete(self, sobject: str, record_id: str) -> None:
        """To the recycle bin: visible to queryAll (IsDeleted = true) and in the deleted feed."""
        with self._lock:
            record = self.records[sobject][record_id]
            record["IsDeleted"] = True
            record["SystemModstamp"] = self.tick()
            self.deleted_log[sobject].append((record_id, self.now))

    def hard_delete(self, sobject: str, record_id: str) -> None:
        """Deleted and purged from the recycle bin: only the deleted feed still knows it."""
        with self._lock:
            if not self.records[sobject][record_id]["IsDeleted"]:
                self.delete(sobject, record_id)
            del self.records[sobject][record_id]

    def expire_tokens(self) -> None:
        with self._lock:
            self.valid_tokens.clear()

    def fail(
        self,
        status: int,
        body: Any = None,
        *,
        path_contains: str = "",
        times: int = 1,
        skip: int = 0,
        headers: dict[str, str] | None = None,
    ) -> None:
        """The next `times` API requests whose path+query contains `path_contains` (after `skip`) get this answer."""
        with self._lock:
            self.faults.append(Fault(status, body, path_contains, times, headers or {}, skip))

    def before(self, path_contains: str, action: Callable[[], None]) -> None:
        """Run `action` (say, users editing records) just before the first request matching `path_contains`."""
        with self._lock:
            self.hooks.append((path_contains, action))

    def queries(self) -> list[str]:
        """The SOQL of every query/queryAll request so far."""
        return [params["q"] for _, path, params in self.requests if "q" in params]

    # --- request handling (called by the handler under the lock) -------------------------------------

    def handle(
        self, method: str, raw_path: str, headers: dict[str, str], body: bytes
    ) -> tuple[int, Any, dict[str, str]]:
        parts = urlsplit(raw_path)
        params = {key: values[-1] for key, values in parse_qs(parts.query).items()}
        path = parts.path.rstrip("/")
        self.requests.append((method, path, params))
        for hook in [hook for hook in self.hooks if hook[0] in raw_path]:
            self.hooks.remove(hook)
            hook[1]()
        fault = self._fault_for(raw_path)
        if fault is not None:
            return fault.status, fault.body, dict(fault.headers)
        if method == "POST" and path == "/services/oauth2/token":
            return self._token(body)
        prefix = f"/services/data/v{API_VERSION}/"
        if not path.startswith(prefix):
            return 404, [{"errorCode": "NOT_FOUND", "message": "The requested resource does not exist"}], {}
        token = headers.get("authorization", "").removeprefix("Bearer ").strip()
        if token not in self.valid_tokens:
            return 401, [{"message": "Session expired or invalid", "errorCode": "INVALID_SESSION_ID"}], {}
        self.api_usage += 1
        limit_header = {"Sforce-Limit-Info": f"api-usage={self.api_usage}/{self.daily_limit}"}
        if self.api_usage > self.daily_limit:
            body = [{"message": "TotalRequests Limit exceeded.", "errorCode": "REQUEST_LIMIT_EXCEEDED"}]
            return 403, body, limit_header
        if method == "PATCH" and path.removeprefix(prefix) == "composite/sobjects":
            status, answer = self._collection_update(body)
            return status, answer, limit_header
        status, answer = self._api(path.removeprefix(prefix), params, headers)
        return status, answer, limit_header

    def _collection_update(self, raw: bytes) -> tuple[int, Any]:
        """sObject Collections update: <= 200 records; with allOrNone false, one result per record, in order."""
        try:
            body = json.loads(raw or b"{}")
        except ValueError:
            return 400, [{"errorCode": "JSON_PARSER_ERROR", "message": "body is not JSON"}]
        records = body.get("records") or []
        if len(records) > 200:
            return 400, [
                {
                    "errorCode": "EXCEEDED_ID_LIMIT",
                    "message": "record limit reached. cannot submit more than 200 records into this call",
                }
            ]
        if body.get("allOrNone") is not False:
            return 400, [{"errorCode": "UNSUPPORTED", "message": "the fake only implements allOrNone=false"}]
        results = []
        for record in records:
            record_id = str(record.get("id"))
            sobject = (record.get("attributes") or {}).get("type")
            stored = self.records.get(sobject, {}).get(record_id)
            values = {key: value for key, value in record.items() if key not in ("attributes", "id")}
            unknown = [name for name in values if name not in self.fields.get(sobject, {})]
            if stored is None or stored["IsDeleted"]:
                error = {
                    "statusCode": "ENTITY_IS_DELETED" if stored else "INVALID_CROSS_REFERENCE_KEY",
                    "message": "entity is deleted" if stored else "invalid cross reference id",
                    "fields": [],
                }
            elif unknown:
                error = {
                    "statusCode": "INVALID_FIELD",
                    "message": f"No such column '{unknown[0]}' on sobject of type {sobject}",
                    "fields": unknown,
                }
            elif record_id in self.write_rejects:
                error = {
                    "statusCode": "FIELD_CUSTOM_VALIDATION_EXCEPTION",
                    "message": self.write_rejects[record_id],
                    "fields": list(values),
                }
            else:
                self.update(sobject, record_id, **values)
                results.append({"id": record_id, "success": True, "errors": []})
                continue
            results.append({"id": record_id, "success": False, "errors": [error]})
        return 200, results

    def _fault_for(self, raw_path: str) -> Fault | None:
        for fault in self.faults:
            if fault.times > 0 and fault.path_contains in raw_path:
                if fault.skip > 0:
                    fault.skip -= 1
                    return None
                fault.times -= 1
                return fault
        return None

    def _token(self, body: bytes) -> tuple[int, Any, dict[str, str]]:
        self.token_requests += 1
        form = {key: values[-1] for key, values in parse_qs(body.decode()).items()}
        if form.get("grant_type") != "refresh_token":
            return 400, {"error": "unsupported_grant_type", "error_description": "grant type not supported"}, {}
        if (form.get("client_id"), form.get("client_secret")) != (self.client_id, self.client_secret):
            return 400, {"error": "invalid_client", "error_description": "invalid client credentials"}, {}
        if form.get("refresh_token") != self.refresh_token:
            return 400, {"error": "invalid_grant", "error_description": "expired access/refresh token"}, {}
        token = f"00Dfake!{next(self._ids)}"
        self.valid_tokens.add(token)
        issued = str(int(self.now.timestamp() * 1000))
        return (
            200,
            {
                "access_token": token,
                "instance_url": self.url,
                "id": f"{self.url}/id/00Dfake/005fake",
                "token_type": "Bearer",
                "issued_at": issued,
                "signature": "fake-signature",
            },
            {},
        )

    def _api(self, resource: str, params: dict[str, str], headers: dict[str, str]) -> tuple[int, Any]:
        try:
            if resource in ("query", "queryAll"):
                return 200, self._query(params.get("q", ""), include_deleted=resource == "queryAll", headers=headers)
            match = re.fullmatch(r"query/(01g\w+)-(\d+)", resource)
            if match:
                return 200, self._batch(match.group(1), int(match.group(2)), headers)
            match = re.fullmatch(r"sobjects/(\w+)/describe", resource)
            if match:
                return 200, self._describe(match.group(1))
            match = re.fullmatch(r"sobjects/(\w+)/deleted", resource)
            if match:
                return 200, self._deleted(match.group(1), params)
        except SoqlError as exc:
            return 400, [{"message": str(exc), "errorCode": exc.code}]
        return 404, [{"errorCode": "NOT_FOUND", "message": "The requested resource does not exist"}]

    def _describe(self, sobject: str) -> dict[str, Any]:
        if sobject not in self.fields:
            raise SoqlError("NOT_FOUND", f"The requested resource does not exist: {sobject}")
        fields = [
            {
                "name": name,
                "type": kind,
                "custom": name.endswith("__c"),
                **({"relationshipName": "Owner", "referenceTo": ["User"]} if name == "OwnerId" else {}),
            }
            for name, kind in self.fields[sobject].items()
        ]
        return {"name": sobject, "queryable": True, "replicateable": True, "fields": fields}

    def _deleted(self, sobject: str, params: dict[str, str]) -> dict[str, Any]:
        if sobject not in self.fields:
            raise SoqlError("NOT_FOUND", f"The requested resource does not exist: {sobject}")
        try:
            start = _parse_literal_datetime(params["start"]).replace(second=0)
            end = _parse_literal_datetime(params["end"]).replace(second=0)
        except (KeyError, ValueError):
            raise SoqlError("INVALID_REPLICATION_DATE", "start and end must be ISO 8601 date-times") from None
        if start >= end:
            raise SoqlError("INVALID_REPLICATION_DATE", "start must be before end")
        if start < self.now - dt.timedelta(days=DELETED_FEED_DAYS):
            raise SoqlError("INVALID_REPLICATION_DATE", "start date cannot be more than 15 days ago")
        earliest = self.earliest_deleted_available or (self.now - dt.timedelta(days=DELETED_FEED_DAYS))
        covered = min(end, self.now.replace(second=0, microsecond=0))
        rows = [
            {"id": record_id, "deletedDate": sf_datetime(when)}
            for record_id, when in self.deleted_log[sobject]
            if start <= when <= end and when >= earliest
        ]
        return {
            "deletedRecords": rows,
            "earliestDateAvailable": sf_datetime(earliest),
            "latestDateCovered": sf_datetime(covered),
        }

    # --- SOQL -----------------------------------------------------------------------------------------

    def _query(self, soql: str, *, include_deleted: bool, headers: dict[str, str]) -> dict[str, Any]:
        match = re.fullmatch(
            r"\s*SELECT\s+(?P<fields>.+?)\s+FROM\s+(?P<sobject>\w+)"
            r"(?:\s+WHERE\s+(?P<where>.+?))?(?:\s+ORDER\s+BY\s+(?P<order>.+?))?\s*",
            soql,
            re.IGNORECASE | re.DOTALL,
        )
        if not match:
            raise SoqlError("MALFORMED_QUERY", f"cannot parse: {soql}")
        sobject = match.group("sobject")
        if sobject not in self.fields:
            raise SoqlError("INVALID_TYPE", f"sObject type '{sobject}' is not supported.")
        known = self.fields[sobject]
        selected = [field.strip() for field in match.group("fields").split(",")]
        for field in selected:
            base = field.split(".")[0]
            if not (field in known or (base == "Owner" and "OwnerId" in known and field == "Owner.Email")):
                raise SoqlError("INVALID_FIELD", f"No such column '{field}' on entity '{sobject}'.")
        where = re.split(r"\s+AND\s+", match.group("where") or "", flags=re.IGNORECASE)
        conditions = [_condition(text, known, sobject) for text in where if text.strip()]
        order = [field.strip() for field in (match.group("order") or "").split(",") if field.strip()]
        for field in order:
            if field not in known:
                raise SoqlError("INVALID_FIELD", f"No such column '{field}' on entity '{sobject}'.")

        rows = []
        for record in self.records[sobject].values():
            if not include_deleted and (record.get("IsDeleted") or record.get("IsArchived")):
                continue
            if all(check(record) for check in conditions):
                rows.append(record)
        rows.sort(key=lambda record: tuple(_sort_key(record.get(field)) for field in order))
        projected = [self._project(sobject, record, selected) for record in rows]
        locator = f"01g{next(self._ids):015d}"
        self._locators[locator] = projected
        return self._batch(locator, 0, headers)

    def _batch(self, locator: str, offset: int, headers: dict[str, str]) -> dict[str, Any]:
        rows = self._locators.get(locator)
        if rows is None:
            raise SoqlError("INVALID_QUERY_LOCATOR", "invalid query locator")
        size = self.page_size
        option = re.search(r"batchSize=(\d+)", headers.get("sforce-query-options", ""))
        if option:
            size = max(1, min(2000, int(option.group(1))))
        batch = rows[offset : offset + size]
        done = offset + size >= len(rows)
        answer: dict[str, Any] = {"totalSize": len(rows), "done": done, "records": batch}
        if not done:
            answer["nextRecordsUrl"] = f"/services/data/v{API_VERSION}/query/{locator}-{offset + size}"
        return answer

    def _project(self, sobject: str, record: dict[str, Any], selected: list[str]) -> dict[str, Any]:
        out: dict[str, Any] = {
            "attributes": {"type": sobject, "url": f"/services/data/v{API_VERSION}/sobjects/{sobject}/{record['Id']}"}
        }
        for field in selected:
            if field == "Owner.Email":
                owner_id = record.get("OwnerId")
                out["Owner"] = (
                    {
                        "attributes": {
                            "type": "User",
                            "url": f"/services/data/v{API_VERSION}/sobjects/User/{owner_id}",
                        },
                        "Email": self.users.get(owner_id),
                    }
                    if owner_id
                    else None
                )
                continue
            value = record.get(field)
            out[field] = sf_datetime(value) if isinstance(value, dt.datetime) else value
        return out


def _condition(text: str, known: dict[str, str], sobject: str):
    listed = re.fullmatch(r"\s*(\w+)\s+IN\s*\((.+)\)\s*", text, re.IGNORECASE)
    if listed:  # Field IN ('a', 'b', ...)
        field = listed.group(1)
        if field not in known:
            raise SoqlError("INVALID_FIELD", f"No such column '{field}' on entity '{sobject}'.")
        values = {_literal(item.strip()) for item in listed.group(2).split(",")}
        return lambda record: record.get(field) in values
    match = re.fullmatch(r"\s*(\w+)\s*(>=|<=|!=|=|>|<)\s*(.+?)\s*", text)
    if not match:
        raise SoqlError("MALFORMED_QUERY", f"unexpected condition: {text}")
    field, op, literal = match.groups()
    if field not in known:
        raise SoqlError("INVALID_FIELD", f"No such column '{field}' on entity '{sobject}'.")
    value = _literal(literal)
    compare = {
        "=": lambda a, b: a == b,
        "!=": lambda a, b: a != b,
        ">": lambda a, b: a > b,
        ">=": lambda a, b: a >= b,
        "<": lambda a, b: a < b,
        "<=": lambda a, b: a <= b,
    }[op]

    def check(record: dict[str, Any]) -> bool:
        stored = record.get(field)
        if field == "IsDeleted" or known[field] == "boolean":
            stored = bool(stored)
        if stored is None or value is None:
            return op in ("=", "!=") and compare(stored, value)
        return compare(stored, value)

    return check


def _literal(text: str) -> Any:
    lowered = text.lower()
    if lowered in ("true", "false"):
        return lowered == "true"
    if lowered == "null":
        return None
    if text.startswith("'") and text.endswith("'"):
        return text[1:-1].replace("\\'", "'")
    if re.fullmatch(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})", text):
        return _parse_literal_datetime(text)
    try:
        return float(text) if "." in text else int(text)
    except ValueError:
        raise SoqlError("MALFORMED_QUERY", f"unexpected literal: {text}") from None


def _parse_literal_datetime(text: str) -> dt.datetime:
    parsed = dt.datetime.fromisoformat(text)
    if parsed.tzinfo is None:
        raise ValueError("a time zone is required")
    return parsed.astimezone(dt.UTC)


def _sort_key(value: Any) -> tuple[bool, Any]:
    return (value is not None, value if value is not None else 0)


def _handler_for(fake: FakeSalesforce) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        disable_nagle_algorithm = True  # headers and body go out as two writes: no 40 ms delayed-ACK stall

        def do_GET(self) -> None:
            self._serve()

        def do_POST(self) -> None:
            self._serve()

        def do_PATCH(self) -> None:
            self._serve()

        def _serve(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            headers = {key.lower(): value for key, value in self.headers.items()}
            with fake._lock:
                status, answer, extra = fake.handle(self.command, self.path, headers, body)
                fake.statuses.append(status)
            payload = json.dumps(answer).encode() if answer is not None else b""
            self.send_response(status)
            self.send_header("Content-Type", "application/json;charset=UTF-8")
            self.send_header("Content-Length", str(len(payload)))
            for key, value in extra.items():
                self.send_header(key, value)
            self.end_headers()
            self.wfile.write(payload)

        def date_time_string(self, timestamp: float | None = None) -> str:
            return format_datetime(fake.now, usegmt=True)  # the fake's clock, not the machine's

        def log_message(self, format: str, *args: Any) -> None:  # keep test output quiet
            pass

    return Handler
