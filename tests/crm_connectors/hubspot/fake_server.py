"""A local fake of HubSpot's CRM v3/v4 API, speaking the wire format of shared/crm-specs/hubspot/CONTRACT.md.

Records are generated on the fly from their index (deterministic, no big dicts), so the same server serves
a 20-record unit test and a 200,000-contact benchmark. Only what differs from the generated baseline is
stored: modified properties and timestamps, archived and merged records, new records.

    with FakeHubSpot(contacts=50, companies=10) as hub:
        hub.url, hub.token                      # base URL and a valid private-app token
        hub.modify("contacts", 3, firstname="Zoe")
        hub.archive("deals", 2)
        hub.fault = lambda req: (500, {}, {"message": "boom"}) if req.path.endswith("/search") else None

Endpoints: list (`after`, `limit` <= 100, `archived`, `associations` inline), search (filterGroups/sorts/after, the 10,000-result cap
answered with 400), properties, v4 association batch read (per-id paging, ids without associations in a 207's
errors), OAuth token refresh (expiring access tokens, rotated refresh tokens), 429s with Retry-After.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Self
from urllib.parse import parse_qs, urlsplit

BASE_TIME = datetime(2026, 1, 1, tzinfo=UTC)
BASE_MS = int(BASE_TIME.timestamp() * 1000)
STEP_MS = 1000  # record i was last modified at BASE_MS + i * STEP_MS
SEARCH_CAP = 10_000
ENGAGEMENTS = ("emails", "notes", "calls", "meetings", "tasks")
# Engagements share one id space in HubSpot: give each type its own id range.
ID_BASE = {
    "contacts": 0,
    "companies": 0,
    "deals": 0,
    "emails": 1_000_000_000,
    "notes": 2_000_000_000,
    "calls": 3_000_000_000,
    "meetings": 4_000_000_000,
    "tasks": 5_000_000_000,
}
MODIFIED_PROPERTY = {"contacts": "lastmodifieddate"}  # every other object: hs_lastmodifieddate

STAGES = ("subscriber", "lead", "marketingqualifiedlead", "salesqualifiedlead", "opportunity", "customer")
DEAL_STAGES = ("appointmentscheduled", "qualifiedtobuy", "contractsent", "closedwon", "closedlost")
# GET /crm/v3/pipelines/deals: (pipeline id, label, [(stage id, label, probability, closed)]); the second pipeline's
# stage ids differ from the default one's, as every custom pipeline's do.
PIPELINES = (
    (
        "default",
        "Sales Pipeline",
        [
            ("appointmentscheduled", "Appointment Scheduled", "0.2", False),
            ("qualifiedtobuy", "Qualified To Buy", "0.4", False),
            ("contractsent", "Contract Sent", "0.9", False),
            ("closedwon", "Closed Won", "1.0", True),
            ("closedlost", "Closed Lost", "0.0", True),
        ],
    ),
    (
        "partners",
        "Partner Pipeline",
        [
            ("1001", "Registered", "0.1", False),
            ("1002", "Partner commit", "0.7", False),
            ("1003", "Partner won", "1.0", True),
            ("1004", "Partner lost", "0.0", True),
        ],
    ),
)
# GET /crm/v3/owners: (id, email); deal i is owned by OWNERS[i % 3].
OWNERS = (("101", "ana.owner@example.test"), ("102", "ben.owner@example.test"), ("103", "chloe.owner@example.test"))
INDUSTRIES = ("COMPUTER_SOFTWARE", "RETAIL", "HOSPITAL_HEALTH_CARE", "BANKING")
FIRST = ("Ana", "Ben", "Chloe", "Dev", "Eva", "Femi", "Gus", "Hana")
LAST = ("Silva", "Novak", "Okafor", "Berg", "Kim", "Rossi", "Dubois", "Tanaka")

# name -> (type, fieldType, hubspotDefined)
PROPERTY_DEFINITIONS: dict[str, dict[str, tuple[str, str, bool]]] = {
    "contacts": {
        "hs_object_id": ("number", "number", True),
        "firstname": ("string", "text", True),
        "lastname": ("string", "text", True),
        "email": ("string", "text", True),
        "phone": ("string", "phonenumber", True),
        "jobtitle": ("string", "text", True),
        "lifecyclestage": ("enumeration", "radio", True),
        "hs_lead_status": ("enumeration", "radio", True),
        "hs_analytics_source": ("enumeration", "select", True),
        "hs_email_optout": ("bool", "booleancheckbox", True),
        "createdate": ("datetime", "date", True),
        "lastmodifieddate": ("datetime", "date", True),
        "hs_lifecyclestage_customer_date": ("datetime", "date", True),
        "hs_merged_object_ids": ("enumeration", "checkbox", True),
        "nps_score": ("number", "number", False),
        "is_vip": ("bool", "booleancheckbox", False),
        "favorite_products": ("enumeration", "checkbox", False),
        "renewal_date": ("date", "date", False),
        "last_demo_at": ("datetime", "date", False),
        "referral_code": ("string", "text", False),
    },
    "companies": {
        "hs_object_id": ("number", "number", True),
        "name": ("string", "text", True),
        "domain": ("string", "text", True),
        "industry": ("enumeration", "select", True),
        "numberofemployees": ("number", "number", True),
        "annualrevenue": ("number", "number", True),
        "country": ("string", "text", True),
        "city": ("string", "text", True),
        "createdate": ("datetime", "date", True),
        "hs_lastmodifieddate": ("datetime", "date", True),
        "hs_merged_object_ids": ("enumeration", "checkbox", True),
        "tier": ("enumeration", "select", False),
    },
    "deals": {
        "hs_object_id": ("number", "number", True),
        "dealname": ("string", "text", True),
        "amount": ("number", "number", True),
        "deal_currency_code": ("enumeration", "select", True),
        "pipeline": ("enumeration", "select", True),
        "dealstage": ("enumeration", "radio", True),
        "closedate": ("datetime", "date", True),
        "createdate": ("datetime", "date", True),
        "hs_lastmodifieddate": ("datetime", "date", True),
        "hs_is_closed_won": ("bool", "booleancheckbox", True),
        "hs_is_closed": ("bool", "booleancheckbox", True),
        "hs_merged_object_ids": ("enumeration", "checkbox", True),
        "hubspot_owner_id": ("enumeration", "select", True),
        "forecast_category": ("enumeration", "select", False),
    },
}
_ENGAGEMENT_COMMON = {
    "hs_object_id": ("number", "number", True),
    "hs_timestamp": ("datetime", "date", True),
    "createdate": ("datetime", "date", True),
    "hs_lastmodifieddate": ("datetime", "date", True),
}
PROPERTY_DEFINITIONS.update(
    {
        "emails": {
            **_ENGAGEMENT_COMMON,
            "hs_email_subject": ("string", "text", True),
            "hs_email_text": ("string", "textarea", True),
            "hs_email_direction": ("enumeration", "select", True),
        },
        "notes": {**_ENGAGEMENT_COMMON, "hs_note_body": ("string", "textarea", True)},
        "calls": {
            **_ENGAGEMENT_COMMON,
            "hs_call_title": ("string", "text", True),
            "hs_call_body": ("string", "textarea", True),
            "hs_call_direction": ("enumeration", "select", True),
            "call_outcome_code": ("enumeration", "select", False),
        },
        "meetings": {
            **_ENGAGEMENT_COMMON,
            "hs_meeting_title": ("string", "text", True),
            "hs_meeting_body": ("string", "textarea", True),
        },
        "tasks": {
            **_ENGAGEMENT_COMMON,
            "hs_task_subject": ("string", "text", True),
            "hs_task_body": ("string", "textarea", True),
        },
    }
)
# (from, to) -> (unlabeled typeId, primary typeId or None)
ASSOCIATION_TYPES = {
    ("contacts", "companies"): (279, 1),
    ("deals", "companies"): (341, 5),
    ("deals", "contacts"): (3, None),
    **{(e, "contacts"): (t, None) for e, t in zip(ENGAGEMENTS, (198, 202, 194, 200, 204), strict=True)},
    **{(e, "companies"): (t, None) for e, t in zip(ENGAGEMENTS, (186, 190, 182, 188, 192), strict=True)},
    **{(e, "deals"): (t, None) for e, t in zip(ENGAGEMENTS, (210, 214, 206, 212, 216), strict=True)},
}


def iso(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, tz=UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


@dataclass
class Req:
    method: str
    path: str
    query: dict[str, list[str]]
    body: Any
    headers: dict[str, str]


class FakeHubSpot:
    def __init__(
        self,
        *,
        contacts: int = 0,
        companies: int = 0,
        deals: int = 0,
        engagements: int = 0,  # per engagement type
        token: str = "pat-na1-test-token",
        client_id: str = "client-id",
        client_secret: str = "client-secret",
        refresh_token: str = "refresh-0",
        access_token_ttl: int = 1800,
        rotate_refresh_tokens: bool = True,
        associations_page_size: int = 500,
        clock: Callable[[], float] = time.time,
        hub_id: int = 62515,
        app_id: int = 54321,
    ) -> None:
        self.hub_id, self.app_id = hub_id, app_id
        self.counts = {
            "contacts": contacts,
            "companies": companies,
            "deals": deals,
            **dict.fromkeys(ENGAGEMENTS, engagements),
        }
        self.token = token
        self.client_id, self.client_secret, self.refresh_token = client_id, client_secret, refresh_token
        self.access_token_ttl = access_token_ttl
        self.rotate_refresh_tokens = rotate_refresh_tokens
        self.associations_page_size = associations_page_size
        self.clock = clock
        self.access_tokens: dict[str, float] = {}  # token -> expiry (epoch s)
        self.token_requests = 0
        self.overrides: dict[str, dict[int, dict[str, Any]]] = {t: {} for t in self.counts}
        self.modified_ms: dict[str, dict[int, int]] = {t: {} for t in self.counts}
        self.archived: dict[str, dict[int, int]] = {t: {} for t in self.counts}  # index -> archivedAt ms
        self.absorbed: dict[str, set[int]] = {t: set() for t in self.counts}  # merged away: gone everywhere
        self.merged_into: dict[str, dict[int, list[int]]] = {t: {} for t in self.counts}
        self.extra_properties: dict[str, dict[str, tuple[str, str, bool]]] = {t: {} for t in self.counts}
        # Values set by modify() after the generated ones, per record and property: [(value, ms)] oldest first.
        self.history: dict[str, dict[int, dict[str, list[tuple[Any, int]]]]] = {t: {} for t in self.counts}
        self.fault: Callable[[Req], tuple[int, dict[str, str], Any] | None] | None = None
        self.requests: list[Req] = []  # every request, faults included
        # Writeback: contact ids whose batch/update input fails validation (a 207 error item), with the message.
        self.write_rejects: dict[str, str] = {}
        self._lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None
        # Paging through one search re-runs the same query: keep its sorted matches until the data changes.
        self._version = 0
        self._search_cache: dict[str, list[int]] = {}

    # --- lifecycle ----------------------------------------------------------------------------------------

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def start(self) -> None:
        fake = self

        class Handler(_Handler):
            hub = fake

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    @property
    def url(self) -> str:
        assert self._server is not None, "start() the fake first"
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    # --- changing the data --------------------------------------------------------------------------------

    def now_ms(self) -> int:
        return int(self.clock() * 1000)

    def record_id(self, object_type: str, index: int) -> str:
        return str(ID_BASE[object_type] + index + 1)

    def index_of(self, object_type: str, record_id: str | int) -> int:
        return int(record_id) - ID_BASE[object_type] - 1

    def modify(self, object_type: str, index: int, *, at_ms: int | None = None, **properties: Any) -> None:
        with self._lock:
            self._version += 1
            stamp = at_ms if at_ms is not None else self.now_ms()
            self.overrides[object_type].setdefault(index, {}).update(properties)
            self.modified_ms[object_type][index] = stamp
            for name, value in properties.items():
                self.history[object_type].setdefault(index, {}).setdefault(name, []).append((value, stamp))

    def modify_many(
        self, object_type: str, indexes: range | list[int], *, at_ms: int | None = None, **properties: Any
    ) -> None:
        """A bulk edit: many records get the same new values and last-modified time."""
        stamp = at_ms if at_ms is not None else self.now_ms()
        with self._lock:
            self._version += 1
            for index in indexes:
                self.modified_ms[object_type][index] = stamp
                if properties:
                    self.overrides[object_type].setdefault(index, {}).update(properties)

    def create(self, object_type: str, **properties: Any) -> int:
        with self._lock:
            self._version += 1
            index = self.counts[object_type]
            self.counts[object_type] += 1
            self.overrides[object_type][index] = dict(properties)
            self.modified_ms[object_type][index] = self.now_ms()
        return index

    def archive(self, object_type: str, index: int) -> None:
        with self._lock:
            self._version += 1
            self.archived[object_type][index] = self.now_ms()

    def merge(self, object_type: str, *, survivor: int, absorbed: int) -> None:
        with self._lock:
            self._version += 1
            self.absorbed[object_type].add(absorbed)
            self.merged_into[object_type].setdefault(survivor, []).append(absorbed)
            self.modified_ms[object_type][survivor] = self.now_ms()

    def purge(self, object_type: str, index: int) -> None:
        """Gone for good (a GDPR delete, or archived more than 90 days ago): in no list at all."""
        with self._lock:
            self._version += 1
            self.absorbed[object_type].add(index)

    def add_property(self, object_type: str, name: str, type_: str, field_type: str) -> None:
        self.extra_properties[object_type][name] = (type_, field_type, False)

    def live_indexes(self, object_type: str) -> list[int]:
        return [i for i in range(self.counts[object_type]) if self._is_live(object_type, i)]

    # --- generated records --------------------------------------------------------------------------------

    def _is_live(self, object_type: str, index: int) -> bool:
        return index not in self.archived[object_type] and index not in self.absorbed[object_type]

    def _modified(self, object_type: str, index: int) -> int:
        return self.modified_ms[object_type].get(index, BASE_MS + index * STEP_MS)

    def _base_properties(self, object_type: str, index: int) -> dict[str, Any]:
        created = BASE_MS - 30 * 86_400_000 + index * STEP_MS
        props: dict[str, Any] = {"hs_object_id": self.record_id(object_type, index), "createdate": iso(created)}
        i = index
        if object_type == "contacts":
            first, last = FIRST[i % len(FIRST)], LAST[(i // len(FIRST)) % len(LAST)]
            stage = STAGES[i % len(STAGES)]
            props.update(
                firstname=first,
                lastname=last,
                email=f"{first.lower()}.{last.lower()}{i}@example.test",
                phone=f"+1 555 {i:07d}",
                jobtitle=("VP Sales", "Engineer", "CFO", None)[i % 4],
                lifecyclestage=stage,
                hs_lead_status=("NEW", "OPEN", "IN_PROGRESS")[i % 3],
                hs_analytics_source="ORGANIC_SEARCH",
                hs_email_optout="true" if i % 10 == 0 else "false",
                hs_lifecyclestage_customer_date=iso(created + 86_400_000) if stage == "customer" else None,
                nps_score=str(i % 11),
                is_vip="true" if i % 7 == 0 else "false",
                favorite_products="alpha;beta" if i % 2 else None,
                renewal_date="2026-06-01" if i % 3 == 0 else None,
                last_demo_at=str(created + 3_600_000) if i % 5 == 0 else None,  # epoch-ms, as HubSpot sometimes sends
                referral_code=f"R{i}",
            )
        elif object_type == "companies":
            props.update(
                name=f"Company {i}",
                domain=f"company{i}.example.test",
                industry=INDUSTRIES[i % len(INDUSTRIES)],
                numberofemployees=str(10 + i % 500),
                annualrevenue=f"{100000 + i * 10}.50",
                country="Germany",
                city="Berlin",
                tier=("gold", "silver", None)[i % 3],
            )
        elif object_type == "deals":
            stage = DEAL_STAGES[i % len(DEAL_STAGES)]
            props.update(
                dealname=f"Deal {i}",
                amount=str(1000 + i),
                deal_currency_code="EUR",
                pipeline="default",
                dealstage=stage,
                closedate=iso(BASE_MS + (i % 90) * 86_400_000),
                hubspot_owner_id=OWNERS[i % len(OWNERS)][0],
                hs_is_closed_won="true" if stage == "closedwon" else "false",
                hs_is_closed="true" if stage in ("closedwon", "closedlost") else "false",
                forecast_category=("pipeline", "commit")[i % 2],
            )
        else:
            props["hs_timestamp"] = iso(created + 60_000)
            if object_type == "emails":
                props.update(
                    hs_email_subject=f"Re: proposal {i}",
                    hs_email_text=f"Hello {i}",
                    hs_email_direction=("EMAIL", "INCOMING_EMAIL")[i % 2],
                )
            elif object_type == "notes":
                props.update(hs_note_body=f"<p>Note {i}</p>")
            elif object_type == "calls":
                props.update(
                    hs_call_title=f"Call {i}",
                    hs_call_body="Discussed pricing",
                    hs_call_direction=("OUTBOUND", "INBOUND")[i % 2],
                    call_outcome_code="connected",
                )
            elif object_type == "meetings":
                props.update(hs_meeting_title=f"Demo {i}", hs_meeting_body="Agenda")
            elif object_type == "tasks":
                props.update(hs_task_subject=f"Follow up {i}", hs_task_body="Call back")
        return props

    def properties_of(self, object_type: str, index: int) -> dict[str, Any]:
        props = self._base_properties(object_type, index)
        props["createdAt"] = props["createdate"]  # the record-level field; popped by record()
        props.update(self.overrides[object_type].get(index, {}))
        modified = iso(self._modified(object_type, index))
        props[MODIFIED_PROPERTY.get(object_type, "hs_lastmodifieddate")] = modified
        merged = self.merged_into[object_type].get(index)
        if merged:
            props["hs_merged_object_ids"] = ";".join(self.record_id(object_type, m) for m in merged)
        return props

    def record(self, object_type: str, index: int, wanted: list[str] | None) -> dict[str, Any]:
        props = self.properties_of(object_type, index)
        created_at = props.pop("createdAt")
        if wanted is not None:
            props = {name: props.get(name) for name in wanted if name in props}
        modified = iso(self._modified(object_type, index))
        out = {
            "id": self.record_id(object_type, index),
            "properties": props,
            "createdAt": created_at,
            "updatedAt": modified,
            "archived": index in self.archived[object_type],
        }
        if out["archived"]:
            out["archivedAt"] = iso(self.archived[object_type][index])
        return out

    def property_history(self, object_type: str, index: int, name: str) -> list[dict[str, Any]]:
        """`propertiesWithHistory` of one property, newest first: the generated value at creation (a deal past
        its first stage went through `appointmentscheduled` first, and its first close date was 30 days earlier),
        then every value modify() set."""
        base = self._base_properties(object_type, index)
        created = BASE_MS - 30 * 86_400_000 + index * STEP_MS
        entries: list[tuple[Any, int]] = []
        if name in base and base[name] is not None:
            value = base[name]
            if object_type == "deals" and name == "dealstage" and value != DEAL_STAGES[0]:
                entries += [(DEAL_STAGES[0], created), (value, created + 5 * 86_400_000)]
            elif object_type == "deals" and name == "closedate":
                earlier = iso(BASE_MS + (index % 90 - 30) * 86_400_000)
                entries += [(earlier, created), (value, created + 7 * 86_400_000)]
            else:
                entries.append((value, created))
        entries += self.history[object_type].get(index, {}).get(name, [])
        return [
            {"value": value, "timestamp": iso(stamp), "sourceType": "CRM_UI", "sourceId": "userId:1"}
            for value, stamp in reversed(entries)
        ]

    def associations(self, from_type: str, index: int, to_type: str) -> list[tuple[int, list[int]]]:
        """[(target index, typeIds)] of a live record; links to archived or merged-away targets are gone."""
        n_to = self.counts[to_type]
        if not n_to or (from_type, to_type) not in ASSOCIATION_TYPES:
            return []
        unlabeled, primary = ASSOCIATION_TYPES[(from_type, to_type)]
        if from_type == "contacts":
            targets = [index % max(1, self.counts["companies"])]
        elif from_type == "deals":
            targets = [index % n_to]
        elif to_type == "deals":
            targets = [index % n_to] if index % 2 == 0 else []
        elif to_type == "companies":
            targets = [(index % max(1, self.counts["contacts"])) % n_to]
        else:
            targets = [index % n_to, (index + 1) % n_to] if n_to > 1 else [0]
        links = []
        for position, target in enumerate(dict.fromkeys(targets)):
            if not self._is_live(to_type, target):
                continue
            type_ids = [unlabeled] + ([primary] if primary and position == 0 else [])
            links.append((target, type_ids))
        return links

    # --- request handling ---------------------------------------------------------------------------------

    def handle(self, req: Req) -> tuple[int, dict[str, str], Any]:
        with self._lock:
            self.requests.append(req)
        if self.fault is not None:
            injected = self.fault(req)
            if injected is not None:
                return injected
        if req.path == "/oauth/v1/token" and req.method == "POST":
            return self._token(req)
        if req.path.startswith("/oauth/v1/access-tokens/") and req.method == "GET":
            return self._token_info(req.path.rsplit("/", 1)[-1])
        if not self._authorized(req.headers.get("authorization", "")):
            return (
                401,
                {},
                {
                    "status": "error",
                    "category": "INVALID_AUTHENTICATION",
                    "message": "Authentication credentials not found or expired.",
                },
            )
        parts = req.path.strip("/").split("/")
        written = self._writeback_route(parts, req)
        if written is not None:
            return written
        with self._lock:
            if parts[:3] == ["crm", "v3", "objects"] and len(parts) == 4 and req.method == "GET":
                return self._list(parts[3], req)
            if parts[:3] == ["crm", "v3", "objects"] and parts[4:] == ["search"] and req.method == "POST":
                return self._search(parts[3], req)
            if parts[:3] == ["crm", "v3", "objects"] and parts[4:] == ["batch", "read"] and req.method == "POST":
                return self._batch_read(parts[3], req)
            if parts[:3] == ["crm", "v3", "properties"] and len(parts) == 4 and req.method == "GET":
                return self._properties(parts[3])
            if parts == ["crm", "v3", "owners"] and req.method == "GET":
                return self._owners(req)
            if parts == ["crm", "v3", "pipelines", "deals"] and req.method == "GET":
                return 200, {}, {"results": [_pipeline(*pipeline) for pipeline in PIPELINES]}
            if parts[:3] == ["crm", "v4", "associations"] and parts[5:] == ["batch", "read"] and req.method == "POST":
                return self._associations(parts[3], parts[4], req)
        return 404, {}, {"status": "error", "category": "OBJECT_NOT_FOUND", "message": f"no route {req.path}"}

    # --- writeback: property read/create, batch update (CONTRACT.md §4.2, §4.3, §6.4) -------------------------

    def _writeback_route(self, parts: list[str], req: Req) -> tuple[int, dict[str, str], Any] | None:
        if parts[:3] == ["crm", "v3", "properties"] and len(parts) == 5 and req.method == "GET":
            definition = {**PROPERTY_DEFINITIONS.get(parts[3], {}), **self.extra_properties.get(parts[3], {})}.get(
                parts[4]
            )
            if definition is None:
                return (
                    404,
                    {},
                    {
                        "status": "error",
                        "category": "OBJECT_NOT_FOUND",
                        "message": f"Unable to find property {parts[4]}",
                    },
                )
            return (
                200,
                {},
                {
                    "name": parts[4],
                    "type": definition[0],
                    "fieldType": definition[1],
                    "hubspotDefined": definition[2],
                    "groupName": "contactinformation",
                },
            )
        if parts[:3] == ["crm", "v3", "properties"] and len(parts) == 4 and req.method == "POST":
            body = req.body or {}
            missing = [key for key in ("name", "label", "type", "fieldType", "groupName") if not body.get(key)]
            if missing:
                return 400, {}, {"status": "error", "category": "VALIDATION_ERROR", "message": f"missing {missing}"}
            known = {**PROPERTY_DEFINITIONS.get(parts[3], {}), **self.extra_properties.get(parts[3], {})}
            if body["name"] in known:
                return (
                    409,
                    {},
                    {
                        "status": "error",
                        "category": "OBJECT_ALREADY_EXISTS",
                        "message": f"A property named '{body['name']}' already exists.",
                    },
                )
            self.add_property(parts[3], body["name"], body["type"], body["fieldType"])
            return 201, {"Location": f"/crm/v3/properties/{parts[3]}/{body['name']}"}, {**body, "hubspotDefined": False}
        if parts[:3] == ["crm", "v3", "objects"] and parts[4:] == ["batch", "update"] and req.method == "POST":
            return self._batch_update(parts[3], req)
        return None

    def _batch_update(self, object_type: str, req: Req) -> tuple[int, dict[str, str], Any]:
        if bad := self._check_type(object_type):
            return bad
        inputs = (req.body or {}).get("inputs") or []
        if len(inputs) > 100:
            return 400, {}, {"status": "error", "category": "VALIDATION_ERROR", "message": "Batch size above 100"}
        known = {**PROPERTY_DEFINITIONS[object_type], **self.extra_properties[object_type]}
        for item in inputs:
            for name in item.get("properties") or {}:
                if name not in known:  # HubSpot refuses the whole batch for an unknown property
                    return (
                        400,
                        {},
                        {
                            "status": "error",
                            "category": "VALIDATION_ERROR",
                            "message": f'Property "{name}" does not exist',
                            "subCategory": "PROPERTY_DOESNT_EXIST",
                        },
                    )
        results, errors = [], []
        for item in inputs:
            record_id = str(item.get("id"))
            index = self.index_of(object_type, record_id) if record_id.isdigit() else -1
            if not (0 <= index < self.counts[object_type] and self._is_live(object_type, index)):
                errors.append(
                    {
                        "status": "error",
                        "category": "OBJECT_NOT_FOUND",
                        "message": "record not found",
                        "context": {"ids": [record_id]},
                        "errors": [],
                        "links": {},
                    }
                )
                continue
            if record_id in self.write_rejects:
                errors.append(
                    {
                        "status": "error",
                        "category": "VALIDATION_ERROR",
                        "message": self.write_rejects[record_id],
                        "context": {"objectWriteTraceId": [str(item.get("objectWriteTraceId"))]},
                        "errors": [],
                        "links": {},
                    }
                )
                continue
            self.modify(object_type, index, **(item.get("properties") or {}))
            record = self.record(object_type, index, list((item.get("properties") or {}).keys()))
            if item.get("objectWriteTraceId"):
                record["objectWriteTraceId"] = item["objectWriteTraceId"]
            results.append(record)
        stamp = iso(self.now_ms())
        out: dict[str, Any] = {"status": "COMPLETE", "results": results, "startedAt": stamp, "completedAt": stamp}
        if errors:
            out["numErrors"] = len(errors)
            out["errors"] = errors
            return 207, {}, out
        return 200, {}, out

    def _owners(self, req: Req) -> tuple[int, dict[str, str], Any]:
        """GET /crm/v3/owners, one owner per page (so paging is exercised)."""
        after = int((req.query.get("after") or ["0"])[0])
        owner_id, email = OWNERS[after]
        out: dict[str, Any] = {
            "results": [
                {
                    "id": owner_id,
                    "email": email,
                    "firstName": email.split(".")[0].title(),
                    "lastName": "Owner",
                    "userId": int(owner_id) * 10,
                    "archived": False,
                }
            ]
        }
        if after + 1 < len(OWNERS):
            out["paging"] = {"next": {"after": str(after + 1)}}
        return 200, {}, out

    def _authorized(self, header: str) -> bool:
        token = header.removeprefix("Bearer ").strip()
        if token and token == self.token:
            return True
        expiry = self.access_tokens.get(token)
        return expiry is not None and self.clock() < expiry

    def _token(self, req: Req) -> tuple[int, dict[str, str], Any]:
        form = req.body if isinstance(req.body, dict) else {}
        if (
            form.get("grant_type") != "refresh_token"
            or form.get("client_id") != self.client_id
            or form.get("client_secret") != self.client_secret
        ):
            return 400, {}, {"status": "BAD_CLIENT_ID", "message": "missing or unknown client"}
        if form.get("refresh_token") != self.refresh_token:
            return 400, {}, {"status": "BAD_REFRESH_TOKEN", "message": "missing or unknown refresh token"}
        with self._lock:
            self.token_requests += 1
            access = f"access-{self.token_requests}"
            self.access_tokens[access] = self.clock() + self.access_token_ttl
            if self.rotate_refresh_tokens:
                self.refresh_token = f"refresh-{self.token_requests}"
        return (
            200,
            {},
            {
                "token_type": "bearer",
                "access_token": access,
                "refresh_token": self.refresh_token,
                "expires_in": self.access_token_ttl,
                "hub_id": self.hub_id,
                "token_use": "access_token",
            },
        )

    def _token_info(self, token: str) -> tuple[int, dict[str, str], Any]:
        """Introspection (CONTRACT.md 1): the token itself is the credential, no Authorization header."""
        expiry = self.access_tokens.get(token)
        if expiry is None or self.clock() >= expiry:
            return 404, {}, {"status": "error", "message": "access token not found or expired"}
        return (
            200,
            {},
            {
                "token": token,
                "hub_id": self.hub_id,
                "app_id": self.app_id,
                "user_id": 1,
                "scopes": ["crm.objects.contacts.read"],
                "token_type": "access",
                "expires_in": int(expiry - self.clock()),
                "hub_domain": "demo.example.com",
            },
        )

    def _check_type(self, object_type: str) -> tuple[int, dict, Any] | None:
        if object_type not in self.counts:
            return (
                400,
                {},
                {"status": "error", "category": "VALIDATION_ERROR", "message": f"Unknown object type {object_type}"},
            )
        return None

    def _list(self, object_type: str, req: Req) -> tuple[int, dict[str, str], Any]:
        if bad := self._check_type(object_type):
            return bad
        limit = min(100, int(req.query.get("limit", ["10"])[0]))
        start = int(req.query.get("after", ["0"])[0] or 0)
        archived = req.query.get("archived", ["false"])[0] == "true"
        wanted = _csv_param(req.query.get("properties"))
        inline = [t for t in (_csv_param(req.query.get("associations")) or []) if t in self.counts]
        results, index, total = [], start, self.counts[object_type]
        if archived:
            candidates = sorted(i for i in self.archived[object_type] if i >= start)
            for index in candidates:
                if len(results) == limit:
                    break
                results.append(self.record(object_type, index, wanted))
            more = len(candidates) > len(results)
            next_after = index if more else None
        else:
            while index < total and len(results) < limit:
                if self._is_live(object_type, index):
                    results.append(self._with_inline_associations(object_type, index, wanted, inline))
                index += 1
            more = any(self._is_live(object_type, i) for i in range(index, min(total, index + 1000))) or (
                index + 1000 < total
            )
            next_after = index if more else None
        body: dict[str, Any] = {"results": results}
        if next_after is not None:
            body["paging"] = {"next": {"after": str(next_after), "link": "ignored"}}
        return 200, {}, body

    def _with_inline_associations(
        self, object_type: str, index: int, wanted: list[str] | None, to_types: list[str]
    ) -> dict[str, Any]:
        """A list record with `associations=` answered inline: one entry per (target, label), so a primary
        target appears twice; the key is left out when the record has none of the asked types."""
        out = self.record(object_type, index, wanted)
        inline: dict[str, Any] = {}
        for to_type in to_types:
            links = self.associations(object_type, index, to_type)
            entries = [
                {
                    "id": self.record_id(to_type, target),
                    "type": f"{object_type[:-1]}_to_{to_type[:-1]}" + ("" if type_id in (1, 5) else "_unlabeled"),
                }
                for target, type_ids in links
                for type_id in type_ids
            ]
            if entries:
                block: dict[str, Any] = {"results": entries[: self.associations_page_size]}
                if len(entries) > self.associations_page_size:
                    block["paging"] = {"next": {"after": str(self.associations_page_size)}}
                inline[to_type] = block
        if inline:
            out["associations"] = inline
        return out

    def _search(self, object_type: str, req: Req) -> tuple[int, dict[str, str], Any]:
        if bad := self._check_type(object_type):
            return bad
        body = req.body or {}
        after = int(body.get("after") or 0)
        limit = min(200, int(body.get("limit") or 10))
        if after >= SEARCH_CAP or after + limit > SEARCH_CAP:  # no result past the 10,000th, ever
            return (
                400,
                {},
                {
                    "status": "error",
                    "category": "VALIDATION_ERROR",
                    "message": f"Paging beyond {SEARCH_CAP} results is not supported",
                },
            )
        groups = body.get("filterGroups") or [{"filters": []}]
        sorts = body.get("sorts") or [{"propertyName": "hs_object_id", "direction": "ASCENDING"}]
        cache_key = json.dumps([object_type, groups, sorts, self._version, self.counts[object_type]])
        matches = self._search_cache.get(cache_key)
        if matches is None:
            matches = [
                i
                for i in range(self.counts[object_type])
                if self._is_live(object_type, i)
                and any(all(self._filter(object_type, i, f) for f in g.get("filters", [])) for g in groups)
            ]
            sort = sorts[0] if isinstance(sorts[0], dict) else {"propertyName": str(sorts[0]).lstrip("-")}
            key = sort.get("propertyName")
            if key != "hs_object_id":
                matches.sort(key=lambda i: (self._value(object_type, i, key), i))
            if sort.get("direction") == "DESCENDING":
                matches.reverse()
            self._search_cache = {cache_key: matches}
        wanted = body.get("properties") or None
        page = [self.record(object_type, i, wanted) for i in matches[after : after + limit]]
        out: dict[str, Any] = {"total": len(matches), "results": page}
        if after + limit < len(matches):
            out["paging"] = {"next": {"after": str(after + limit)}}
        return 200, {}, out

    def _batch_read(self, object_type: str, req: Req) -> tuple[int, dict[str, str], Any]:
        """Live records by id; unknown or archived ids are listed in a 207's errors, as HubSpot does."""
        if bad := self._check_type(object_type):
            return bad
        body = req.body or {}
        inputs = body.get("inputs") or []
        if len(inputs) > 100:
            return 400, {}, {"status": "error", "category": "VALIDATION_ERROR", "message": "too many inputs"}
        wanted = body.get("properties") or None
        with_history = body.get("propertiesWithHistory") or []
        results, missing = [], []
        for item in inputs:
            index = self.index_of(object_type, item["id"])
            if 0 <= index < self.counts[object_type] and self._is_live(object_type, index):
                record = self.record(object_type, index, wanted)
                if with_history:
                    record["propertiesWithHistory"] = {
                        name: self.property_history(object_type, index, name) for name in with_history
                    }
                results.append(record)
            else:
                missing.append(str(item["id"]))
        stamp = iso(self.now_ms())
        out: dict[str, Any] = {"status": "COMPLETE", "results": results, "startedAt": stamp, "completedAt": stamp}
        if missing:
            out["numErrors"] = 1
            out["errors"] = [
                {
                    "status": "error",
                    "category": "OBJECT_NOT_FOUND",
                    "message": "Could not get some objects",
                    "context": {"ids": missing},
                    "errors": [],
                    "links": {},
                }
            ]
            return 207, {}, out
        return 200, {}, out

    def _value(self, object_type: str, index: int, name: str) -> Any:
        if name == "hs_object_id":
            return int(self.record_id(object_type, index))
        if name == MODIFIED_PROPERTY.get(object_type, "hs_lastmodifieddate"):
            return self._modified(object_type, index)
        return self.properties_of(object_type, index).get(name)

    def _filter(self, object_type: str, index: int, flt: dict[str, Any]) -> bool:
        value = self._value(object_type, index, flt["propertyName"])
        wanted = flt.get("value")
        if isinstance(value, int):
            wanted = int(wanted)
        op = flt["operator"]
        if op == "GTE":
            return value >= wanted
        if op == "GT":
            return value > wanted
        if op == "LTE":
            return value <= wanted
        if op == "LT":
            return value < wanted
        if op == "EQ":
            return value == wanted
        if op == "NEQ":
            return value != wanted
        raise ValueError(f"operator {op} not supported by the fake")

    def _properties(self, object_type: str) -> tuple[int, dict[str, str], Any]:
        if bad := self._check_type(object_type):
            return bad
        definitions = {**PROPERTY_DEFINITIONS[object_type], **self.extra_properties[object_type]}
        results = [
            {
                "name": name,
                "label": name.replace("_", " ").title(),
                "type": type_,
                "fieldType": field_type,
                "hubspotDefined": defined,
                "groupName": "info",
                "options": [],
                "calculated": False,
                "modificationMetadata": {"archivable": True, "readOnlyDefinition": defined, "readOnlyValue": False},
            }
            for name, (type_, field_type, defined) in definitions.items()
        ]
        return 200, {}, {"results": results}

    def _associations(self, from_type: str, to_type: str, req: Req) -> tuple[int, dict[str, str], Any]:
        inputs = (req.body or {}).get("inputs") or []
        if len(inputs) > 1000:
            return 400, {}, {"status": "error", "category": "VALIDATION_ERROR", "message": "too many inputs"}
        results, missing = [], []
        for item in inputs:
            index = self.index_of(from_type, item["id"])
            links = (
                self.associations(from_type, index, to_type)
                if 0 <= index < self.counts[from_type] and self._is_live(from_type, index)
                else []
            )
            start = int(item.get("after") or 0)
            chunk = links[start : start + self.associations_page_size]
            if not chunk:
                missing.append(str(item["id"]))
                continue
            result: dict[str, Any] = {
                "from": {"id": str(item["id"])},
                "to": [
                    {
                        "toObjectId": int(self.record_id(to_type, t)),
                        "associationTypes": [
                            {
                                "category": "HUBSPOT_DEFINED",
                                "typeId": tid,
                                "label": "Primary" if tid in (1, 5) else None,
                            }
                            for tid in type_ids
                        ],
                    }
                    for t, type_ids in chunk
                ],
            }
            if start + self.associations_page_size < len(links):
                result["paging"] = {"next": {"after": str(start + self.associations_page_size)}}
            results.append(result)
        stamp = iso(self.now_ms())
        out: dict[str, Any] = {"status": "COMPLETE", "results": results, "startedAt": stamp, "completedAt": stamp}
        if missing:
            out["numErrors"] = 1
            out["errors"] = [
                {
                    "status": "error",
                    "category": "OBJECT_NOT_FOUND",
                    "message": "No associations found",
                    "context": {"fromObjectId": missing},
                    "errors": [],
                    "links": {},
                }
            ]
            return 207, {}, out
        return 200, {}, out


