"""Salesforce sync end to end: connector -> local fake Salesforce over HTTP -> sync engine -> database."""

import datetime as dt
from decimal import Decimal

import pytest

from crm_connectors.models import CRMConnection
from crm_connectors.sync import connection_sync
from salesai.core.models import Activity, Company, Contact, Deal
from tests.crm_connectors.salesforce.conftest import seed

pytestmark = pytest.mark.django_db


def _totals() -> tuple[int, int, int, int]:
    return Company.objects.count(), Contact.objects.count(), Deal.objects.count(), Activity.objects.count()


def test_full_sync_maps_every_object_with_exact_counts(fake_sf, sf_connection):
    ids = seed(fake_sf)
    connection = sf_connection()

    run = connection_sync(connection_id=connection.pk)

    assert (run.status, run.created, run.updated, run.failed, run.deleted) == ("succeeded", 15, 0, 0, 0), run.errors
    assert _totals() == (3, 5, 3, 4)
    assert fake_sf.token_requests == 1  # one refresh to learn the access token and instance_url

    acme = Company.objects.get(external_id=ids.a1)
    assert (acme.name, acme.domain, acme.industry, acme.employee_count) == ("Acme", "acme.com", "Software", 50)
    assert (acme.annual_revenue, acme.country, acme.city) == (Decimal("1200000.50"), "DE", "Berlin")
    # Custom fields typed by the describe; a base64 field is not read at all.
    assert acme.properties == {"Tier__c": "gold", "Score__c": 7.5}
    assert Company.objects.get(external_id=ids.a2).properties == {"Tier__c": None, "Score__c": 3}
    assert acme.remote_updated_at is not None

    ada = Contact.objects.get(external_id=ids.c1)
    assert (ada.company, ada.first_name, ada.email, ada.job_title, ada.owner_email) == (
        acme,
        "Ada",
        "ada@acme.test",
        "CTO",
        "rep@example.test",
    )
    assert ada.properties == {"Birthday__c": "1990-12-10"} and ada.lifecycle_stage == "" and ada.converted_at is None
    assert Contact.objects.get(external_id=ids.c2).opted_out is True

    open_lead = Contact.objects.get(external_id=ids.l1)
    assert (open_lead.lifecycle_stage, open_lead.lead_status, open_lead.company) == ("lead", "Working", None)
    assert open_lead.properties == {"Company": "Prospect Ltd", "Interests__c": ["AI", "CRM"]}
    converted = Contact.objects.get(external_id=ids.l2)
    assert converted.lifecycle_stage == "opportunity"
    assert converted.converted_at == dt.datetime(2026, 1, 10, tzinfo=dt.UTC)
    assert converted.company is None and converted.properties["ConvertedAccountId"] == ids.a3
    assert converted.properties["ConvertedContactId"] == ids.c3

    expansion = Deal.objects.get(external_id=ids.o1)
    assert (expansion.status, expansion.stage, expansion.amount, expansion.close_date) == (
        "open",
        "Proposal",
        Decimal("50000.00"),
        dt.date(2026, 3, 31),
    )
    assert (expansion.company, expansion.contact) == (acme, ada)
    assert expansion.properties == {"Renewal__c": True, "Seats__c": 25}
    assert Deal.objects.get(external_id=ids.o2).status == "won"
    assert Deal.objects.get(external_id=ids.o3).status == "lost"

    call = Activity.objects.get(external_id=ids.t1)
    assert (call.kind, call.direction, call.contact, call.deal, call.company) == (
        "call",
        "outbound",
        ada,
        expansion,
        acme,
    )
    assert call.occurred_at == dt.datetime(2026, 1, 2, 10, tzinfo=dt.UTC)
    email = Activity.objects.get(external_id=ids.t2)
    assert (email.kind, email.contact, email.body) == ("email", open_lead, "Hi Lee")
    assert email.occurred_at == dt.datetime(2026, 1, 3, tzinfo=dt.UTC)  # ActivityDate when not completed
    qbr = Activity.objects.get(external_id=ids.t3)
    assert (qbr.kind, qbr.company.external_id, qbr.deal) == ("task", ids.a2, None)
    demo = Activity.objects.get(external_id=ids.e1)
    assert (demo.kind, demo.contact.external_id, demo.occurred_at) == (
        "meeting",
        ids.c2,
        dt.datetime(2026, 1, 5, 14, tzinfo=dt.UTC),
    )

    # Pages followed nextRecordsUrl (page size 2), and first passes read live rows through `query`.
    assert any("/query/01g" in path for _, path, _ in fake_sf.requests)
    account_query = next(q for q in fake_sf.queries() if "FROM Account" in q)
    assert account_query.startswith("SELECT Id, Name, Website") and "ORDER BY SystemModstamp, Id" in account_query
    assert "Logo__c" not in account_query
    cursor = CRMConnection.objects.get(pk=connection.pk).cursor
    assert set(cursor["contacts"]) == {"Contact", "Lead"} and "pass" not in cursor["contacts"]["Lead"]


