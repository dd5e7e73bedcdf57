from datetime import timedelta

import pytest
from django.db import connection as db_connection
from django.utils import timezone

from crm_connectors.models import CRMConnection, SyncRun
from crm_connectors.services import connection_create
from crm_connectors.signals import records_changed
from crm_connectors.sync import connection_sync
from salesai.core.models import Activity, Company, Contact
from tests.crm_connectors.conftest import basic_mapping, write_csv
from tests.crm_connectors.registered_fakes import PagedTestConnector
from tests.factories import OrganizationFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def paged_connection(db, monkeypatch):
    monkeypatch.setattr(PagedTestConnector, "fail_before_page", None)
    return connection_create(organization=OrganizationFactory(), kind="test-paged", name="paged", config={"pages": 4})


def test_csv_sync_counts_and_idempotent_reimport(csv_connection, write_companies, write_contacts):
    write_companies([["C1", "Acme", "10", "gold"], ["C2", "Globex", "20", "silver"]])
    write_contacts([["P1", "C1", "Ada", "ada@x.test", "lead", ""], ["P2", "C2", "Bob", "", "", ""]])
    connection = csv_connection()

    first = connection_sync(connection_id=connection.pk)
    assert (first.status, first.created, first.updated, first.unchanged, first.failed) == ("succeeded", 4, 0, 0, 0)
    assert first.started_at and first.finished_at and first.mode == "incremental"
    assert Contact.objects.get(external_id="P1").company.name == "Acme"
    assert Company.objects.get(external_id="C1").properties == {"Tier": "gold"}

    second = connection_sync(connection_id=connection.pk)  # files unchanged: skipped, counted unchanged
    assert (second.status, second.created, second.updated, second.unchanged) == ("succeeded", 0, 0, 4)
    full = connection_sync(connection_id=connection.pk, full=True)  # re-parsed, nothing rewritten
    assert (full.mode, full.created, full.updated, full.unchanged) == ("full", 0, 0, 4)
    assert Contact.objects.count() == 2 and Company.objects.count() == 2

    write_contacts([["P1", "C1", "Ada", "ada@new.test", "customer", ""], ["P2", "C2", "Bob", "", "", ""]])
    third = connection_sync(connection_id=connection.pk)
    assert (third.created, third.updated, third.unchanged) == (0, 1, 3)
    assert CRMConnection.objects.get(pk=connection.pk).last_synced_at == third.finished_at


def test_rows_missing_from_the_file_are_soft_deleted_and_come_back(csv_connection, write_companies, write_contacts):
    write_companies([["C1", "Acme", "", ""], ["C2", "Globex", "", ""]])
    write_contacts([["P1", "C1", "Ada", "", "", ""], ["P2", "", "Bob", "", "", ""]])
    connection = csv_connection()
    connection_sync(connection_id=connection.pk)

    write_contacts([["P1", "C1", "Ada", "", "", ""]])
    run = connection_sync(connection_id=connection.pk)
    assert run.deleted == 1
    assert Contact.objects.get(external_id="P2").deleted_at is not None

    write_contacts([["P1", "C1", "Ada", "", "", ""], ["P2", "", "Bob", "", "", ""]])
    run = connection_sync(connection_id=connection.pk)
    assert (run.updated, run.deleted) == (1, 0)
    assert Contact.objects.get(external_id="P2").deleted_at is None


def test_bad_rows_make_the_run_partial_and_good_rows_import(csv_connection, write_companies, write_contacts):
    write_companies([["C1", "Acme", "many", ""], ["C2", "Globex", "3", ""]])
    write_contacts([["P1", "C2", "Ada", "ada@x.test", "", "yesterday"], ["P2", "C1", "Bob", "", "", ""]])
    connection = csv_connection()
    run = connection_sync(connection_id=connection.pk)

    assert run.status == SyncRun.Status.PARTIAL and run.failed == 3 and run.created == 1
    assert [(e["object"], e["line"], e["column"]) for e in run.errors] == [
        ("companies", 2, "Employees"),
        ("contacts", 2, "Created"),
        ("contacts", 3, "Company ID"),  # C1 was rejected, so P2's company is unknown
    ]
    assert "unknown company 'C1'" in run.errors[2]["reason"]
    assert "3 record(s) rejected" in run.error_summary


def test_missing_required_column_fails_one_type_and_others_import(csv_connection, csv_root, write_companies):
    write_companies([["C1", "Acme", "", ""]])
    write_csv(csv_root / "contacts.csv", ["Contact ID", "Name"], [["P1", "Ada"]])
    run = connection_sync(connection_id=csv_connection().pk)
    assert run.status == SyncRun.Status.PARTIAL and run.created == 1
    (error,) = run.errors
    assert error["object"] == "contacts" and "missing column(s)" in error["reason"]


