"""Pipedrive connector end to end: fake Pipedrive over HTTP -> connection_sync -> database."""

import datetime as dt
from decimal import Decimal

import pytest

from crm_connectors.models import CRMConnection, SyncRun
from crm_connectors.sync import connection_sync
from salesai.core.models import Activity, Company, Contact, Deal
from tests.crm_connectors.pipedrive.conftest import seed_small
from tests.crm_connectors.pipedrive.fake_server import (
    DEAL_COMPETITORS,
    ORG_FOUNDED,
    PERSON_SCORE,
)

pytestmark = pytest.mark.django_db


def _counts(run: SyncRun) -> tuple:
    return (run.status, run.created, run.updated, run.unchanged, run.deleted, run.failed)


def test_full_sync_creates_every_record_once_with_mapped_fields(fake, pipedrive_connection):
    ids = seed_small(fake)
    fake.update("deals", ids["deals"][5], is_archived=True)  # archived deals are still synced
    connection = pipedrive_connection()

    run = connection_sync(connection_id=connection.pk)

    assert _counts(run) == ("succeeded", 3 + 5 + 6 + 6 + 3, 0, 0, 0, 0), run.errors
    assert (Company.objects.count(), Contact.objects.count(), Deal.objects.count()) == (3, 5, 6)
    assert Activity.objects.filter(kind="note").count() == 3 and Activity.objects.count() == 9

    org = Company.objects.get(external_id=str(ids["organizations"][0]))
    assert (org.name, org.domain, org.industry, org.employee_count, org.country, org.city) == (
        "Org 0",
        "org0.example",
        "Software",
        10,
        "Germany",
        "Berlin",
    )
    assert org.properties == {"Tier": "Gold", "Founded": 1990}

    person = Contact.objects.get(external_id=str(ids["persons"][1]))
    assert (person.first_name, person.last_name, person.email, person.phone) == (
        "First1",
        "Last1",
        "person1@example.com",
        "+49 30 0001",
    )
    assert person.company.external_id == str(ids["organizations"][1])
    assert person.properties == {"Lead score": 1.5, "Newsletter": False, "Birthday": "1990-05-17"}

    won = Deal.objects.get(external_id=str(ids["deals"][1]))
    assert (won.name, won.amount, won.currency, won.status, won.pipeline, won.stage) == (
        "Deal 1",
        Decimal("200.00"),
        "EUR",
        "won",
        "Sales",
        "Proposal",
    )
    assert won.close_date == dt.date(2026, 1, 20)  # closed: the close time, not the expected date
    assert won.contact.external_id == str(ids["persons"][1])
    assert won.properties == {"Contract months": 12, "Competitors": ["Acme CRM", "Other CRM"]}
    assert Deal.objects.get(external_id=str(ids["deals"][0])).close_date == dt.date(2026, 3, 31)
    assert Deal.objects.filter(external_id=str(ids["deals"][5])).exists()

    kinds = list(Activity.objects.exclude(kind="note").order_by("external_id").values_list("kind", flat=True))
    assert kinds == ["call", "meeting", "email", "task", "task", "meeting"]  # deadline -> task, lunch -> meeting
    call = Activity.objects.get(external_id=str(ids["activities"][0]))
    assert call.occurred_at == dt.datetime(2026, 1, 10, 14, 30, tzinfo=dt.UTC)
    assert call.body == "Talked about pricing & terms 0"
    assert call.properties == {"type": "call", "done": True}
    assert call.deal.external_id == str(ids["deals"][0])
    note = Activity.objects.get(external_id=f"note:{ids['notes'][0]}")
    assert (note.kind, note.body) == ("note", "Note 0\nsecond line")

    # Every list was read sorted by update_time and paged (page size 2).
    persons_calls = fake.calls("/api/v2/persons")
    assert len(persons_calls) == 3
    assert all(call["sort_by"] == "update_time" and call["sort_direction"] == "asc" for call in persons_calls)
    assert "updated_since" not in persons_calls[0] and "cursor" in persons_calls[1]