def test_incremental_sync_reads_only_what_changed(fake_sf, sf_connection):
    ids = seed(fake_sf)
    connection = sf_connection()
    connection_sync(connection_id=connection.pk)
    queries_before = len(fake_sf.queries())

    fake_sf.advance(hours=1)
    fake_sf.update("Account", ids.a1, Name="Acme Corp")
    new_contact = fake_sf.add("Contact", AccountId=ids.a1, FirstName="Dee", LastName="New")
    fake_sf.update("Opportunity", ids.o1, StageName="Closed Won", IsClosed=True, IsWon=True)

    run = connection_sync(connection_id=connection.pk)

    # The last seeded record (the event) was stamped within the 5-minute lookback: read again, unchanged.
    assert (run.status, run.created, run.updated, run.unchanged, run.deleted) == ("succeeded", 1, 2, 1, 0)
    assert _totals() == (3, 6, 3, 4)
    assert Company.objects.get(external_id=ids.a1).name == "Acme Corp"
    assert Contact.objects.get(external_id=new_contact).company.external_id == ids.a1
    assert Deal.objects.get(external_id=ids.o1).status == "won"
    incremental = fake_sf.queries()[queries_before:]
    account_query = next(q for q in incremental if "FROM Account" in q)
    assert "SystemModstamp > 2026-01-01T" in account_query and "IsDeleted" in account_query
    # Children are bounded by the run's start on Salesforce's clock.
    assert "SystemModstamp <= " in next(q for q in incremental if "FROM Contact" in q)

    quiet = connection_sync(connection_id=connection.pk)
    assert (quiet.created, quiet.updated) == (0, 0)


def test_deleted_rows_from_queryall_and_the_deleted_feed_are_soft_deleted(fake_sf, sf_connection):
    ids = seed(fake_sf)
    connection = sf_connection(lookback_seconds=0)
    connection_sync(connection_id=connection.pk)

    fake_sf.advance(hours=1)
    fake_sf.delete("Contact", ids.c2)  # recycle bin: queryAll shows IsDeleted = true
    fake_sf.delete("Lead", ids.l1)
    fake_sf.hard_delete("Opportunity", ids.o3)  # purged: only the deleted feed knows
    fake_sf.hard_delete("Event", ids.e1)

    run = connection_sync(connection_id=connection.pk)

    assert (run.status, run.created, run.updated, run.deleted) == ("succeeded", 0, 0, 4)
    for model, external_id in ((Contact, ids.c2), (Contact, ids.l1), (Deal, ids.o3), (Activity, ids.e1)):
        assert model.objects.get(external_id=external_id).deleted_at is not None
    assert Contact.objects.filter(deleted_at__isnull=True).count() == 3
    assert any(path.endswith("/sobjects/Opportunity/deleted") for _, path, _ in fake_sf.requests)

    again = connection_sync(connection_id=connection.pk)
    assert (again.deleted, again.created, again.updated) == (0, 0, 0)


