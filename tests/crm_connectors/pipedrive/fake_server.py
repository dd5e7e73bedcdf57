"""A local fake of Pipedrive's API (v2 lists, v1 notes and recents, OAuth token endpoint) for tests and benches.

It speaks the wire format of Pipedrive's published OpenAPI files (crm-specs/pipedrive): `{"success": true,
"data": [...], "additional_data": {...}}`; v2 lists page with `limit` + an opaque keyset `cursor` and filter
with an inclusive `updated_since`; v1 lists page with `start`/`limit` and `additional_data.pagination`;
deleted records drop out of lists (deals stay reachable with `status=deleted`) and show in `/v1/recents`
with `active_flag: false`. Auth: header `x-api-token` or `Authorization: Bearer <OAuth access token>`.
Rate limits: every answer has `x-ratelimit-*` headers; `throttle(n)` makes the next n calls answer 429.

The clock is fake and only moves with `tick()`, so tests can put several edits in one second. It starts at
the real time (whole seconds), as a connector compares its own clock with Pipedrive's for the recents feed.

    with FakePipedrive() as fake:
        fake.seed(organizations=3, persons=5)
        ... config={"base_url": fake.url}, credentials={"token": fake.api_token}
"""

from __future__ import annotations

import base64
import datetime as dt
import json
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Self
from urllib.parse import parse_qs, urlsplit

# x-token-cost of the operations served here (from the OpenAPI files).
TOKEN_COSTS = {
    "/api/v2/persons": 10,
    "/api/v2/organizations": 10,
    "/api/v2/deals": 10,
    "/api/v2/deals/archived": 20,
    "/api/v2/activities": 10,
    "/api/v2/personFields": 10,
    "/api/v2/organizationFields": 10,
    "/api/v2/dealFields": 10,
    "/api/v2/pipelines": 5,
    "/api/v2/stages": 5,
    "/v1/notes": 20,
    "/v1/recents": 20,
    "/v1/users": 20,
}
CHANGELOG_COST = 20  # GET /v1/deals/{id}/changelog
# Deal fields the changelog records (our fake's record key -> Pipedrive's changelog field_key).
CHANGELOG_KEYS = {
    "stage_id": "stage_id",
    "value": "value",
    "currency": "currency",
    "expected_close_date": "expected_close_date",
    "owner_id": "user_id",
    "status": "status",
    "pipeline_id": "pipeline_id",
}
V2_ENTITIES = {
    "/api/v2/persons": "persons",
    "/api/v2/organizations": "organizations",
    "/api/v2/deals": "deals",
    "/api/v2/deals/archived": "deals",
    "/api/v2/activities": "activities",
}
RECENTS_ITEMS = {
    "person": "persons",
    "organization": "organizations",
    "deal": "deals",
    "activity": "activities",
    "note": "notes",
}

# Custom field keys are 40-character hashes in Pipedrive.
ORG_TIER = "a" * 40
ORG_FOUNDED = "b" * 40
PERSON_SCORE = "c" * 40
PERSON_NEWSLETTER = "d" * 40
PERSON_BIRTHDAY = "e" * 40
DEAL_TERM = "f" * 40
DEAL_COMPETITORS = "0" * 40


def _field(name: str, code: str, field_type: str, *, custom: bool = True, options: list | None = None) -> dict:
    return {
        "field_name": name,
        "field_code": code,
        "field_type": field_type,
        "options": options,
        "subfields": None,
        "is_custom_field": custom,
        "is_optional_response_field": False,
    }


