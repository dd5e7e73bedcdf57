"""The connector on its own (no database): OAuth refresh and rotation, paging edge cases, configuration."""

import datetime as dt

import pytest
from django.core.management import call_command

from crm_connectors.base import ConnectorError
from crm_connectors.models import CRMConnection
from crm_connectors.pipedrive.connector import PipedriveConnector
from tests.crm_connectors.pipedrive.conftest import FAST_BUDGET
from tests.factories import OrganizationFactory


def _connector(fake, credentials, **config) -> PipedriveConnector:
    return PipedriveConnector(
        config={"base_url": fake.url, "page_size": 2, "oauth_token_url": fake.token_url, **FAST_BUDGET, **config},
        credentials=credentials,
    )


def _external_ids(pages) -> list[str]:
    return [record["external_id"] for page in pages for record in page.records]


def test_expired_access_token_is_refreshed_once_and_rotated_tokens_are_handed_over(fake):
    fake.rotate_refresh_tokens = True
    ids = fake.seed(organizations=3)
    connector = _connector(
        fake, {"client_id": fake.client_id, "client_secret": fake.client_secret, "refresh_token": fake.refresh_token}
    )
    saved: list[dict] = []
    connector.on_credentials_change = saved.append

    pages = list(connector.iter_changes(object_type="companies", cursor={}, full=True))
    assert _external_ids(pages) == [str(i) for i in ids["organizations"]]
    assert saved[-1]["access_token"] == "pd-access-1" and saved[-1]["refresh_token"] == "pd-refresh-2"
    assert saved[-1]["expires_at"] and saved[-1]["api_domain"] == fake.url

    fake.expire_access_tokens()
    fake.tick()
    fake.update("organizations", ids["organizations"][0], name="Renamed")
    pages = list(connector.iter_changes(object_type="companies", cursor=pages[-1].cursor, full=False))

    assert _external_ids(pages) == [str(ids["organizations"][0])]
    assert fake.oauth_refreshes == 2 and saved[-1]["access_token"] == "pd-access-2"
    assert saved[-1]["refresh_token"] == "pd-refresh-3" == connector.credentials["refresh_token"]


def test_incomplete_credentials_are_a_connection_error(fake):
    with pytest.raises(ConnectorError, match="API token or OAuth"):
        _connector(fake, {"client_id": "only-half"}).check_credentials()


def test_more_records_in_one_second_than_a_page_are_all_read(fake):
    """Offset paging (v1 notes) must not loop or skip when a whole page shares the boundary instant."""
    note_ids = [fake.add("notes", content=f"same second {n}") for n in range(5)]
    connector = _connector(fake, {"token": fake.api_token})

    pages = list(connector.iter_changes(object_type="activities", cursor={}, full=True))

    assert _external_ids(pages) == [f"note:{i}" for i in note_ids]
    starts = [call["start"] for call in fake.calls("/v1/notes")]
    # Asked again from the boundary (start 0) once it moved; then by offset while the page sits on it.
    assert starts == ["0", "0", "2", "4"]
    boundary = pages[-1].cursor["streams"]["notes"]
    assert boundary["ids"] == [str(i) for i in note_ids]
    listed = {i for page in pages for i in page.listed_external_ids or []}
    assert listed == {f"note:{i}" for i in note_ids} and pages[-1].listing_complete


def test_lookback_rereads_a_window_before_the_boundary(fake):
    ids = fake.seed(persons=2)
    connector = _connector(fake, {"token": fake.api_token}, lookback_seconds=60)
    first = list(connector.iter_changes(object_type="contacts", cursor={}, full=True))

    again = list(connector.iter_changes(object_type="contacts", cursor=first[-1].cursor, full=False))

    boundary_time = fake.records["persons"][ids["persons"][1]]["update_time"]
    expected_since = (boundary_time - dt.timedelta(seconds=60)).strftime("%Y-%m-%dT%H:%M:%SZ")
    assert fake.calls("/api/v2/persons")[-1]["updated_since"] == expected_since
    assert _external_ids(again) == [str(ids["persons"][0])]  # re-read; the boundary record itself is not


def test_activity_kinds_can_be_remapped_in_config(fake):
    fake.add("activities", subject="Demo", type="demo_call", due_date="2026-02-01", due_time="09:00")
    connector = _connector(fake, {"token": fake.api_token}, activity_kinds={"demo_call": "meeting"})
    pages = list(connector.iter_changes(object_type="activities", cursor={}, full=True))
    assert [record["kind"] for page in pages for record in page.records] == ["meeting"]


@pytest.mark.django_db
def test_crm_connect_creates_a_pipedrive_connection(fake):
    organization = OrganizationFactory()
    call_command(
        "crm_connect",
        "pipedrive",
        "--org",
        organization.slug,
        "--name",
        "pd",
        "--base-url",
        fake.url,
        "--token",
        fake.api_token,
    )
    connection = CRMConnection.objects.get(organization=organization, name="pd")
    assert (connection.kind, connection.config, connection.credentials) == (
        "pipedrive",
        {"base_url": fake.url},
        {"token": fake.api_token},
    )