def test_deletes_older_than_the_feed_window_are_found_by_id_reconciliation(fake_sf, sf_connection):
    ids = seed(fake_sf)
    connection = sf_connection(lookback_seconds=0)
    connection_sync(connection_id=connection.pk)

    fake_sf.hard_delete("Lead", ids.l1)
    fake_sf.hard_delete("Task", ids.t3)
    fake_sf.advance(days=20)  # the deleted feed only reaches 15 days back

    run = connection_sync(connection_id=connection.pk)

    assert (run.status, run.deleted, run.failed) == ("succeeded", 2, 0), run.error_summary
    assert Contact.objects.get(external_id=ids.l1).deleted_at is not None
    assert Activity.objects.get(external_id=ids.t3).deleted_at is not None
    # Reconciliation lists Contacts and Leads together, so no live contact of either kind is lost.
    assert Contact.objects.filter(deleted_at__isnull=True).count() == 4
    assert any(q.startswith("SELECT Id FROM Lead") for q in fake_sf.queries())
    assert not any(path.endswith("/deleted") for _, path, _ in fake_sf.requests)

    # The check is recent again: the next run uses the feed, not another reconciliation.
    queries_before = len(fake_sf.queries())
    connection_sync(connection_id=connection.pk)
    assert not any(q.startswith("SELECT Id FROM") for q in fake_sf.queries()[queries_before:])


def test_full_sync_reconciles_ids(fake_sf, sf_connection):
    seed(fake_sf)
    shell = fake_sf.add("Account", Name="Shell Co")
    connection = sf_connection()
    connection_sync(connection_id=connection.pk)
    fake_sf.hard_delete("Account", shell)
    fake_sf.advance(days=30)  # long gone from the deleted feed

    run = connection_sync(connection_id=connection.pk, full=True)

    assert (run.mode, run.status, run.created, run.updated, run.deleted) == ("full", "succeeded", 0, 0, 1)
    assert Company.objects.get(external_id=shell).deleted_at is not None
    assert Company.objects.filter(deleted_at__isnull=True).count() == 3


def test_crash_mid_run_resumes_without_loss_or_duplicates(fake_sf, sf_connection):
    seed(fake_sf)
    connection = sf_connection()
    # The second nextRecordsUrl fetch (contacts, page 2) keeps failing through every retry: accounts and one
    # contact page are committed.
    fake_sf.fail(
        500, [{"errorCode": "UNKNOWN_EXCEPTION", "message": "boom"}], path_contains="/query/01g", skip=1, times=6
    )

    crashed = connection_sync(connection_id=connection.pk)

    assert crashed.status == "failed" and "UNKNOWN_EXCEPTION" in crashed.error_summary
    assert fake_sf.statuses.count(500) == 6  # the first try and 5 retries
    assert crashed.created == 5 and _totals() == (3, 2, 0, 0)
    saved = CRMConnection.objects.get(pk=connection.pk).cursor
    assert saved["contacts"]["Contact"]["pass"]["at"]  # where the contacts pass got to

    queries_before = len(fake_sf.queries())
    resumed = connection_sync(connection_id=connection.pk)

    # Nothing committed before the crash is read again (the contact at the saved position is skipped).
    assert (resumed.status, resumed.created, resumed.updated, resumed.unchanged) == ("succeeded", 10, 0, 0)
    assert _totals() == (3, 5, 3, 4)
    contact_query = next(q for q in fake_sf.queries()[queries_before:] if "FROM Contact" in q)
    assert "SystemModstamp >= " in contact_query  # resumed where it stopped, not from the start


def test_expired_session_is_refreshed_and_the_call_retried(fake_sf, sf_connection):
    seed(fake_sf)
    connection = sf_connection(
        credentials={
            "client_id": fake_sf.client_id,
            "client_secret": fake_sf.client_secret,
            "refresh_token": fake_sf.refresh_token,
            "access_token": "00Dfake!expired",  # saved by an earlier run, since expired
            "instance_url": fake_sf.url,
        }
    )

    run = connection_sync(connection_id=connection.pk)

    assert (run.status, run.created) == ("succeeded", 15)
    assert fake_sf.statuses[0] == 401 and fake_sf.token_requests == 1
    saved = CRMConnection.objects.get(pk=connection.pk).credentials  # by the engine, through on_credentials_change
    assert saved["access_token"] in fake_sf.valid_tokens and saved["instance_url"] == fake_sf.url

    fake_sf.expire_tokens()  # the session dies mid-way through the next run as well
    fake_sf.add("Account", Name="Late Inc")
    run = connection_sync(connection_id=connection.pk)
    assert (run.status, run.created) == ("succeeded", 1)
    assert fake_sf.token_requests == 2 and fake_sf.statuses.count(401) == 2