def default_fields() -> dict[str, list[dict]]:
    return {
        "organizations": [
            _field("Name", "name", "varchar", custom=False),
            _field(
                "Industry",
                "industry",
                "enum",
                custom=False,
                options=[{"id": 1, "label": "Software"}, {"id": 2, "label": "Retail"}],
            ),
            _field("Tier", ORG_TIER, "enum", options=[{"id": 11, "label": "Gold"}, {"id": 12, "label": "Silver"}]),
            _field("Founded", ORG_FOUNDED, "int"),
        ],
        "persons": [
            _field("Name", "name", "varchar", custom=False),
            _field("Lead score", PERSON_SCORE, "double"),
            _field("Newsletter", PERSON_NEWSLETTER, "boolean"),
            _field("Birthday", PERSON_BIRTHDAY, "date"),
        ],
        "deals": [
            _field("Title", "title", "varchar", custom=False),
            _field("Contract months", DEAL_TERM, "int"),
            _field(
                "Competitors",
                DEAL_COMPETITORS,
                "set",
                options=[{"id": 21, "label": "Acme CRM"}, {"id": 22, "label": "Other CRM"}],
            ),
        ],
    }


def _iso(moment: dt.datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def _v1_time(moment: dt.datetime) -> str:
    return moment.strftime("%Y-%m-%d %H:%M:%S")


def _parse_time(text: str) -> dt.datetime:
    parsed = dt.datetime.fromisoformat(text.strip())
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=dt.UTC)