def test_connection_level_error_fails_the_run(csv_connection, write_companies, settings, tmp_path_factory):
    write_companies([["C1", "Acme", "", ""]])
    connection = csv_connection()
    settings.CSV_IMPORT_ROOTS = [str(tmp_path_factory.mktemp("elsewhere"))]
    run = connection_sync(connection_id=connection.pk)
    assert run.status == SyncRun.Status.FAILED and "outside the folders" in run.error_summary
    assert Company.objects.count() == 0


def test_crash_mid_sync_keeps_committed_pages_and_rerun_imports_the_rest(paged_connection, monkeypatch):
    monkeypatch.setattr(PagedTestConnector, "fail_before_page", 2)
    failed = connection_sync(connection_id=paged_connection.pk)
    assert failed.status == SyncRun.Status.FAILED and "connection dropped" in failed.error_summary
    assert failed.created == 4 and Company.objects.count() == 4
    assert CRMConnection.objects.get(pk=paged_connection.pk).cursor == {"companies": {"page": 1}}

    monkeypatch.setattr(PagedTestConnector, "fail_before_page", None)
    rerun = connection_sync(connection_id=paged_connection.pk)
    assert (rerun.status, rerun.created, rerun.updated, rerun.unchanged) == ("succeeded", 4, 0, 0)
    assert Company.objects.count() == 8
    assert Company.objects.values("external_id").distinct().count() == 8
    assert rerun.cursor_before == {"companies": {"page": 1}} and rerun.cursor_after == {"companies": {"page": 3}}


def _heartbeat_age(run: SyncRun, seconds: float) -> None:
    """As if the run's worker had been silent for `seconds` (killed: no page, no wait reported since)."""
    SyncRun.objects.filter(pk=run.pk).update(heartbeat_at=timezone.now() - timedelta(seconds=seconds))


def test_killed_worker_run_resumes_under_the_same_sync_run(paged_connection, monkeypatch, settings):
    settings.SYNC_RUN_HEARTBEAT_STALE_SECONDS = 300
    run = SyncRun.objects.create(connection=paged_connection, mode=SyncRun.Mode.FULL)
    monkeypatch.setattr(PagedTestConnector, "fail_before_page", 3)
    monkeypatch.setattr(PagedTestConnector, "failure", SystemExit)  # not caught: like a killed process
    with pytest.raises(SystemExit):
        connection_sync(connection_id=paged_connection.pk, sync_run_id=run.pk)
    run.refresh_from_db()
    assert run.status == SyncRun.Status.RUNNING and run.created == 6 and run.heartbeat_at is not None

    monkeypatch.setattr(PagedTestConnector, "fail_before_page", None)
    # A copy of the task while the run still heartbeats (a broker redelivery while its worker works on) must
    # not run it a second time beside the first.
    again = connection_sync(connection_id=paged_connection.pk, sync_run_id=run.pk)
    assert again.status == SyncRun.Status.RUNNING and Company.objects.count() == 6

    _heartbeat_age(run, 301)
    resumed = connection_sync(connection_id=paged_connection.pk, sync_run_id=run.pk)  # the redelivered task
    assert resumed.pk == run.pk and resumed.status == SyncRun.Status.SUCCEEDED
    assert (resumed.created, resumed.updated, resumed.unchanged) == (8, 0, 0)
    assert Company.objects.count() == 8

    again = connection_sync(connection_id=paged_connection.pk, sync_run_id=run.pk)  # finished: untouched
    assert again.finished_at == resumed.finished_at and Company.objects.count() == 8


def test_a_run_heartbeats_with_every_committed_page(paged_connection, monkeypatch, settings):
    beats = []
    original = SyncRun.save

    def save(self, *args, **kwargs):
        if "heartbeat_at" in (kwargs.get("update_fields") or ()):
            beats.append(self.heartbeat_at)
        return original(self, *args, **kwargs)

    monkeypatch.setattr(PagedTestConnector, "fail_before_page", None)
    monkeypatch.setattr(SyncRun, "save", save)
    settings.SYNC_BATCH_RECORDS = 1  # one page per commit
    run = connection_sync(connection_id=paged_connection.pk)
    assert run.status == SyncRun.Status.SUCCEEDED
    assert len(beats) == 1 + 4 and beats == sorted(beats)  # the claim, then each of the 4 pages


def test_full_sync_ignores_saved_cursors(paged_connection):
    connection_sync(connection_id=paged_connection.pk)
    assert connection_sync(connection_id=paged_connection.pk).unchanged == 0  # nothing after page 3
    full = connection_sync(connection_id=paged_connection.pk, full=True)
    assert (full.created, full.unchanged) == (0, 8)