def test_quota_near_the_limit_stops_cleanly_and_the_next_run_resumes(fake_sf, sf_connection):
    seed(fake_sf)
    fake_sf.daily_limit, fake_sf.api_usage = 1000, 895
    connection = sf_connection()

    stopped = connection_sync(connection_id=connection.pk)

    # 896..900: describe + two account pages + two describes; at 900/1000 (90%) no further call is made.
    assert stopped.status == "failed"
    assert stopped.error_summary.startswith("QuotaExhausted: Salesforce daily API usage 900/1000")
    assert fake_sf.api_usage == 900 and _totals() == (3, 0, 0, 0)
    assert CRMConnection.objects.get(pk=connection.pk).cursor["companies"]["Account"]["watermark"]

    fake_sf.api_usage = 0  # a new day
    resumed = connection_sync(connection_id=connection.pk)
    assert (resumed.status, resumed.created) == ("succeeded", 12)
    assert _totals() == (3, 5, 3, 4)


def test_request_limit_exceeded_stops_cleanly_and_503_is_retried(fake_sf, sf_connection):
    seed(fake_sf)
    connection = sf_connection()
    fake_sf.fail(503, [{"errorCode": "SERVER_UNAVAILABLE", "message": "busy"}], path_contains="describe", times=2)
    fake_sf.fail(
        403,
        [{"errorCode": "REQUEST_LIMIT_EXCEEDED", "message": "TotalRequests Limit exceeded."}],
        path_contains="FROM+Opportunity",
    )

    run = connection_sync(connection_id=connection.pk)

    assert run.status == "failed" and "REQUEST_LIMIT_EXCEEDED" in run.error_summary
    assert run.error_summary.startswith("QuotaExhausted")
    assert fake_sf.statuses.count(503) == 2 and _totals() == (3, 5, 0, 0)

    resumed = connection_sync(connection_id=connection.pk)
    assert (resumed.status, resumed.created) == ("succeeded", 7)


def test_values_of_unexpected_types_reject_only_their_record(fake_sf, sf_connection):
    ids = seed(fake_sf)
    bad_account = fake_sf.add("Account", Name="Weird", Score__c="very high")  # a double field
    bad_deal = fake_sf.add("Opportunity", Name="Odd", IsClosed="yes", IsWon=False)
    connection = sf_connection()

    run = connection_sync(connection_id=connection.pk)

    assert (run.status, run.created, run.failed) == ("partial", 15, 2)
    assert _totals() == (3, 5, 3, 4)
    errors = {error["external_id"]: error for error in run.errors}
    assert errors[bad_account]["column"] == "Score__c" and "expected a number" in errors[bad_account]["reason"]
    assert errors[bad_deal]["column"] == "IsClosed"
    assert not Company.objects.filter(external_id=bad_account).exists()
    assert Deal.objects.filter(external_id=ids.o1).exists()


def test_crm_connect_and_crm_sync_commands_with_oauth(fake_sf, db):
    import io

    from django.core.management import call_command

    seed(fake_sf)
    call_command("org_create", "acme", stdout=io.StringIO())
    out = io.StringIO()
    call_command(
        "crm_connect",
        "salesforce",
        "--org",
        "acme",
        "--name",
        "sf",
        "--base-url",
        fake_sf.url,
        "--client-id",
        fake_sf.client_id,
        "--client-secret",
        fake_sf.client_secret,
        "--refresh-token",
        fake_sf.refresh_token,
        stdout=out,
    )
    connection = CRMConnection.objects.get(pk=int(out.getvalue()))
    assert connection.kind == "salesforce" and connection.credentials["refresh_token"] == fake_sf.refresh_token

    call_command("crm_sync", str(connection.pk), stdout=io.StringIO())
    assert _totals() == (3, 5, 3, 4)


def test_page_size_is_sent_as_the_query_batch_size(fake_sf, sf_connection):
    seed(fake_sf)
    connection = sf_connection(page_size=200)
    run = connection_sync(connection_id=connection.pk)
    assert run.created == 15
    assert not any("/query/01g" in path for _, path, _ in fake_sf.requests)  # one batch per query