class _BadRequest(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


@dataclass
class _Failure:
    path: str
    on_call: int
    status: int
    calls: int = 0


@dataclass
class FakePipedrive:
    api_token: str = "pd-test-token"
    client_id: str = "pd-client"
    client_secret: str = "pd-secret"
    refresh_token: str = "pd-refresh-1"
    access_token_ttl: int = 3600
    # Pipedrive documents a refresh token that stays valid for 60 days after each use; some providers rotate.
    rotate_refresh_tokens: bool = False
    now: dt.datetime = field(default_factory=lambda: dt.datetime.now(dt.UTC).replace(microsecond=0))
    records: dict[str, dict[int, dict[str, Any]]] = field(
        default_factory=lambda: {name: {} for name in ("organizations", "persons", "deals", "activities", "notes")}
    )
    fields: dict[str, list[dict]] = field(default_factory=default_fields)
    pipelines: list[dict] = field(default_factory=lambda: [{"id": 1, "name": "Sales"}, {"id": 2, "name": "Renewals"}])
    stages: list[dict] = field(
        default_factory=lambda: [
            {"id": 1, "name": "Qualified", "pipeline_id": 1, "deal_probability": 20, "order_nr": 1},
            {"id": 2, "name": "Proposal", "pipeline_id": 1, "deal_probability": 60, "order_nr": 2},
            {"id": 3, "name": "Renewal due", "pipeline_id": 2, "deal_probability": 80, "order_nr": 1},
        ]
    )
    users: list[dict] = field(
        default_factory=lambda: [
            {"id": 7, "name": "Olga Owner", "email": "olga@example.com", "active_flag": True},
            {"id": 8, "name": "Pat Owner", "email": "pat@example.com", "active_flag": True},
        ]
    )
    # Every call: (method, path, query {name: value}).
    requests: list[tuple[str, str, dict[str, str]]] = field(default_factory=list)
    tokens_spent: int = 0
    oauth_refreshes: int = 0
    rate_limit_reset: int = 2

    def __post_init__(self) -> None:
        self._lock = threading.RLock()
        self.write_rejects: dict[int, str] = {}  # person ids whose score update Pipedrive refuses (400)
        self.changelog: dict[int, list[dict[str, Any]]] = {}  # deal id -> changes, oldest first
        self._next_id = 1
        self._access_tokens: dict[str, float] = {}  # token -> expiry (time.time())
        self._throttle_left = 0
        self._failures: list[_Failure] = []
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # --- lifecycle ------------------------------------------------------------------------------------

    def start(self) -> FakePipedrive:
        fake = self

        class Handler(_Handler):
            server_state = fake

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def url(self) -> str:
        assert self._server is not None, "start() the fake first"
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    @property
    def token_url(self) -> str:
        return f"{self.url}/oauth/token"

    # --- test controls --------------------------------------------------------------------------------

    def tick(self, seconds: int = 1) -> dt.datetime:
        with self._lock:
            self.now += dt.timedelta(seconds=seconds)
            return self.now

    def throttle(self, count: int, *, reset: int | None = None) -> None:
        """The next `count` API calls answer 429 Too Many Requests."""
        with self._lock:
            self._throttle_left = count
            if reset is not None:
                self.rate_limit_reset = reset

    def fail(self, path: str, *, on_call: int, status: int = 400) -> None:
        """The `on_call`-th call (from now) to `path` answers `status` once."""
        with self._lock:
            self._failures.append(_Failure(path, on_call, status))

    def expire_access_tokens(self) -> None:
        with self._lock:
            self._access_tokens.clear()

    def calls(self, path: str) -> list[dict[str, str]]:
        return [query for _, called, query in self.requests if called == path]

    # --- data -----------------------------------------------------------------------------------------

    def _new_id(self) -> int:
        with self._lock:
            new_id = self._next_id
            self._next_id += 1
            return new_id

    def _stamp(self, record: dict[str, Any], *, new: bool) -> None:
        record["update_time"] = self.now
        if new:
            record["add_time"] = self.now

    def add(self, entity: str, **values: Any) -> int:
        with self._lock:
            record_id = values.pop("id", None) or self._new_id()
            record = {"id": record_id, "is_deleted": False, **values}
            if entity == "deals":
                record.setdefault("is_archived", False)
                record.setdefault("status", "open")
            if entity == "notes":
                record = {"id": record_id, "active_flag": True, **values}
            self._stamp(record, new=True)
            self.records[entity][record_id] = record
            return record_id

    def update(self, entity: str, record_id: int, **changes: Any) -> None:
        with self._lock:
            record = self.records[entity][record_id]
            if "custom_fields" in changes:
                changes["custom_fields"] = {**record.get("custom_fields", {}), **changes["custom_fields"]}
            if entity == "deals":
                for key, field_key in CHANGELOG_KEYS.items():
                    if key in changes and changes[key] != record.get(key):
                        self.changelog.setdefault(record_id, []).append(
                            {
                                "field_key": field_key,
                                "old_value": None if record.get(key) is None else str(record.get(key)),
                                "new_value": None if changes[key] is None else str(changes[key]),
                                "actor_user_id": 7,
                                "time": _v1_time(self.now),
                                "change_source": "app",
                                "change_source_user_agent": None,
                                "is_bulk_update_flag": False,
                            }
                        )
            record.update(changes)
            self._stamp(record, new=False)

    def delete(self, entity: str, record_id: int) -> None:
        with self._lock:
            record = self.records[entity][record_id]
            if entity == "notes":
                record["active_flag"] = False
            else:
                record["is_deleted"] = True
                if entity == "deals":
                    record["status"] = "deleted"
            self._stamp(record, new=False)

    def seed(
        self, *, organizations: int = 0, persons: int = 0, deals: int = 0, activities: int = 0, notes: int = 0
    ) -> dict[str, list[int]]:
        """Deterministic records; persons, deals, activities and notes link to the ones made before them."""
        ids: dict[str, list[int]] = {"organizations": [], "persons": [], "deals": [], "activities": [], "notes": []}
        for n in range(organizations):
            ids["organizations"].append(
                self.add(
                    "organizations",
                    name=f"Org {n}",
                    website=f"https://www.org{n}.example/about",
                    industry=1 + n % 2,
                    employee_count=10 * (n + 1),
                    annual_revenue=1000 * (n + 1),
                    address={"value": f"{n} Main St", "country": "Germany", "locality": "Berlin"},
                    custom_fields={ORG_TIER: 11 + n % 2, ORG_FOUNDED: 1990 + n},
                )
            )
            self.tick()
        orgs = ids["organizations"]
        for n in range(persons):
            ids["persons"].append(
                self.add(
                    "persons",
                    name=f"Person {n}",
                    first_name=f"First{n}",
                    last_name=f"Last{n}",
                    org_id=orgs[n % len(orgs)] if orgs else None,
                    emails=[
                        {"value": f"other{n}@example.com", "primary": False, "label": "home"},
                        {"value": f"person{n}@example.com", "primary": True, "label": "work"},
                    ],
                    phones=[{"value": f"+49 30 {n:04d}", "primary": True, "label": "work"}],
                    custom_fields={PERSON_SCORE: 0.5 + n, PERSON_NEWSLETTER: n % 2 == 0, PERSON_BIRTHDAY: "1990-05-17"},
                )
            )
            self.tick()
        people = ids["persons"]
        for n in range(deals):
            status = ("open", "won", "lost")[n % 3]
            ids["deals"].append(
                self.add(
                    "deals",
                    title=f"Deal {n}",
                    value=100 * (n + 1),
                    currency="EUR",
                    person_id=people[n % len(people)] if people else None,
                    org_id=orgs[n % len(orgs)] if orgs else None,
                    pipeline_id=1,
                    stage_id=1 + n % 2,
                    owner_id=7 + n % 2,
                    status=status,
                    expected_close_date="2026-03-31",
                    close_time=None if status == "open" else "2026-01-20T10:00:00Z",
                    custom_fields={DEAL_TERM: 12, DEAL_COMPETITORS: [21, 22]},
                )
            )
            self.tick()
        deal_ids = ids["deals"]
        kinds = ("call", "meeting", "email", "task", "deadline", "lunch")
        for n in range(activities):
            ids["activities"].append(
                self.add(
                    "activities",
                    subject=f"Activity {n}",
                    type=kinds[n % len(kinds)],
                    done=n % 2 == 0,
                    due_date="2026-01-10",
                    due_time="14:30",
                    person_id=people[n % len(people)] if people else None,
                    org_id=orgs[n % len(orgs)] if orgs else None,
                    deal_id=deal_ids[n % len(deal_ids)] if deal_ids else None,
                    note=f"<p>Talked about <b>pricing</b> &amp; terms {n}</p>",
                )
            )
            self.tick()
        for n in range(notes):
            ids["notes"].append(
                self.add(
                    "notes",
                    content=f"<div>Note {n}<br>second line</div>",
                    person_id=people[n % len(people)] if people else None,
                    org_id=orgs[n % len(orgs)] if orgs else None,
                    deal_id=deal_ids[n % len(deal_ids)] if deal_ids else None,
                )
            )
            self.tick()
        return ids

    # --- request handling (called from the server thread) ---------------------------------------------

    def handle(
        self, method: str, path: str, query: dict[str, str], headers: Any, body: bytes
    ) -> tuple[int, dict[str, str], Any]:
        with self._lock:
            self.requests.append((method, path, query))
            if method == "POST" and path == "/oauth/token":
                return self._oauth(headers, body)
            if not self._authorized(headers):
                return 401, {}, {"success": False, "error": "unauthorized access", "errorCode": 401}
            limit_headers = {
                "x-ratelimit-limit": "80",
                "x-ratelimit-remaining": "80",
                "x-ratelimit-reset": str(self.rate_limit_reset),
            }
            if self._throttle_left > 0:
                self._throttle_left -= 1
                limit_headers["x-ratelimit-remaining"] = "0"
                return 429, limit_headers, {"success": False, "error": "Request over limit", "errorCode": 429}
            for failure in self._failures:
                if failure.path == path:
                    failure.calls += 1
                    if failure.calls == failure.on_call:
                        self._failures.remove(failure)
                        return failure.status, limit_headers, {"success": False, "error": "injected failure"}
            if method in ("PATCH", "POST") and path != "/oauth/token":
                try:
                    return 200, limit_headers, self._write(method, path, body)
                except _BadRequest as exc:
                    return exc.status, limit_headers, {"success": False, "error": str(exc)}
            self.tokens_spent += TOKEN_COSTS.get(path, 10)
            try:
                return 200, limit_headers, self._route(method, path, query)
            except _BadRequest as exc:
                return exc.status, limit_headers, {"success": False, "error": str(exc)}

    # Writeback endpoints: x-token-cost of POST /v1/personFields and /v1/organizationFields is 10, of
    # PATCH /api/v2/persons/{id} and /api/v2/organizations/{id} 5.
    def _write(self, method: str, path: str, body: bytes) -> dict:
        try:
            payload = json.loads(body or b"{}")
        except ValueError:
            raise _BadRequest(400, "body is not JSON") from None
        field_entities = {
            "/v1/personFields": "persons",
            "/v1/organizationFields": "organizations",
            "/v1/dealFields": "deals",
        }
        if method == "POST" and path in field_entities:
            entity = field_entities[path]
            self.tokens_spent += 10
            if not payload.get("name") or not payload.get("field_type"):
                raise _BadRequest(400, "name and field_type are required")
            key = f"{self._new_id():040x}"
            self.fields[entity].append(_field(payload["name"], key, payload["field_type"]))
            return {
                "success": True,
                "data": {
                    "id": len(self.fields[entity]),
                    "key": key,
                    "name": payload["name"],
                    "field_type": payload["field_type"],
                    "edit_flag": True,
                },
            }
        parts = path.strip("/").split("/")
        writable = ("persons", "organizations", "deals")
        if method == "PATCH" and parts[:2] == ["api", "v2"] and len(parts) == 4 and parts[2] in writable:
            entity = parts[2]
            self.tokens_spent += 5
            record = self.records[entity].get(int(parts[3])) if parts[3].isdigit() else None
            if record is None or record["is_deleted"]:
                raise _BadRequest(404, f"{entity.removesuffix('s').title()} not found")
            custom = payload.get("custom_fields") or {}
            known = {f["field_code"] for f in self.fields[entity]}
            unknown = [key for key in custom if key not in known]
            if unknown:
                raise _BadRequest(400, f"Unknown custom field {unknown[0]}")
            if record["id"] in self.write_rejects:
                raise _BadRequest(400, self.write_rejects[record["id"]])
            self.update(entity, record["id"], custom_fields=custom)
            return {"success": True, "data": self._v2_shape(self.records[entity][record["id"]])}
        raise _BadRequest(404, f"unknown path {path}")

    def _authorized(self, headers: Any) -> bool:
        if headers.get("x-api-token") == self.api_token:
            return True
        authorization = headers.get("Authorization") or ""
        if authorization.startswith("Bearer "):
            expiry = self._access_tokens.get(authorization.removeprefix("Bearer "))
            return expiry is not None and expiry > time.time()
        return False

    def _oauth(self, headers: Any, body: bytes) -> tuple[int, dict[str, str], Any]:
        form = {key: values[0] for key, values in parse_qs(body.decode()).items()}
        client_id, client_secret = form.get("client_id"), form.get("client_secret")
        authorization = headers.get("Authorization") or ""
        if authorization.startswith("Basic "):  # Pipedrive documents Basic client auth; form fields work too
            client_id, _, client_secret = base64.b64decode(authorization[6:]).decode().partition(":")
        if (client_id, client_secret) != (self.client_id, self.client_secret):
            return 401, {}, {"success": False, "error": "invalid client"}
        if form.get("grant_type") != "refresh_token" or form.get("refresh_token") != self.refresh_token:
            return 400, {}, {"success": False, "error": "invalid_grant"}
        self.oauth_refreshes += 1
        access_token = f"pd-access-{self.oauth_refreshes}"
        self._access_tokens[access_token] = time.time() + self.access_token_ttl
        if self.rotate_refresh_tokens:
            self.refresh_token = f"pd-refresh-{self.oauth_refreshes + 1}"
        return (
            200,
            {},
            {
                "access_token": access_token,
                "token_type": "Bearer",
                "refresh_token": self.refresh_token,
                "scope": "base,deals:read,contacts:read,activities:read",
                "expires_in": self.access_token_ttl,
                "api_domain": self.url,
            },
        )

    def _route(self, method: str, path: str, query: dict[str, str]) -> Any:
        if method != "GET":
            raise _BadRequest(405, f"{method} not supported by the fake")
        if path in V2_ENTITIES:
            return self._v2_list(path, query)
        if path.endswith("Fields") and path.startswith("/api/v2/"):
            entity = {"personFields": "persons", "organizationFields": "organizations", "dealFields": "deals"}.get(
                path.rsplit("/", 1)[1]
            )
            if entity is None:
                raise _BadRequest(404, "unknown fields endpoint")
            return self._v2_static(self.fields[entity], query)
        if path == "/api/v2/pipelines":
            return self._v2_static(self.pipelines, query)
        if path == "/api/v2/stages":
            return self._v2_static(self.stages, query)
        if path == "/v1/notes":
            return self._notes(query)
        if path == "/v1/recents":
            return self._recents(query)
        if path == "/v1/users":
            return {"success": True, "data": self.users}
        parts = path.strip("/").split("/")
        if len(parts) == 4 and parts[:2] == ["v1", "deals"] and parts[3] == "changelog" and parts[2].isdigit():
            return self._changelog(int(parts[2]), query)
        raise _BadRequest(404, f"unknown path {path}")

    def _changelog(self, deal_id: int, query: dict[str, str]) -> dict:
        """GET /v1/deals/{id}/changelog: newest first, `limit` + opaque `cursor` (additional_data.next_cursor)."""
        if deal_id not in self.records["deals"]:
            raise _BadRequest(404, "Deal not found")
        self.tokens_spent += CHANGELOG_COST - 10  # handle() charged the default 10 for a path it does not list
        entries = list(reversed(self.changelog.get(deal_id, [])))
        limit = self._limit(query)
        offset = int(base64.urlsafe_b64decode(query["cursor"]).decode()) if query.get("cursor") else 0
        more = offset + limit < len(entries)
        next_cursor = base64.urlsafe_b64encode(str(offset + limit).encode()).decode() if more else None
        return {
            "success": True,
            "data": entries[offset : offset + limit],
            "additional_data": {"next_cursor": next_cursor},
        }

    @staticmethod
    def _limit(query: dict[str, str]) -> int:
        limit = int(query.get("limit", 100))
        if not 1 <= limit <= 500:
            raise _BadRequest(400, "limit must be 1..500")
        return limit

    def _v2_static(self, items: list[dict], query: dict[str, str]) -> dict:
        limit = self._limit(query)
        offset = json.loads(base64.urlsafe_b64decode(query["cursor"]))["offset"] if query.get("cursor") else 0
        page = items[offset : offset + limit]
        more = offset + limit < len(items)
        next_cursor = (
            base64.urlsafe_b64encode(json.dumps({"offset": offset + limit}).encode()).decode() if more else None
        )
        return {"success": True, "data": page, "additional_data": {"next_cursor": next_cursor}}

    def _v2_list(self, path: str, query: dict[str, str]) -> dict:
        entity = V2_ENTITIES[path]
        limit = self._limit(query)
        rows = list(self.records[entity].values())
        if entity == "deals":
            archived = path.endswith("/archived")
            statuses = set((query.get("status") or "open,won,lost").split(","))
            rows = [r for r in rows if r.get("is_archived", False) == archived and r["status"] in statuses]
        else:
            rows = [r for r in rows if not r["is_deleted"]]
        if query.get("ids"):
            wanted = {int(i) for i in query["ids"].split(",") if i.strip()}
            if len(wanted) > 100:
                raise _BadRequest(400, "ids takes up to 100 ids")
            rows = [r for r in rows if r["id"] in wanted]
        if query.get("updated_since"):
            since = _parse_time(query["updated_since"])
            rows = [r for r in rows if r["update_time"] >= since]  # inclusive, as documented
        if query.get("updated_until"):
            until = _parse_time(query["updated_until"])
            rows = [r for r in rows if r["update_time"] < until]
        sort_by = query.get("sort_by", "id")
        if sort_by not in ("id", "update_time", "add_time"):
            raise _BadRequest(400, "bad sort_by")

        def key(row: dict) -> tuple:
            return (row[sort_by], row["id"]) if sort_by != "id" else (row["id"],)

        rows.sort(key=key, reverse=query.get("sort_direction") == "desc")
        if query.get("cursor"):  # keyset: the cursor names the last row served
            after = json.loads(base64.urlsafe_b64decode(query["cursor"]))
            marker = (_parse_time(after["v"]), after["id"]) if sort_by != "id" else (after["id"],)
            rows = [r for r in rows if (key(r) < marker if query.get("sort_direction") == "desc" else key(r) > marker)]
        page = rows[:limit]
        next_cursor = None
        if len(rows) > limit:
            last = page[-1]
            marker = {"v": _iso(last[sort_by]) if sort_by != "id" else None, "id": last["id"]}
            next_cursor = base64.urlsafe_b64encode(json.dumps(marker).encode()).decode()
        return {
            "success": True,
            "data": [self._v2_shape(r) for r in page],
            "additional_data": {"next_cursor": next_cursor},
        }

    @staticmethod
    def _v2_shape(row: dict) -> dict:
        return {key: (_iso(value) if isinstance(value, dt.datetime) else value) for key, value in row.items()}

    @staticmethod
    def _v1_shape(row: dict) -> dict:
        shaped = {key: (_v1_time(value) if isinstance(value, dt.datetime) else value) for key, value in row.items()}
        if "is_deleted" in shaped:
            shaped["active_flag"] = not shaped.pop("is_deleted")
        return shaped

    def _notes(self, query: dict[str, str]) -> dict:
        start, limit = int(query.get("start", 0)), self._limit(query)
        rows = [r for r in self.records["notes"].values() if r["active_flag"]]
        if query.get("updated_since"):
            since = _parse_time(query["updated_since"])
            rows = [r for r in rows if r["update_time"] >= since]
        sort = (query.get("sort") or "id ASC").replace(" ", "").lower()
        if sort.startswith("update_time"):
            rows.sort(key=lambda r: (r["update_time"], r["id"]))
        else:
            rows.sort(key=lambda r: r["id"])
        page = rows[start : start + limit]
        more = start + limit < len(rows)
        pagination = {"start": start, "limit": limit, "more_items_in_collection": more}
        if more:
            pagination["next_start"] = start + limit
        return {
            "success": True,
            "data": [self._v1_shape(r) for r in page],
            "additional_data": {"pagination": pagination},
        }

    def _recents(self, query: dict[str, str]) -> dict:
        if not query.get("since_timestamp"):
            raise _BadRequest(400, "since_timestamp is required")
        since = _parse_time(query["since_timestamp"])
        wanted = (query.get("items") or ",".join(RECENTS_ITEMS)).split(",")
        changes = [
            (row["update_time"], item, row)
            for item in wanted
            for row in self.records[RECENTS_ITEMS[item]].values()
            if row["update_time"] >= since
        ]
        changes.sort(key=lambda change: (change[0], change[1], change[2]["id"]))
        start, limit = int(query.get("start", 0)), self._limit(query)
        page = changes[start : start + limit]
        more = start + limit < len(changes)
        pagination = {"start": start, "limit": limit, "more_items_in_collection": more}
        if more:
            pagination["next_start"] = start + limit
        additional = {"since_timestamp": query["since_timestamp"], "pagination": pagination}
        if page:
            additional["last_timestamp_on_page"] = _v1_time(page[-1][0])
        data = [{"item": item, "id": row["id"], "data": self._v1_shape(row)} for _, item, row in page]
        return {"success": True, "data": data, "additional_data": additional}


class _Handler(BaseHTTPRequestHandler):
    server_state: FakePipedrive
    protocol_version = "HTTP/1.1"
    # One buffered write per answer and no Nagle delay: otherwise each call waits ~40 ms for a delayed ACK.
    wbufsize = 1 << 16
    disable_nagle_algorithm = True

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def _serve(self, method: str) -> None:
        parts = urlsplit(self.path)
        query = {key: values[-1] for key, values in parse_qs(parts.query, keep_blank_values=True).items()}
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        status, headers, payload = self.server_state.handle(method, parts.path, query, self.headers, body)
        data = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        for name, value in headers.items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self) -> None:
        self._serve("GET")

    def do_POST(self) -> None:
        self._serve("POST")

    def do_PATCH(self) -> None:
        self._serve("PATCH")
