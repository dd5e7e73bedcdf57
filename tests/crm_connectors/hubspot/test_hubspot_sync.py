"""HubSpot connector end to end: the fake HubSpot on 127.0.0.1 -> connection_sync -> database rows."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from django.core.management import call_command
from django.db import connection as db_connection

from crm_connectors.hubspot.connector import HubSpotConnector
from crm_connectors.models import CRMConnection, SyncRun
from crm_connectors.services import connection_create
from crm_connectors.sync import connection_sync
from salesai.core.models import Activity, Company, Contact, Deal
from tests.crm_connectors.hubspot.fake_server import SEARCH_CAP, FakeHubSpot, rate_limited
from tests.factories import OrganizationFactory

pytestmark = pytest.mark.django_db

TOTAL = 5 + 250 + 12 + 30  # companies + contacts + deals + 5 engagement types x 6


def live(model, connection):
    return model.objects.filter(connection=connection, deleted_at__isnull=True)


def sync(connection, **kwargs) -> SyncRun:
    return connection_sync(connection_id=connection.pk, **kwargs)


def test_full_sync_exact_counts_and_mapping(fake_hub, hub_connection):
    connection = hub_connection(fake_hub)
    run = sync(connection, full=True)

    assert run.status == SyncRun.Status.SUCCEEDED, run.error_summary
    assert (run.created, run.updated, run.failed, run.deleted) == (TOTAL, 0, 0, 0)
    assert live(Company, connection).count() == 5
    assert live(Contact, connection).count() == 250
    assert live(Deal, connection).count() == 12
    assert live(Activity, connection).count() == 30
    assert sorted(set(live(Activity, connection).values_list("kind", flat=True))) == [
        "call",
        "email",
        "meeting",
        "note",
        "task",
    ]

    contact = Contact.objects.get(connection=connection, external_id="6")  # index 5
    assert (contact.first_name, contact.last_name) == ("Femi", "Silva")
    assert contact.email == "femi.silva5@example.test"
    assert contact.lifecycle_stage == "customer"
    assert contact.converted_at is not None
    assert contact.company.external_id == "1"  # primary association, index 5 % 5 companies
    assert contact.remote_created_at == dt.datetime(2025, 12, 2, 0, 0, 5, tzinfo=dt.UTC)
    # Custom properties only, typed by their HubSpot type.
    assert contact.properties == {
        "nps_score": 5,
        "is_vip": False,
        "favorite_products": ["alpha", "beta"],
        "last_demo_at": "2025-12-02T01:00:05+00:00",
        "referral_code": "R5",
    }
    assert "firstname" not in contact.properties and "hs_object_id" not in contact.properties
    assert Contact.objects.get(connection=connection, external_id="1").opted_out is True

    company = Company.objects.get(connection=connection, external_id="2")
    assert (company.name, company.employee_count, company.annual_revenue) == ("Company 1", 11, Decimal("100010.50"))
    assert company.properties == {"tier": "silver"}

    won = Deal.objects.get(connection=connection, external_id="4")  # index 3: closedwon
    assert (won.status, won.stage, won.amount, won.currency) == ("won", "closedwon", Decimal("1003.00"), "EUR")
    assert won.close_date == dt.date(2026, 1, 4)
    assert won.company.external_id == "4" and won.contact.external_id == "4"
    assert Deal.objects.get(connection=connection, external_id="5").status == "lost"

    email = Activity.objects.get(connection=connection, external_id="1000000002")  # emails index 1
    assert (email.kind, email.direction, email.subject) == ("email", "inbound", "Re: proposal 1")
    assert email.contact.external_id == "2" and email.company.external_id == "2"
    assert email.deal is None  # odd engagements have no deal
    call = Activity.objects.get(connection=connection, external_id="3000000001")
    assert (call.kind, call.direction, call.deal.external_id) == ("call", "outbound", "1")
    assert call.properties == {"call_outcome_code": "connected"}

    cursor = CRMConnection.objects.get(pk=connection.pk).cursor
    assert cursor["contacts"]["contacts"]["mode"] == "incremental"
    assert set(cursor["activities"]) == {"emails", "notes", "calls", "meetings", "tasks"}


def test_list_pages_are_at_most_100(fake_hub, hub_connection):
    sync(hub_connection(fake_hub), full=True)
    contact_pages = [r for r in fake_hub.requests if r.path == "/crm/v3/objects/contacts" and "archived" not in r.query]
    assert [r.query["limit"] for r in contact_pages[1:]] == [["100"]] * 3  # after the credentials check


def test_full_sync_takes_single_parents_from_inline_associations_and_reads_the_rest_with_v4(fake_hub, hub_connection):
    connection = hub_connection(fake_hub)
    run = sync(connection, full=True)
    assert run.status == SyncRun.Status.SUCCEEDED, run.error_summary

    contact_lists = [r for r in fake_hub.requests if r.path == "/crm/v3/objects/contacts" and "archived" not in r.query]
    assert all(r.query.get("associations") == ["companies"] for r in contact_lists[1:])
    v4_reads = {r.path for r in fake_hub.requests if r.path.startswith("/crm/v4/associations/")}
    # Every contact and deal has one company (and a deal one contact): settled inline, no v4 read.
    assert not {
        path for path in v4_reads if path.startswith(("/crm/v4/associations/contacts/", "/crm/v4/associations/deals/"))
    }
    # Engagements link two contacts each: which one is primary only v4 type ids tell.
    assert "/crm/v4/associations/emails/contacts/batch/read" in v4_reads
    # Same parents as the v4 path gives: the primary company, and for engagements the lowest id.
    assert Contact.objects.get(connection=connection, external_id="6").company.external_id == "1"
    deal = Deal.objects.get(connection=connection, external_id="4")
    assert deal.company.external_id == "4" and deal.contact.external_id == "4"
    assert Activity.objects.get(connection=connection, external_id="1000000002").contact.external_id == "2"


def test_incremental_sync_reads_only_changed_records(fake_hub, hub_connection):
    connection = hub_connection(fake_hub)
    sync(connection, full=True)
    fake_hub.modify("contacts", 3, firstname="Zoe", nps_score="10")
    fake_hub.modify("deals", 0, dealstage="closedwon", hs_is_closed_won="true", hs_is_closed="true")
    fake_hub.modify("notes", 2, hs_note_body="updated")
    new = fake_hub.create("companies", name="Newco", domain="newco.example.test")
    fake_hub.requests.clear()

    run = sync(connection)

    assert run.status == SyncRun.Status.SUCCEEDED, run.error_summary
    assert (run.created, run.updated, run.deleted) == (1, 3, 0)
    assert Contact.objects.get(connection=connection, external_id="4").first_name == "Zoe"
    assert Contact.objects.get(connection=connection, external_id="4").properties["nps_score"] == 10
    assert Deal.objects.get(connection=connection, external_id="1").status == "won"
    assert Activity.objects.get(connection=connection, external_id="2000000003").body == "updated"
    assert Company.objects.get(connection=connection, external_id=fake_hub.record_id("companies", new)).name == "Newco"
    assert live(Contact, connection).count() == 250
    # Incremental runs search; they never list live records again.
    searched = {r.path for r in fake_hub.requests if r.path.endswith("/search")}
    assert "/crm/v3/objects/contacts/search" in searched
    assert not [
        r
        for r in fake_hub.requests
        if r.path == "/crm/v3/objects/contacts" and "archived" not in r.query and r.query.get("limit") != ["1"]
    ]
    body = next(r.body for r in fake_hub.requests if r.path == "/crm/v3/objects/contacts/search")
    names = [f["propertyName"] for f in body["filterGroups"][0]["filters"]]
    assert names[0] == "lastmodifieddate" and body["sorts"] == [
        {"propertyName": "hs_object_id", "direction": "ASCENDING"}
    ]
    deal_body = next(r.body for r in fake_hub.requests if r.path == "/crm/v3/objects/deals/search")
    assert deal_body["filterGroups"][0]["filters"][0]["propertyName"] == "hs_lastmodifieddate"

    again = sync(connection)  # nothing new: the lookback re-reads the same few records, all unchanged
    assert (again.created, again.updated) == (0, 0)


def test_incremental_past_the_10000_search_cap_returns_every_record_once(hub_connection, sleeps):
    with FakeHubSpot(contacts=12_000) as fake:
        connection = hub_connection(fake)
        fake.modify_many("contacts", range(12_000))  # one bulk edit: 12,000 changes in one window
        # Pretend a full sync finished before the edit: the next run is incremental.
        since = fake.now_ms() - 1
        connection.cursor = {
            "contacts": {"contacts": {"mode": "incremental", "since": since, "archived": {"checked_at": since}}}
        }
        connection.save(update_fields=["cursor"])

        run = sync(connection)

        assert run.status == SyncRun.Status.SUCCEEDED, run.error_summary
        assert (run.created, run.updated, run.unchanged, run.failed) == (12_000, 0, 0, 0)
        assert live(Contact, connection).count() == 12_000
        searches = [r.body for r in fake.requests if r.path == "/crm/v3/objects/contacts/search"]
        assert all(int(body.get("after") or 0) < SEARCH_CAP for body in searches)
        restarts = {body["filterGroups"][0]["filters"][1]["value"] for body in searches}
        assert len(restarts) == 2  # one keyset restart after the first 10,000


def test_archived_and_merged_records_are_soft_deleted(fake_hub, hub_connection):
    connection = hub_connection(fake_hub)
    sync(connection, full=True)
    fake_hub.archive("contacts", 7)
    fake_hub.archive("deals", 2)
    fake_hub.archive("calls", 0)
    fake_hub.merge("companies", survivor=0, absorbed=4)

    run = sync(connection)

    assert run.status == SyncRun.Status.SUCCEEDED, run.error_summary
    assert run.deleted == 4
    assert Contact.objects.get(connection=connection, external_id="8").deleted_at is not None
    assert Deal.objects.get(connection=connection, external_id="3").deleted_at is not None
    assert Activity.objects.get(connection=connection, external_id="3000000001").deleted_at is not None
    assert Company.objects.get(connection=connection, external_id="5").deleted_at is not None
    assert Company.objects.get(connection=connection, external_id="1").deleted_at is None
    assert live(Contact, connection).count() == 249

    # Later archived passes only report what was archived since the previous check.
    again = sync(connection)
    assert again.deleted == 0


def test_full_sync_reconciles_purged_records_incremental_does_not(fake_hub, hub_connection):
    connection = hub_connection(fake_hub)
    sync(connection, full=True)
    fake_hub.purge("contacts", 10)
    fake_hub.purge("notes", 0)

    incremental = sync(connection)
    assert incremental.deleted == 0  # a search-driven run cannot see purges

    full = sync(connection, full=True)
    assert full.status == SyncRun.Status.SUCCEEDED, full.error_summary
    assert full.deleted == 2
    assert Contact.objects.get(connection=connection, external_id="11").deleted_at is not None
    assert Activity.objects.get(connection=connection, external_id="2000000001").deleted_at is not None
    assert live(Contact, connection).count() == 249 and live(Activity, connection).count() == 29


def test_resumed_full_sync_does_not_reconcile_with_a_partial_id_set(fake_hub, hub_connection):
    connection = hub_connection(fake_hub)
    fake_hub.fault = lambda req: (
        (500, {}, {}) if req.path == "/crm/v3/objects/contacts" and req.query.get("after") else None
    )
    assert sync(connection, full=True).status == SyncRun.Status.FAILED
    fake_hub.fault = None
    resumed = sync(connection)
    assert resumed.status == SyncRun.Status.SUCCEEDED, resumed.error_summary
    assert resumed.deleted == 0 and live(Contact, connection).count() == 250


def test_records_archived_before_the_first_sync_are_not_created(hub_connection, sleeps):
    with FakeHubSpot(contacts=10, companies=2) as fake:
        fake.archive("contacts", 1)
        connection = hub_connection(fake)
        run = sync(connection, full=True)
        assert run.created == 12 - 1
        assert not Contact.objects.filter(connection=connection, external_id="2").exists()


def test_crash_mid_full_sync_resumes_without_loss_or_duplicates(fake_hub, hub_connection):
    connection = hub_connection(fake_hub)

    def broken_after_two_pages(req):
        if req.path == "/crm/v3/objects/contacts" and int(req.query.get("after", ["0"])[0]) >= 200:
            return 500, {}, {"status": "error", "message": "internal error"}
        return None

    fake_hub.fault = broken_after_two_pages
    first = sync(connection, full=True)
    assert first.status == SyncRun.Status.FAILED
    assert "500" in first.error_summary
    assert live(Contact, connection).count() == 200  # two committed pages
    assert CRMConnection.objects.get(pk=connection.pk).cursor["contacts"]["contacts"]["after"] == "200"

    fake_hub.fault = None
    fake_hub.requests.clear()
    second = sync(connection)

    assert second.status == SyncRun.Status.SUCCEEDED, second.error_summary
    assert first.created + second.created == TOTAL
    assert second.updated == 0
    assert live(Contact, connection).count() == 250
    assert Contact.objects.filter(connection=connection).count() == 250
    # It resumed at the failed page instead of listing contacts from the start.
    listed = [
        r.query.get("after")
        for r in fake_hub.requests
        if r.path == "/crm/v3/objects/contacts" and "archived" not in r.query and r.query.get("limit") != ["1"]
    ]
    assert listed == [["200"]]


def test_crash_mid_incremental_search_resumes_after_last_committed_id(hub_connection, sleeps):
    with FakeHubSpot(contacts=500) as fake:
        connection = hub_connection(fake)
        sync(connection, full=True)
        fake.modify_many("contacts", range(0, 500, 2), jobtitle="Changed")  # 250 changes: search pages of 200 + 50
        pages = []

        def fail_second_search_page(req):
            if req.path.endswith("/contacts/search"):
                pages.append(req.body)
                if len(pages) >= 2:
                    raise ConnectionResetError  # the fake's handler answers a 500

        fake.fault = fail_second_search_page
        first = sync(connection)
        assert first.status == SyncRun.Status.FAILED
        assert first.updated == 200
        fake.fault = None
        second = sync(connection)
        assert second.status == SyncRun.Status.SUCCEEDED, second.error_summary
        assert second.updated == 50 and second.created == 0
        assert live(Contact, connection).filter(job_title="Changed").count() == 250


def test_429_retry_after_is_honoured(fake_hub, hub_connection, sleeps):
    connection = hub_connection(fake_hub)
    fake_hub.fault = rate_limited(2, retry_after="3")
    run = sync(connection, full=True)
    assert run.status == SyncRun.Status.SUCCEEDED, run.error_summary
    assert run.created == TOTAL
    assert sleeps[:2] == [3.0, 3.0]


def test_daily_limit_stops_the_run_without_retrying(fake_hub, hub_connection, sleeps):
    connection = hub_connection(fake_hub)
    fake_hub.fault = rate_limited(100, retry_after=None, policy="DAILY")
    run = sync(connection, full=True)
    assert run.status == SyncRun.Status.FAILED
    assert "QuotaExhausted" in run.error_summary
    assert len(fake_hub.requests) == 1 and sleeps == []


def test_unexpected_value_rejects_only_that_record(fake_hub, hub_connection):
    # Contacts no deal or engagement points at (a rejected parent would reject its children too).
    fake_hub.modify("contacts", 20, nps_score="lots")
    fake_hub.modify("contacts", 30, createdate="yesterday")
    connection = hub_connection(fake_hub)
    run = sync(connection, full=True)
    assert run.status == SyncRun.Status.PARTIAL
    assert run.failed == 2 and run.created == TOTAL - 2
    assert {(e["external_id"], e["column"]) for e in run.errors} == {("21", "nps_score"), ("31", "createdate")}
    assert not Contact.objects.filter(connection=connection, external_id="21").exists()


def test_bad_private_app_token_fails_the_run_without_leaking_it(fake_hub, hub_connection):
    connection = hub_connection(fake_hub, credentials={"token": "pat-na1-wrong-secret"})
    run = sync(connection, full=True)
    assert run.status == SyncRun.Status.FAILED
    assert "401" in run.error_summary and "pat-na1-wrong-secret" not in run.error_summary
    assert fake_hub.requests[0].headers["authorization"] == "Bearer pat-na1-wrong-secret"


def oauth_credentials(fake, **extra):
    return {
        "client_id": fake.client_id,
        "client_secret": fake.client_secret,
        "refresh_token": fake.refresh_token,
        **extra,
    }


def persist_into(connection):
    """What the sync engine does with rotated credentials: store them (encrypted) on the connection."""

    def save(credentials):
        connection_create(
            organization=connection.organization,
            kind=connection.kind,
            name=connection.name,
            config=connection.config,
            credentials=credentials,
        )

    return save


def test_expired_access_token_is_refreshed_and_rotated_refresh_token_saved(fake_hub, hub_connection):
    far = (dt.datetime.now(dt.UTC) + dt.timedelta(hours=1)).isoformat()
    connection = hub_connection(
        fake_hub, credentials=oauth_credentials(fake_hub, access_token="revoked", expires_at=far)
    )
    connector = HubSpotConnector(config=connection.config, credentials=connection.credentials)
    connector.on_credentials_change = persist_into(connection)

    connector.check_credentials()  # 401 on the stale token -> one refresh -> retried

    assert fake_hub.token_requests == 1 and fake_hub.refresh_token == "refresh-1"
    stored = CRMConnection.objects.get(pk=connection.pk)
    assert stored.credentials["refresh_token"] == "refresh-1"
    assert stored.credentials["access_token"] == "access-1"
    assert stored.credentials["client_secret"] == fake_hub.client_secret
    with db_connection.cursor() as cursor:
        cursor.execute("SELECT credentials FROM crm_connectors_crmconnection WHERE id = %s", [connection.pk])
        raw = str(cursor.fetchone()[0])
    assert "refresh-1" not in raw and "access-1" not in raw  # encrypted at rest

    # The saved credentials work as they are: no further refresh, and a whole sync runs on them.
    fresh = HubSpotConnector(config=stored.config, credentials=stored.credentials)
    fresh.check_credentials()
    assert fake_hub.token_requests == 1
    run = sync(connection, full=True)
    assert run.status == SyncRun.Status.SUCCEEDED, run.error_summary
    assert fake_hub.token_requests == 1


def test_token_near_expiry_is_refreshed_before_the_call(fake_hub, hub_connection):
    soon = (dt.datetime.now(dt.UTC) + dt.timedelta(seconds=20)).isoformat()
    fake_hub.access_tokens["almost-expired"] = fake_hub.clock() + 20
    connection = hub_connection(
        fake_hub, credentials=oauth_credentials(fake_hub, access_token="almost-expired", expires_at=soon)
    )
    saved = []
    connector = HubSpotConnector(config=connection.config, credentials=connection.credentials)
    connector.on_credentials_change = saved.append
    connector.check_credentials()
    assert fake_hub.token_requests == 1
    assert [r.headers["authorization"] for r in fake_hub.requests if r.path != "/oauth/v1/token"] == ["Bearer access-1"]
    assert saved[0]["refresh_token"] == "refresh-1" and saved[0]["hub_id"] == 62515


def test_refused_refresh_fails_the_run(fake_hub, hub_connection):
    connection = hub_connection(
        fake_hub,
        credentials={
            "client_id": fake_hub.client_id,
            "client_secret": "wrong-secret-value",
            "refresh_token": "refresh-0",
        },
    )
    run = sync(connection, full=True)
    assert run.status == SyncRun.Status.FAILED
    assert "AuthRefreshFailed" in run.error_summary and "wrong-secret-value" not in run.error_summary


def test_crm_connect_command_makes_a_working_hubspot_connection(fake_hub, db, capsys):
    organization = OrganizationFactory()
    call_command(
        "crm_connect",
        "hubspot",
        "--org",
        organization.slug,
        "--name",
        "hs",
        "--base-url",
        fake_hub.url,
        "--token",
        fake_hub.token,
    )
    connection = CRMConnection.objects.get(pk=int(capsys.readouterr().out.strip()))
    assert connection.kind == "hubspot" and connection.credentials == {"token": fake_hub.token}
    HubSpotConnector(config=connection.config, credentials=connection.credentials).check_credentials()
