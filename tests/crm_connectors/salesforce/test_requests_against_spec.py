"""Every request the Salesforce connector sends, checked against Salesforce's Postman request definitions.

shared/crm-specs/salesforce/postman-requests/: a full sync, an incremental sync (with the deleted feed) and
a score writeback are recorded on the wire. Each request must match a request definition's method and URL
pattern, use only its query parameters, carry one API version everywhere (no older than the version the
definition says the resource needs), and send the documented body shape.
"""

from __future__ import annotations

import functools
import json
import re
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import httpx
import pytest

from crm_connectors.salesforce.connector import DEFAULT_API_VERSION
from crm_connectors.sync import connection_sync
from crm_connectors.writeback import connection_writeback
from salesai.core.models import Company, Contact
from tests.crm_connectors.salesforce.conftest import CUSTOM_FIELDS, seed
from tests.crm_connectors.salesforce.fake_server import FakeSalesforce
from tests.crm_connectors.writeback.conftest import churn_predict
from tests.factories import PredictionFactory

pytestmark = pytest.mark.django_db

SPECS = Path(__file__).resolve().parents[4] / "shared" / "crm-specs" / "salesforce" / "postman-requests"
FIELD = "SalesAI_Lead_Score__c"
_SINCE_VERSION = re.compile(r"available in API version (\d+\.\d) and later")


@functools.cache
def definitions() -> list[dict[str, Any]]:
    """Each request definition as {name, method, pattern, params, min_version, body, form}."""
    if not SPECS.exists():
        pytest.skip(f"{SPECS} is not available")
    found = []
    for path in sorted(SPECS.glob("*/*.json")):
        raw = json.loads(path.read_text())
        if "method" not in raw:
            continue
        url = raw["url"].split("?", 1)[0]
        url = re.sub(r"^\{\{_?(endpoint|url)\}\}(\{\{site\}\})?", "", url)
        pattern = re.escape(url)
        pattern = pattern.replace(re.escape("v{{version}}"), r"v(?P<version>\d+\.\d)")
        pattern = re.sub(r"<[A-Z_]+>|\\\{\\\{_?\w+\\\}\\\}", "[^/]+", pattern.replace("\\<", "<").replace("\\>", ">"))
        since = _SINCE_VERSION.search(raw.get("description") or "")
        found.append(
            {
                "name": f"{path.parent.name}/{path.name}",
                "method": raw["method"],
                "pattern": re.compile("^" + pattern.rstrip("/") + "/?$"),
                "params": {q["key"] for q in raw.get("queryParams") or []},
                "min_version": since.group(1) if since else None,
                "body": raw.get("rawModeData"),
                # Form bodies ("urlencoded", or "params" for a POST): field -> the definition's value.
                "form": {item["key"]: item.get("value", "") for item in raw.get("data") or []}
                if raw.get("dataMode") in ("urlencoded", "params")
                else None,
                "description": raw.get("description") or "",
            }
        )
    return found


def definition(name: str) -> dict[str, Any]:
    return next(d for d in definitions() if d["name"] == name)


def candidates(method: str, path: str) -> list[dict[str, Any]]:
    """Definitions whose method and URL pattern fit (the token URL has one per grant type)."""
    found = [d for d in definitions() if d["method"] == method and d["pattern"].match(path)]
    query = definition("rest/query.json")
    # query.json: a large result's next batch is read from its `nextRecordsUrl` (.../query/<query locator>).
    if (
        not found
        and method == "GET"
        and "nextRecordsUrl" in query["description"]
        and re.match(r"^/services/data/v\d+\.\d/query/[^/]+$", path)
    ):
        found = [{**query, "name": "rest/query.json (nextRecordsUrl)", "params": set()}]
    return found


def best_match(request: httpx.Request) -> tuple[str | None, list[str]]:
    """The definition the request fits best, and what does not fit it ([] = conforms)."""
    url = urlsplit(str(request.url))
    if request.method == "PATCH" and re.match(r"^/services/data/v\d+\.\d/composite/sobjects$", url.path):
        # The collection's update entry (sobject_collections_update.json) puts an sObject name in its URL;
        # the reference page it links to updates mixed record types at /composite/sobjects, each record
        # naming its type in `attributes`: what we send. Its body template is what we check.
        found = [definition("composite/sobject_collections_update.json")]
    else:
        found = candidates(request.method, url.path)
    if not found:
        return None, [f"{request.method} {url.path}: matches no request definition"]
    results = sorted(((d["name"], check_against(request, d)) for d in found), key=lambda result: len(result[1]))
    return results[0]


def check(request: httpx.Request) -> list[str]:
    return best_match(request)[1]