def _pipeline(pipeline_id: str, label: str, stages: list[tuple[str, str, str, bool]]) -> dict[str, Any]:
    stamp = iso(BASE_MS)
    return {
        "id": pipeline_id,
        "label": label,
        "displayOrder": 0 if pipeline_id == "default" else 1,
        "archived": False,
        "createdAt": stamp,
        "updatedAt": stamp,
        "stages": [
            {
                "id": stage_id,
                "label": stage_label,
                "displayOrder": order,
                "metadata": {"isClosed": "true" if closed else "false", "probability": probability},
                "archived": False,
                "createdAt": stamp,
                "updatedAt": stamp,
                "writePermissions": "CRM_PERMISSIONS_ENFORCEMENT",
            }
            for order, (stage_id, stage_label, probability, closed) in enumerate(stages)
        ],
    }


def _csv_param(values: list[str] | None) -> list[str] | None:
    if not values:
        return None
    return [name for value in values for name in value.split(",") if name]


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # headers and body are two writes: don't wait for a delayed ACK between them
    hub: FakeHubSpot

    def log_message(self, *args: object) -> None:
        pass

    def _serve(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        split = urlsplit(self.path)
        content_type = self.headers.get("Content-Type", "")
        if "x-www-form-urlencoded" in content_type:
            body: Any = {k: v[0] for k, v in parse_qs(raw.decode()).items()}
        else:
            try:
                body = json.loads(raw) if raw else None
            except ValueError:
                body = None
        req = Req(
            self.command, split.path, parse_qs(split.query), body, {k.lower(): v for k, v in self.headers.items()}
        )
        try:
            status, headers, payload = self.hub.handle(req)
        except Exception as exc:  # noqa: BLE001 - a fake bug should show up as a 500, not a hung test
            status, headers, payload = 500, {}, {"status": "error", "message": f"fake crashed: {exc!r}"}
        data = json.dumps(payload).encode()
        self.send_response(status)
        for name, value in headers.items():
            self.send_header(name, value)
        self.send_header("Content-Type", "application/json;charset=utf-8")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _serve


def rate_limited(times: int, *, retry_after: str | None = "1", policy: str = "TEN_SECONDLY_ROLLING"):
    """A fault that answers the next `times` requests with HubSpot's 429."""
    left = [times]

    def fault(req: Req) -> tuple[int, dict[str, str], Any] | None:
        if left[0] <= 0:
            return None
        left[0] -= 1
        headers = {"Retry-After": retry_after} if retry_after else {}
        return (
            429,
            headers,
            {
                "status": "error",
                "message": f"You have reached your {policy.lower()} limit.",
                "errorType": "RATE_LIMIT",
                "policyName": policy,
                "correlationId": "c0ffee",
            },
        )

    return fault


__all__ = ["BASE_MS", "SEARCH_CAP", "FakeHubSpot", "Req", "rate_limited"]
