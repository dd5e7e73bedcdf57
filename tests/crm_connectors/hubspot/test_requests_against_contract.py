"""Every request the HubSpot connector sends, checked against shared/crm-specs/hubspot/CONTRACT.md.

HubSpot's own spec files are not kept (CONTRACT.md says why), so the facts are encoded below with the
section they come from. A full sync, an incremental sync with archived records, a webhook follow-up read,
a portal-id introspection and a score writeback (creating the property) are recorded on the wire.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from urllib.parse import parse_qsl, urlsplit

import httpx
import pytest

from crm_connectors.hubspot.connector import HubSpotConnector
from crm_connectors.services import connection_credentials_check
from crm_connectors.sync import connection_sync
from crm_connectors.writeback import connection_writeback
from salesai.core.models import Company, Contact
from tests.crm_connectors.hubspot.fake_server import FakeHubSpot
from tests.crm_connectors.writeback.conftest import churn_predict
from tests.factories import PredictionFactory

pytestmark = pytest.mark.django_db

OBJECTS = {"contacts", "companies", "deals", "notes", "meetings", "calls", "emails", "tasks"}  # §2.1
LIST_PARAMS = {"limit", "after", "properties", "propertiesWithHistory", "associations", "archived"}  # §2.2
LIST_LIMIT, SEARCH_LIMIT, BATCH_LIMIT, SEARCH_CAP = 100, 200, 100, 10_000  # §2.2, §2.6
SEARCH_FIELDS = {"filterGroups", "sorts", "properties", "limit", "after", "query"}  # §2.6
OPERATORS = {
    "EQ",
    "NEQ",
    "LT",
    "LTE",
    "GT",
    "GTE",
    "BETWEEN",
    "IN",
    "NOT_IN",
    "HAS_PROPERTY",
    "NOT_HAS_PROPERTY",
    "CONTAINS_TOKEN",
    "NOT_CONTAINS_TOKEN",
}  # §2.6
BATCH_READ_FIELDS = {"inputs", "properties", "propertiesWithHistory", "idProperty"}  # §2.2
BATCH_UPDATE_INPUT = {"id", "properties", "idProperty", "objectWriteTraceId"}  # §2.2, §4.3
PROPERTY_REQUIRED = {"name", "label", "type", "fieldType", "groupName"}  # §4.2
PROPERTY_OPTIONAL = {
    "description",
    "displayOrder",
    "hasUniqueValue",
    "hidden",
    "formField",
    "options",
    "numberDisplayHint",
    "textDisplayHint",
    "showCurrencySymbol",
    "currencyPropertyName",
    "dataSensitivity",
    "calculationFormula",
    "externalOptions",
    "referencedObjectType",
}  # §4.2
PROPERTY_LIST_PARAMS = {"archived", "dataSensitivity"}  # §4.1
REFRESH_FORM = {"grant_type", "client_id", "client_secret", "refresh_token"}  # §1.2, §1.3
MODIFIED = {"contacts": "lastmodifieddate"}  # §2.4; every other object: hs_lastmodifieddate
OWNER_PARAMS = {"after", "limit", "email", "archived"}  # §2.4


def check(request: httpx.Request) -> list[str]:
    url = urlsplit(str(request.url))
    path, query = url.path, dict(parse_qsl(url.query))
    where = f"{request.method} {path}"
    body = (
        json.loads(request.content) if request.content and "json" in request.headers.get("content-type", "") else None
    )
    problems: list[str] = []

    def expect(condition: bool, message: str) -> None:
        if not condition:
            problems.append(f"{where}: {message}")

    if path == "/oauth/v1/token":  # §1.3: form body, never the query string
        form = dict(parse_qsl(request.content.decode()))
        expect(request.method == "POST" and not query, "token refresh must be a POST without query parameters")
        expect(set(form) == REFRESH_FORM and form.get("grant_type") == "refresh_token", f"form fields {sorted(form)}")
        return problems
    if re.fullmatch(r"/oauth/v1/access-tokens/[^/]+", path):  # §1.3 introspection
        expect(request.method == "GET" and not query, "introspection is a bare GET")
        return problems
    expect(request.headers.get("authorization", "").startswith("Bearer "), "no Bearer token (§1.1)")

    if match := re.fullmatch(r"/crm/v3/objects/([^/]+)", path):
        expect(request.method == "GET", "list is a GET")
        expect(match[1] in OBJECTS, f"unknown object {match[1]!r}")
        expect(set(query) <= LIST_PARAMS, f"list parameters {sorted(set(query) - LIST_PARAMS)}")
        expect(1 <= int(query.get("limit", 10)) <= LIST_LIMIT, f"limit {query.get('limit')}")
        expect(query.get("archived", "false") in ("true", "false"), "archived is a boolean")
    elif match := re.fullmatch(r"/crm/v3/objects/([^/]+)/search", path):
        expect(request.method == "POST" and match[1] in OBJECTS and body is not None, "search is a JSON POST")
        body = body or {}
        expect(set(body) <= SEARCH_FIELDS, f"search fields {sorted(set(body) - SEARCH_FIELDS)}")
        limit, after = int(body.get("limit", 10)), int(body.get("after") or 0)
        expect(1 <= limit <= SEARCH_LIMIT, f"limit {limit}")
        expect(after + limit <= SEARCH_CAP, f"pages past the {SEARCH_CAP}-result cap (after {after})")
        groups = body.get("filterGroups") or []
        expect(len(groups) == 1, "one filter group for sync (§2.6)")
        filters = [f for group in groups for f in group.get("filters", [])]
        expect(all(f.get("operator") in OPERATORS and "propertyName" in f for f in filters), "bad filter")
        expect(
            all(re.fullmatch(r"\d+", str(f.get("value"))) for f in filters if "date" in f.get("propertyName", "")),
            "date filter values are epoch-ms strings",
        )
        modified = MODIFIED.get(match[1], "hs_lastmodifieddate")
        expect(filters and filters[0].get("propertyName") == modified, f"the cursor property is {modified}")
        expect(body.get("sorts") == [{"propertyName": "hs_object_id", "direction": "ASCENDING"}], "one id sort")
    elif match := re.fullmatch(r"/crm/v3/objects/([^/]+)/batch/(read|update)", path):
        expect(request.method == "POST" and match[1] in OBJECTS and body is not None, "batch calls are JSON POSTs")
        body = body or {}
        inputs = body.get("inputs") or []
        expect(0 < len(inputs) <= BATCH_LIMIT, f"{len(inputs)} inputs")
        if match[2] == "read":
            expect(set(body) <= BATCH_READ_FIELDS, f"batch/read fields {sorted(body)}")
            expect(all(set(item) == {"id"} for item in inputs), "batch/read inputs are {id}")
        else:
            expect(set(body) == {"inputs"}, f"batch/update fields {sorted(body)}")
            expect(all(set(item) <= BATCH_UPDATE_INPUT and "id" in item for item in inputs), "batch/update inputs")
            expect(
                all(isinstance(v, str) for item in inputs for v in item.get("properties", {}).values()),
                "property values are strings (§2.5)",
            )
            traces = [item.get("objectWriteTraceId") for item in inputs]
            expect(all(traces) and len(set(traces)) == len(traces), "a unique objectWriteTraceId per input (§4.3)")
    elif match := re.fullmatch(r"/crm/v4/associations/([^/]+)/([^/]+)/batch/read", path):  # §3.1
        expect(request.method == "POST" and {match[1], match[2]} <= OBJECTS, "v4 batch read between known objects")
        inputs = (body or {}).get("inputs") or []
        expect(set(body or {}) == {"inputs"} and 0 < len(inputs) <= BATCH_LIMIT, "inputs only, at most 100")
        expect(all(set(item) <= {"id", "after"} and "id" in item for item in inputs), "inputs are {id[, after]}")
    elif match := re.fullmatch(r"/crm/v3/properties/([^/]+)", path):  # §4.1, §4.2
        expect(match[1] in OBJECTS, f"unknown object {match[1]!r}")
        if request.method == "GET":
            expect(set(query) <= PROPERTY_LIST_PARAMS, f"properties parameters {sorted(query)}")
        else:
            expect(request.method == "POST" and body is not None, "create is a JSON POST")
            fields = set(body or {})
            expect(PROPERTY_REQUIRED <= fields <= PROPERTY_REQUIRED | PROPERTY_OPTIONAL, f"property fields {fields}")
    elif match := re.fullmatch(r"/crm/v3/properties/([^/]+)/([^/]+)", path):  # §4.1 read one
        expect(request.method == "GET" and match[1] in OBJECTS and not query, "read one property")
    elif path == "/crm/v3/owners":  # §2.4: owner ids on deals resolve here
        expect(request.method == "GET" and set(query) <= OWNER_PARAMS, f"owners parameters {sorted(query)}")
        expect(1 <= int(query.get("limit", 10)) <= LIST_LIMIT, f"limit {query.get('limit')}")
    elif match := re.fullmatch(r"/crm/v3/pipelines/([^/]+)", path):  # §2.4: pipelines with their stages
        expect(request.method == "GET" and match[1] in OBJECTS and not query, "read an object's pipelines")
    else:
        problems.append(f"{where}: not an endpoint CONTRACT.md documents")
    return problems


def test_every_request_matches_the_contract(wire, hub_connection, sleeps):
    with FakeHubSpot(contacts=120, companies=5, deals=8, engagements=3) as fake:
        fake.access_tokens["still-valid"] = fake.clock() + 3600
        expires = (dt.datetime.now(dt.UTC) + dt.timedelta(hours=1)).isoformat()
        oauth = {"client_id": fake.client_id, "client_secret": fake.client_secret, "refresh_token": fake.refresh_token}
        connection = hub_connection(fake, credentials={**oauth, "access_token": "still-valid", "expires_at": expires})
        host = urlsplit(fake.url).netloc
        assert connection_credentials_check(connection_id=connection.pk).ok  # introspects the portal id
        assert connection_sync(connection_id=connection.pk, full=True).status == "succeeded"
        fake.modify("contacts", 3, firstname="Zoe")
        fake.modify("deals", 1, dealstage="closedwon")
        fake.archive("contacts", 9)
        fake.access_tokens.clear()  # expired: the next call refreshes
        assert connection_sync(connection_id=connection.pk).status == "succeeded"
        connection.refresh_from_db()
        connector = HubSpotConnector(config=connection.config, credentials=connection.credentials)
        page = connector.records_fetch(
            object_type="contacts", external_ids=[fake.record_id("contacts", i) for i in range(105)]
        )
        assert len(page.records) == 104 and page.deleted_external_ids == [fake.record_id("contacts", 9)]
        for index in (1, 2, 3):
            contact = Contact.objects.get(connection=connection, external_id=fake.record_id("contacts", index))
            PredictionFactory(organization=connection.organization, contact=contact, probability=0.3, score=30)
        for index in (0, 1):
            company = Company.objects.get(connection=connection, external_id=fake.record_id("companies", index))
            churn_predict(company, 60)
        summary = connection_writeback(connection_id=connection.pk)
        assert (summary.written, summary.churn.written) == (3, 2)

    sent = [r for r in wire if urlsplit(str(r.url)).netloc == host]
    kinds = {
        re.sub(
            r"/(contacts|companies|deals|notes|meetings|calls|emails|tasks)",
            "/{o}",
            re.sub(r"access-tokens/.+", "access-tokens/{t}", urlsplit(str(r.url)).path),
        )
        for r in sent
    }
    assert {
        "/oauth/v1/token",
        "/oauth/v1/access-tokens/{t}",
        "/crm/v3/objects/{o}",
        "/crm/v3/objects/{o}/search",
        "/crm/v3/objects/{o}/batch/read",
        "/crm/v3/objects/{o}/batch/update",
        "/crm/v4/associations/{o}/{o}/batch/read",
        "/crm/v3/properties/{o}",
        "/crm/v3/properties/{o}/salesai_lead_score",
    } <= kinds
    assert any(r.method == "POST" and urlsplit(str(r.url)).path == "/crm/v3/properties/contacts" for r in sent)
    problems = [problem for request in sent for problem in check(request)]
    assert problems == []


@pytest.mark.parametrize(
    ("method", "url", "body", "problem"),
    [
        ("GET", "/crm/v3/objects/contacts?limit=101", None, "limit 101"),
        ("GET", "/crm/v3/objects/contacts?hapikey=x", None, "list parameters ['hapikey']"),
        (
            "POST",
            "/crm/v3/objects/contacts/search",
            {
                "filterGroups": [{"filters": [{"propertyName": "lastmodifieddate", "operator": "GTE", "value": "1"}]}],
                "sorts": [{"propertyName": "hs_object_id", "direction": "ASCENDING"}],
                "limit": 200,
                "after": "9900",
            },
            "cap",
        ),
        (
            "POST",
            "/crm/v3/objects/deals/search",
            {
                "filterGroups": [{"filters": [{"propertyName": "lastmodifieddate", "operator": "GTE", "value": "1"}]}],
                "sorts": [{"propertyName": "hs_object_id", "direction": "ASCENDING"}],
                "limit": 100,
            },
            "hs_lastmodifieddate",
        ),
        (
            "POST",
            "/crm/v3/objects/contacts/batch/update",
            {"inputs": [{"id": "1", "properties": {"s": 5}, "objectWriteTraceId": "a"}]},
            "strings",
        ),
        ("POST", "/crm/v3/properties/contacts", {"name": "s", "label": "S", "type": "number"}, "property fields"),
        ("GET", "/crm/v3/objects/tickets", None, "unknown object"),
        ("GET", "/contacts/v1/lists/all/contacts/all", None, "not an endpoint"),
    ],
)
def test_the_checker_catches_what_the_contract_forbids(method, url, body, problem):
    request = httpx.Request(method, "http://fake" + url, json=body, headers={"Authorization": "Bearer t"})
    assert any(problem in found for found in check(request)), check(request)