def check_against(request: httpx.Request, found: dict[str, Any]) -> list[str]:
    url = urlsplit(str(request.url))
    where = f"{request.method} {url.path}"
    problems = []
    query = dict(parse_qsl(url.query))
    problems += [
        f"{where}: query parameter {name!r} not in {found['name']}" for name in query if name not in found["params"]
    ]
    version = re.search(r"/v(\d+\.\d)/", url.path)
    if version and version.group(1) != DEFAULT_API_VERSION:
        problems.append(f"{where}: API version {version.group(1)}, configured {DEFAULT_API_VERSION}")
    if version and found["min_version"] and float(version.group(1)) < float(found["min_version"]):
        problems.append(f"{where}: {found['name']} needs API version {found['min_version']} or later")
    if found["form"] is not None:
        form = dict(parse_qsl(request.content.decode()))
        if set(form) != set(found["form"]):
            problems.append(f"{where}: form fields {sorted(form)} != {sorted(found['form'])}")
        if form.get("grant_type") != found["form"].get("grant_type"):
            problems.append(f"{where}: grant_type {form.get('grant_type')!r} is not {found['name']}'s")
    elif found["body"] and request.method in ("PATCH", "POST"):
        template = json.loads(found["body"])
        body = json.loads(request.content)
        if set(body) != set(template):
            problems.append(f"{where}: body fields {sorted(body)} != {sorted(template)}")
        if template.get("allOrNone") == "Boolean" and not isinstance(body.get("allOrNone"), bool):
            problems.append(f"{where}: allOrNone is not a boolean")
        if template.get("records") == "SObject[]":
            records = body.get("records") or []
            if not 0 < len(records) <= 200:  # the sObject Collections limit
                problems.append(f"{where}: {len(records)} records in one call")
            problems += [
                f"{where}: record without attributes.type and id"
                for r in records
                if not (r.get("attributes") or {}).get("type") or not r.get("id")
            ]
    return problems


def test_every_request_matches_the_postman_definitions(db, wire, monkeypatch):
    from crm_connectors.salesforce.connector import SalesforceConnector

    monkeypatch.setattr(SalesforceConnector, "sleep", staticmethod(lambda seconds: None))
    custom = {sobject: dict(fields) for sobject, fields in CUSTOM_FIELDS.items()}
    for sobject in ("Lead", "Contact"):
        custom[sobject][FIELD] = "double"
    custom.setdefault("Account", {})["SalesAI_Churn_Risk__c"] = "double"
    with FakeSalesforce(page_size=2, custom_fields=custom) as fake:
        ids = seed(fake)
        leaving = fake.add("Contact", LastName="Leaving")
        host = urlsplit(fake.url).netloc
        connection = sf_connection_for(fake)
        first = connection_sync(connection_id=connection.pk, full=True)
        assert first.status == "succeeded", first.errors
        fake.tick()
        fake.update("Contact", ids.c1, Title="CEO")
        fake.delete("Contact", leaving)
        second = connection_sync(connection_id=connection.pk)
        assert second.status == "succeeded", second.errors
        for external_id in (ids.c1, ids.l1):
            contact = Contact.objects.get(connection=connection, external_id=external_id)
            PredictionFactory(organization=connection.organization, contact=contact, probability=0.7, score=70)
        churn_predict(Company.objects.get(connection=connection, external_id=ids.a1), 35)
        summary = connection_writeback(connection_id=connection.pk)
        assert (summary.written, summary.churn.written) == (2, 1)

    sent = [r for r in wire if urlsplit(str(r.url)).netloc == host]
    names = {best_match(r)[0] for r in sent}
    # The run really used every kind of call this test is about.
    assert {
        "auth/refresh_token.json",
        "rest/query.json",
        "rest/queryall.json",
        "rest/sobject_describe.json",
        "rest/sobject_get_deleted.json",
        "rest/query.json (nextRecordsUrl)",
    } <= names
    assert any(r.method == "PATCH" for r in sent)
    problems = [problem for request in sent for problem in check(request)]
    assert problems == []


def sf_connection_for(fake: FakeSalesforce):
    from crm_connectors.services import connection_create
    from tests.factories import OrganizationFactory

    return connection_create(
        organization=OrganizationFactory(),
        kind="salesforce",
        name="salesforce",
        config={"base_url": fake.url, "score_property": FIELD},
        credentials={
            "client_id": fake.client_id,
            "client_secret": fake.client_secret,
            "refresh_token": fake.refresh_token,
        },
    )


@pytest.mark.parametrize(
    ("method", "url", "content", "problem"),
    [
        ("GET", f"/services/data/v{DEFAULT_API_VERSION}/query?q=x&batchSize=5", None, "'batchSize' not in"),
        ("GET", "/services/data/v50.0/query?q=x", None, "API version 50.0"),
        ("GET", f"/services/data/v{DEFAULT_API_VERSION}/tooling/query?q=x", None, "matches no request definition"),
        ("POST", "/services/oauth2/token", b"grant_type=refresh_token&refresh_token=r", "form fields"),
        (
            "PATCH",
            f"/services/data/v{DEFAULT_API_VERSION}/composite/sobjects",
            json.dumps({"allOrNone": "false", "records": [{"id": "1", "attributes": {"type": "Lead"}}]}).encode(),
            "allOrNone is not a boolean",
        ),
        (
            "PATCH",
            f"/services/data/v{DEFAULT_API_VERSION}/composite/sobjects",
            json.dumps({"allOrNone": False, "records": [{"id": "1"}]}).encode(),
            "without attributes.type",
        ),
    ],
)
def test_the_checker_catches_what_the_definitions_forbid(method, url, content, problem):
    request = httpx.Request(method, "http://fake" + url, content=content)
    assert any(problem in found for found in check(request)), check(request)
