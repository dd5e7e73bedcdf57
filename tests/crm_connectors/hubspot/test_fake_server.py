"""The fake HubSpot keeps HubSpot's rules, so connector tests against it mean something."""

import httpx
import pytest

from crm_connectors.http import BearerTokenAuth, CRMHttpClient, CRMHttpError
from tests.crm_connectors.hubspot.fake_server import SEARCH_CAP, FakeHubSpot


@pytest.fixture
def client():
    with (
        FakeHubSpot(contacts=10_050) as fake,
        CRMHttpClient(base_url=fake.url, auth=BearerTokenAuth(fake.token), sleep=lambda s: None) as http,
    ):
        yield fake, http


def test_search_past_the_cap_is_a_400(client):
    _, http = client
    body = {"filterGroups": [{"filters": []}], "limit": 200, "after": str(SEARCH_CAP - 200)}
    page = http.post_json("/crm/v3/objects/contacts/search", json=body)
    assert page["total"] == 10_050 and len(page["results"]) == 200
    assert page["paging"]["next"]["after"] == str(SEARCH_CAP)
    with pytest.raises(CRMHttpError) as info:
        http.post_json("/crm/v3/objects/contacts/search", json={**body, "after": str(SEARCH_CAP)})
    assert info.value.status == 400


def test_list_limit_is_capped_at_100_and_pages_cover_everything(client):
    fake, http = client
    fake.archive("contacts", 3)
    seen, after = [], None
    while True:
        page = http.get_json("/crm/v3/objects/contacts", params={"limit": 500, **({"after": after} if after else {})})
        assert len(page["results"]) <= 100
        seen += [r["id"] for r in page["results"]]
        after = (page.get("paging") or {}).get("next", {}).get("after")
        if not after:
            break
    assert len(seen) == len(set(seen)) == 10_049 and "4" not in seen
    archived = http.get_json("/crm/v3/objects/contacts", params={"archived": "true"})
    assert [(r["id"], r["archived"]) for r in archived["results"]] == [("4", True)]
    assert "archivedAt" in archived["results"][0]


def test_unknown_token_is_401():
    with FakeHubSpot(contacts=1) as fake:
        response = httpx.get(f"{fake.url}/crm/v3/objects/contacts", headers={"Authorization": "Bearer nope"})
        assert response.status_code == 401
