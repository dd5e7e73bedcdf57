"""Every request the Pipedrive connector sends, checked against Pipedrive's OpenAPI files.

shared/crm-specs/pipedrive/pipedrive-api-v{1,2}.yaml: a full sync, an incremental sync (with the deletes
feed), a webhook follow-up read and a score writeback are recorded on the wire; each request must name a
documented path and method, send only documented query parameters (enum values and the documented `limit`
maximum respected) and a body with documented fields only; our token-cost table must match `x-token-cost`.
"""

from __future__ import annotations

import functools
import json
import re
import uuid
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import httpx
import pytest
import yaml

from crm_connectors.pipedrive import writeback as pipedrive_writeback
from crm_connectors.pipedrive.client import TOKEN_COSTS
from crm_connectors.pipedrive.connector import PipedriveConnector
from crm_connectors.services import connection_create
from crm_connectors.sync import connection_sync
from crm_connectors.writeback import connection_writeback
from salesai.core.models import Company, Contact
from tests.crm_connectors.pipedrive.conftest import FAST_BUDGET
from tests.crm_connectors.pipedrive.fake_server import FakePipedrive
from tests.crm_connectors.writeback.conftest import churn_predict
from tests.factories import OrganizationFactory, PredictionFactory

pytestmark = pytest.mark.django_db

SPECS = Path(__file__).resolve().parents[4] / "shared" / "crm-specs" / "pipedrive"
# Our path prefix -> the spec file whose server URL ends with it (https://api.pipedrive.com/api/v2, .../v1).
PREFIXES = {"/api/v2": "pipedrive-api-v2.yaml", "/v1": "pipedrive-api-v1.yaml"}
_LIMIT_MAX = re.compile(r"maximum value of (\d+)")


@functools.cache
def spec(name: str) -> dict[str, Any]:
    if not (SPECS / name).exists():
        pytest.skip(f"{SPECS / name} is not available")
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    with (SPECS / name).open() as handle:
        return yaml.load(handle, Loader=loader)


def operation(method: str, path: str) -> tuple[str, dict[str, Any], list[dict[str, Any]]]:
    """(spec path template, operation, parameters) for one of our requests; fails when undocumented."""
    prefix = next((p for p in PREFIXES if path.startswith(p + "/")), None)
    assert prefix is not None, f"{method} {path}: neither an API v1 nor an API v2 path"
    document = spec(PREFIXES[prefix])
    assert document["servers"][0]["url"].endswith(prefix)
    relative = path.removeprefix(prefix)
    # A literal path wins over a template (/deals/archived is not /deals/{id}).
    candidates = sorted(document["paths"], key=lambda template: template.count("{"))
    for template in candidates:
        pattern = "^" + re.sub(r"\\\{[^}]+\\\}", "[^/]+", re.escape(template)) + "$"
        if re.match(pattern, relative):
            item = document["paths"][template]
            assert method.lower() in item, f"{method} {path}: {template} has no {method}"
            op = item[method.lower()]
            return template, op, [*item.get("parameters", []), *op.get("parameters", [])]
    raise AssertionError(f"{method} {path}: no such path in {PREFIXES[prefix]}")


def body_properties(op: dict[str, Any]) -> set[str]:
    schema = op["requestBody"]["content"]["application/json"]["schema"]
    parts = schema.get("allOf") or [schema]
    return {name for part in parts for name in part.get("properties", {})}


def check(request) -> list[str]:
    problems: list[str] = []
    url = urlsplit(str(request.url))
    template, op, parameters = operation(request.method, url.path)
    where = f"{request.method} {url.path} ({template})"
    query = dict(parse_qsl(url.query))
    documented = {p["name"]: p for p in parameters if p.get("in") == "query"}
    for name, value in query.items():
        parameter = documented.get(name)
        if parameter is None:
            problems.append(f"{where}: undocumented query parameter {name!r}")
            continue
        enum = (parameter.get("schema") or {}).get("enum")
        if enum is not None:
            values = value.split(",") if name in ("items", "status") else [value]  # multi-selects: comma lists
            problems += [f"{where}: {name}={v!r} not in {enum}" for v in values if v not in [str(e) for e in enum]]
        if name == "limit":
            maximum = (parameter.get("schema") or {}).get("maximum") or next(
                (int(m) for m in _LIMIT_MAX.findall(parameter.get("description") or "")), None
            )
            if maximum is not None and int(value) > maximum:
                problems.append(f"{where}: limit {value} > documented maximum {maximum}")
    for parameter in parameters:
        if parameter.get("in") == "query" and parameter.get("required") and parameter["name"] not in query:
            problems.append(f"{where}: required query parameter {parameter['name']!r} missing")
    if request.content:
        body = json.loads(request.content)
        allowed = body_properties(op)
        problems += [f"{where}: undocumented body field {key!r}" for key in body if key not in allowed]
    elif "requestBody" in op and op["requestBody"].get("required"):
        problems.append(f"{where}: body required")
    if "x-api-token" not in request.headers:
        problems.append(f"{where}: no x-api-token header (the documented api_key scheme)")
    return problems