def test_incremental_sync_reads_only_changes_and_never_repeats_the_boundary_record(fake, pipedrive_connection):
    ids = seed_small(fake)
    connection = pipedrive_connection()
    connection_sync(connection_id=connection.pk)

    quiet = connection_sync(connection_id=connection.pk)
    assert _counts(quiet) == ("succeeded", 0, 0, 0, 0, 0)  # the inclusive boundary record is skipped, not re-read
    last_person_time = fake.records["persons"][ids["persons"][-1]]["update_time"]
    assert fake.calls("/api/v2/persons")[-1]["updated_since"] == last_person_time.strftime("%Y-%m-%dT%H:%M:%SZ")

    edit_time = fake.tick()
    fake.update("persons", ids["persons"][0], first_name="Ada")
    run = connection_sync(connection_id=connection.pk)
    assert _counts(run) == ("succeeded", 0, 1, 0, 0, 0)
    assert Contact.objects.get(external_id=str(ids["persons"][0])).first_name == "Ada"

    # Another edit in the very same second as the boundary: still picked up, the boundary record is not.
    assert fake.now == edit_time
    fake.update("persons", ids["persons"][1], first_name="Grace")
    new_org = fake.add("organizations", name="Initech")
    run = connection_sync(connection_id=connection.pk)
    assert _counts(run) == ("succeeded", 1, 1, 0, 0, 0)
    assert Contact.objects.get(external_id=str(ids["persons"][1])).first_name == "Grace"
    assert Company.objects.get(external_id=str(new_org)).name == "Initech"
    assert Contact.objects.count() == 5 and Company.objects.count() == 4

    # Notes (v1, offset paging) follow the same rule.
    fake.tick()
    fake.update("notes", ids["notes"][1], content="<p>changed</p>")
    run = connection_sync(connection_id=connection.pk)
    assert _counts(run) == ("succeeded", 0, 1, 0, 0, 0)
    assert Activity.objects.get(external_id=f"note:{ids['notes'][1]}").body == "changed"


def test_deleted_records_are_soft_deleted(fake, pipedrive_connection):
    ids = seed_small(fake)
    connection = pipedrive_connection()
    connection_sync(connection_id=connection.pk)

    fake.tick()
    fake.delete("persons", ids["persons"][4])
    fake.delete("activities", ids["activities"][0])
    fake.delete("notes", ids["notes"][0])
    fake.delete("deals", ids["deals"][2])
    fake.tick()
    run = connection_sync(connection_id=connection.pk)

    assert _counts(run) == ("succeeded", 0, 0, 0, 4, 0), run.errors
    assert Contact.objects.get(external_id=str(ids["persons"][4])).deleted_at is not None
    assert Activity.objects.get(external_id=str(ids["activities"][0])).deleted_at is not None
    assert Activity.objects.get(external_id=f"note:{ids['notes'][0]}").deleted_at is not None
    assert Deal.objects.get(external_id=str(ids["deals"][2])).deleted_at is not None
    assert Contact.objects.filter(deleted_at__isnull=True).count() == 4
    assert fake.calls("/v1/recents")[-1]["items"] == "activity,note"

    again = connection_sync(connection_id=connection.pk)
    assert again.deleted == 0  # a delete seen twice is a no-op


def test_full_resync_soft_deletes_records_purged_from_pipedrive(fake, pipedrive_connection):
    ids = seed_small(fake)
    lonely = fake.add("organizations", name="Nobody links here")
    connection = pipedrive_connection()
    connection_sync(connection_id=connection.pk)

    # Gone for good (deleted more than 30 days ago): in no list and not in recents.
    del fake.records["organizations"][lonely]
    del fake.records["notes"][ids["notes"][2]]
    run = connection_sync(connection_id=connection.pk, full=True)

    assert (run.status, run.created, run.deleted) == ("succeeded", 0, 2)
    assert Company.objects.get(external_id=str(lonely)).deleted_at is not None
    assert Activity.objects.get(external_id=f"note:{ids['notes'][2]}").deleted_at is not None
    assert Company.objects.filter(deleted_at__isnull=True).count() == 3
    assert Contact.objects.filter(deleted_at__isnull=True).count() == 5


def test_crash_mid_run_resumes_without_loss_or_duplicates(fake, pipedrive_connection):
    ids = seed_small(fake)
    connection = pipedrive_connection()
    fake.fail("/api/v2/persons", on_call=2, status=400)  # the second page of persons breaks the run
    fake.fail("/v1/notes", on_call=2, status=400)

    crashed = connection_sync(connection_id=connection.pk)
    assert crashed.status == "failed" and "HTTP 400" in crashed.error_summary
    assert Company.objects.count() == 3 and Contact.objects.count() == 2  # committed pages are kept
    saved = CRMConnection.objects.get(pk=connection.pk).cursor["contacts"]["streams"]["persons"]
    assert saved["ids"] == [str(ids["persons"][1])]

    fake.tick()
    fake.update("persons", ids["persons"][0], last_name="Lovelace")  # edited while we were down
    resumed = connection_sync(connection_id=connection.pk)
    assert resumed.status == "failed"  # the notes failure, further on
    assert Contact.objects.count() == 5 and Deal.objects.count() == 6

    finished = connection_sync(connection_id=connection.pk)
    assert finished.status == "succeeded", finished.error_summary
    assert Activity.objects.filter(kind="note").count() == 3 and Activity.objects.count() == 9
    assert Contact.objects.get(external_id=str(ids["persons"][0])).last_name == "Lovelace"
    total_created = sum(run.created for run in SyncRun.objects.filter(connection=connection))
    assert total_created == 3 + 5 + 6 + 6 + 3  # every record created exactly once across the runs
    assert connection_sync(connection_id=connection.pk).created == 0