def test_an_emptied_recycle_bin_makes_the_feed_incomplete_and_triggers_reconciliation(fake_sf, sf_connection):
    seed(fake_sf)
    shell = fake_sf.add("Account", Name="Shell Co")
    connection = sf_connection(lookback_seconds=0)
    connection_sync(connection_id=connection.pk)

    fake_sf.advance(days=2)
    fake_sf.hard_delete("Account", shell)
    fake_sf.advance(hours=1)
    fake_sf.earliest_deleted_available = fake_sf.now  # the delete log was purged: the feed no longer has it

    run = connection_sync(connection_id=connection.pk)

    assert (run.status, run.deleted) == ("succeeded", 1)
    assert Company.objects.get(external_id=shell).deleted_at is not None
    assert any(q.startswith("SELECT Id FROM Account") for q in fake_sf.queries())


def test_refreshed_tokens_and_instance_url_are_handed_over_for_saving(fake_sf):
    from crm_connectors.salesforce.connector import SalesforceConnector

    seed(fake_sf)
    connector = SalesforceConnector(
        config={"base_url": fake_sf.url},
        credentials={
            "client_id": fake_sf.client_id,
            "client_secret": fake_sf.client_secret,
            "refresh_token": fake_sf.refresh_token,
        },
    )
    saved: list[dict] = []
    connector.on_credentials_change = saved.append

    pages = list(connector.iter_changes(object_type="companies", cursor={}, full=False))
    connector.close()

    assert sum(len(page.records) for page in pages) == 3
    assert len(saved) == 1 and saved[0]["instance_url"] == fake_sf.url
    assert saved[0]["access_token"] in fake_sf.valid_tokens and saved[0]["refresh_token"] == fake_sf.refresh_token
    assert pages[-1].cursor["Account"]["watermark"] and "pass" not in pages[-1].cursor["Account"]


def test_records_created_during_a_run_wait_for_the_next_run_instead_of_losing_their_parent(fake_sf, sf_connection):
    seed(fake_sf)
    connection = sf_connection()
    created: dict[str, str] = {}

    def user_adds_an_account_and_its_contact() -> None:  # after the accounts were read
        created["account"] = fake_sf.add("Account", Name="Newco")
        created["contact"] = fake_sf.add("Contact", AccountId=created["account"], LastName="Fresh")

    fake_sf.before("sobjects/Contact/describe", user_adds_an_account_and_its_contact)

    first = connection_sync(connection_id=connection.pk)
    assert (first.status, first.created, first.failed) == ("succeeded", 15, 0)  # not "unknown company"

    second = connection_sync(connection_id=connection.pk)
    assert (second.status, second.created, second.failed) == ("succeeded", 2, 0)
    assert Contact.objects.get(external_id=created["contact"]).company.name == "Newco"


def test_an_expired_query_locator_is_replaced_by_a_query_from_the_last_position(fake_sf, sf_connection):
    seed(fake_sf)
    connection = sf_connection()
    fake_sf.fail(
        400,
        [{"errorCode": "INVALID_QUERY_LOCATOR", "message": "invalid query locator"}],
        path_contains="/query/01g",
        skip=1,
    )

    run = connection_sync(connection_id=connection.pk)

    assert (run.status, run.created, run.unchanged) == ("succeeded", 15, 0)
    contact_queries = [q for q in fake_sf.queries() if "FROM Contact" in q]
    assert len(contact_queries) == 2 and "SystemModstamp >= " in contact_queries[1]


def test_a_plain_access_token_calls_base_url_and_missing_credentials_fail_clearly(fake_sf, sf_connection):
    seed(fake_sf)
    fake_sf.valid_tokens.add("00Dfake!session")
    connection = sf_connection(credentials={"token": "00Dfake!session"})

    run = connection_sync(connection_id=connection.pk)
    assert (run.status, run.created, fake_sf.token_requests) == ("succeeded", 15, 0)

    CRMConnection.objects.filter(pk=connection.pk).update(credentials={"client_id": "only-this"})
    failed = connection_sync(connection_id=connection.pk)
    assert (
        failed.status == "failed" and "needs OAuth client_id, client_secret and refresh_token" in failed.error_summary
    )
    assert "only-this" not in failed.error_summary