def test_every_request_matches_the_openapi_files(wire, monkeypatch):
    monkeypatch.setattr(PipedriveConnector, "sleep", staticmethod(lambda seconds: None))
    with FakePipedrive(api_token=f"pd-{uuid.uuid4().hex}") as fake:
        ids = fake.seed(organizations=2, persons=5, deals=3, activities=3, notes=2)
        connection = connection_create(
            organization=OrganizationFactory(),
            kind="pipedrive",
            name="pipedrive",
            config={"base_url": fake.url, "page_size": 500, **FAST_BUDGET},
            credentials={"token": fake.api_token},
        )
        assert connection_sync(connection_id=connection.pk, full=True).status == "succeeded"
        fake.tick(5)
        fake.update("persons", ids["persons"][0], first_name="Changed")
        fake.delete("persons", ids["persons"][1])
        assert connection_sync(connection_id=connection.pk).status == "succeeded"
        connector = PipedriveConnector(config=connection.config, credentials=connection.credentials)
        assert connector.records_fetch(object_type="deals", external_ids=[str(i) for i in ids["deals"]]).records
        for person_id in ids["persons"][2:]:
            contact = Contact.objects.get(connection=connection, external_id=str(person_id))
            PredictionFactory(organization=connection.organization, contact=contact, probability=0.4, score=40)
        for org_id in ids["organizations"]:
            churn_predict(Company.objects.get(connection=connection, external_id=str(org_id)), 25)
        summary = connection_writeback(connection_id=connection.pk)
        assert (summary.written, summary.churn.written) == (3, 2)
        host = urlsplit(fake.url).netloc

    sent = [r for r in wire if urlsplit(str(r.url)).netloc == host]
    paths = {(r.method, urlsplit(str(r.url)).path) for r in sent}
    # The run really went through every kind of call this test is about.
    assert {
        ("GET", "/api/v2/persons"),
        ("GET", "/api/v2/deals/archived"),
        ("GET", "/v1/notes"),
        ("GET", "/v1/recents"),
        ("POST", "/v1/personFields"),
        ("POST", "/v1/organizationFields"),
        ("PATCH", f"/api/v2/organizations/{ids['organizations'][0]}"),
    } <= paths
    assert any(method == "PATCH" for method, _ in paths)
    assert any("ids=" in str(r.url) for r in sent)
    problems = [problem for request in sent for problem in check(request)]
    assert problems == []


def test_the_token_cost_table_matches_x_token_cost():
    ours = {**TOKEN_COSTS, "POST /v1/personFields": pipedrive_writeback.FIELD_CREATE_COST}
    for key, cost in ours.items():
        method, _, path = key.rpartition(" ") if " " in key else ("GET", "", key)
        _, op, _ = operation(method, path)
        assert op.get("x-token-cost") == cost, f"{method} {path}: ours {cost}, spec {op.get('x-token-cost')}"
    _, patch, _ = operation("PATCH", "/api/v2/persons/1")
    assert patch.get("x-token-cost") == pipedrive_writeback.PERSON_UPDATE_COST


@pytest.mark.parametrize(
    ("method", "url", "body", "problem"),
    [
        ("GET", "/api/v2/persons?limit=501", None, "limit 501 > documented maximum 500"),
        ("GET", "/api/v2/persons?page=2", None, "undocumented query parameter 'page'"),
        ("GET", "/api/v2/persons?sort_by=name", None, "sort_by='name' not in"),
        ("GET", "/api/v2/deals?status=open,archived", None, "status='archived' not in"),
        ("GET", "/v1/recents?items=person", None, "required query parameter 'since_timestamp' missing"),
        ("PATCH", "/api/v2/persons/7", {"custom_fields": {}, "score": 1}, "undocumented body field 'score'"),
    ],
)
def test_the_checker_catches_what_the_spec_forbids(method, url, body, problem):
    request = httpx.Request(method, "http://fake" + url, json=body, headers={"x-api-token": "t"})
    assert any(problem in found for found in check(request)), check(request)


@pytest.mark.parametrize(
    ("method", "path"), [("GET", "/api/v2/people"), ("PUT", "/api/v2/persons/7"), ("GET", "/v2/x")]
)
def test_undocumented_paths_and_methods_fail(method, path):
    with pytest.raises(AssertionError):
        operation(method, path)