def test_rate_limited_calls_wait_for_the_reset_and_retry(fake, fake_time, pipedrive_connection):
    fake.seed(organizations=3)
    connection = pipedrive_connection()
    fake.throttle(2, reset=7)

    run = connection_sync(connection_id=connection.pk)

    assert _counts(run) == ("succeeded", 3, 0, 0, 0, 0)
    assert fake_time.sleeps[:2] == [7.0, 7.0]  # x-ratelimit-reset honoured
    first_page_calls = fake.calls("/api/v2/organizations")[:3]
    assert first_page_calls[0] == first_page_calls[1] == first_page_calls[2]  # two 429s, then the answer
    assert len(fake.calls("/api/v2/organizations")) == 4


def test_a_value_of_the_wrong_type_rejects_only_its_record(fake, pipedrive_connection):
    ids = fake.seed(organizations=1, persons=3)
    fake.update("persons", ids["persons"][1], custom_fields={PERSON_SCORE: "very high"})
    fake.update("organizations", ids["organizations"][0], custom_fields={ORG_FOUNDED: 1990})
    connection = pipedrive_connection()

    run = connection_sync(connection_id=connection.pk)

    assert _counts(run) == ("partial", 3, 0, 0, 0, 1)
    error = run.errors[0]
    assert (error["object"], error["external_id"], error["column"]) == (
        "contacts",
        str(ids["persons"][1]),
        "Lead score",
    )
    assert "'very high' is not a number" in error["reason"]
    assert Contact.objects.count() == 2

    fake.tick()
    fake.update("persons", ids["persons"][1], custom_fields={PERSON_SCORE: 9})
    fixed = connection_sync(connection_id=connection.pk)
    assert _counts(fixed) == ("succeeded", 1, 0, 0, 0, 0)
    assert Contact.objects.get(external_id=str(ids["persons"][1])).properties["Lead score"] == 9


def test_set_field_with_a_scalar_is_a_row_error(fake, pipedrive_connection):
    ids = fake.seed(organizations=1, persons=1, deals=2)
    fake.update("deals", ids["deals"][0], custom_fields={DEAL_COMPETITORS: 3.5})
    run = connection_sync(connection_id=pipedrive_connection().pk)
    assert (run.status, run.failed, Deal.objects.count()) == ("partial", 1, 1)
    assert run.errors[0]["column"] == "Competitors"


def test_oauth_connection_syncs_with_a_refreshed_access_token(fake, pipedrive_connection):
    fake.seed(organizations=3, persons=2)
    credentials = {
        "client_id": fake.client_id,
        "client_secret": fake.client_secret,
        "refresh_token": fake.refresh_token,
    }
    connection = pipedrive_connection(credentials=credentials, oauth_token_url=fake.token_url)

    run = connection_sync(connection_id=connection.pk)

    assert _counts(run) == ("succeeded", 5, 0, 0, 0, 0)
    assert fake.oauth_refreshes == 1
    assert all(query == {} for method, path, query in fake.requests if method == "POST")


def test_a_wrong_token_fails_the_run_without_leaking_it(fake, pipedrive_connection):
    connection = pipedrive_connection(credentials={"token": "wrong-secret-token"})
    run = connection_sync(connection_id=connection.pk)
    assert run.status == "failed" and "401" in run.error_summary
    assert "wrong-secret-token" not in run.error_summary


def test_calls_are_charged_their_token_cost_against_the_daily_budget(fake, pipedrive_connection):
    fake.seed(organizations=5)
    # organizationFields (10) + three pages of organizations (10 each) fit in 40; recents would not.
    connection = pipedrive_connection(daily_token_budget=40, page_size=2)
    run = connection_sync(connection_id=connection.pk)
    assert run.status == "failed" and "budget" in run.error_summary
    assert Company.objects.count() == 5
    assert fake.tokens_spent == 40