def test_a_second_concurrent_run_is_refused_and_a_stale_one_resumed_by_the_next_request(
    paged_connection, monkeypatch, settings
):
    settings.SYNC_RUN_HEARTBEAT_STALE_SECONDS = 300
    # A run whose worker was killed after its first page: running, its page and cursor committed.
    monkeypatch.setattr(PagedTestConnector, "fail_before_page", 1)
    monkeypatch.setattr(PagedTestConnector, "failure", SystemExit)
    with pytest.raises(SystemExit):
        connection_sync(connection_id=paged_connection.pk)
    running = SyncRun.objects.get()
    assert running.status == SyncRun.Status.RUNNING and Company.objects.count() == 2
    monkeypatch.setattr(PagedTestConnector, "fail_before_page", None)

    refused = connection_sync(connection_id=paged_connection.pk)  # its heartbeat is fresh: it may be alive
    assert refused.status == SyncRun.Status.FAILED and f"sync run {running.pk}" in refused.error_summary
    assert Company.objects.count() == 2

    _heartbeat_age(running, 301)  # silent for longer than the setting: dead. The next request resumes it.
    run = connection_sync(connection_id=paged_connection.pk)
    assert run.pk == running.pk and run.status == SyncRun.Status.SUCCEEDED
    assert (run.created, run.updated, run.unchanged) == (8, 0, 0)  # the first page counted once, none lost
    assert Company.objects.count() == 8
    assert run.cursor_before == {} and run.cursor_after == {"companies": {"page": 3}}


def test_records_changed_signal_carries_changed_contact_ids(
    csv_connection, csv_root, write_companies, write_contacts, django_capture_on_commit_callbacks
):
    received = []

    def receiver(sender, **kwargs):
        received.append(kwargs)

    records_changed.connect(receiver)
    try:
        write_companies([["C1", "Acme", "", ""]])
        write_contacts([["P1", "C1", "Ada", "", "", ""], ["P2", "C1", "Bob", "", "", ""]])
        mapping = basic_mapping(
            activities={
                "file": "activities.csv",
                "columns": {"external_id": "ID", "contact_external_id": "Who", "kind": "Type", "occurred_at": "When"},
            }
        )
        write_csv(csv_root / "activities.csv", ["ID", "Who", "Type", "When"], [])
        connection = csv_connection(mapping)
        with django_capture_on_commit_callbacks(execute=True):
            run = connection_sync(connection_id=connection.pk)
        ids = dict(Contact.objects.values_list("external_id", "id"))
        (event,) = received
        assert event["contact_ids"] == sorted(ids.values())
        assert event["company_ids"] == [Company.objects.get().pk]
        assert (event["organization_id"], event["connection_id"], event["sync_run_id"]) == (
            connection.organization_id,
            connection.pk,
            run.pk,
        )

        with django_capture_on_commit_callbacks(execute=True):
            connection_sync(connection_id=connection.pk)
        assert len(received) == 1, "nothing changed: no signal"

        write_csv(csv_root / "activities.csv", ["ID", "Who", "Type", "When"], [["A1", "P2", "Call", "2024-03-01"]])
        with django_capture_on_commit_callbacks(execute=True):
            connection_sync(connection_id=connection.pk)
        assert received[-1]["contact_ids"] == [ids["P2"]], "a new activity changes what we know of its contact"
        assert Activity.objects.get().kind == "call"
    finally:
        records_changed.disconnect(receiver)


def test_a_failing_records_changed_receiver_does_not_fail_the_sync(
    csv_connection, write_companies, django_capture_on_commit_callbacks
):
    def broken(sender, **kwargs):
        raise RuntimeError("listener bug")

    records_changed.connect(broken)
    try:
        write_companies([["C1", "Acme", "", ""]])
        connection = csv_connection({"objects": {"companies": basic_mapping()["objects"]["companies"]}})
        with django_capture_on_commit_callbacks(execute=True):
            run = connection_sync(connection_id=connection.pk)
        assert run.status == SyncRun.Status.SUCCEEDED and run.created == 1
    finally:
        records_changed.disconnect(broken)


def test_rotated_credentials_are_saved_even_when_the_run_fails():
    connection = connection_create(
        organization=OrganizationFactory(),
        kind="test-rotating",
        name="oauth",
        credentials={"client_id": "id", "refresh_token": "old-refresh"},
    )
    run = connection_sync(connection_id=connection.pk)
    assert run.status == SyncRun.Status.FAILED
    connection.refresh_from_db()
    assert connection.credentials == {
        "client_id": "id",
        "access_token": "new-access",
        "refresh_token": "rotated-refresh",
    }
    with db_connection.cursor() as cursor:  # the column itself holds ciphertext only
        cursor.execute("SELECT credentials FROM crm_connectors_crmconnection WHERE id = %s", [connection.pk])
        (raw,) = cursor.fetchone()
    assert "rotated-refresh" not in raw and "old-refresh" not in raw
