"""HubSpot's 10,000-result search cap (CONTRACT.md 3 and 8.3): 25,000 changed contacts, each read exactly once."""

from collections import Counter

import pytest

from crm_connectors.hubspot.connector import HubSpotConnector
from crm_connectors.models import CRMConnection, SyncRun
from crm_connectors.sync import connection_sync
from salesai.core.models import Contact
from tests.crm_connectors.hubspot.fake_server import SEARCH_CAP, FakeHubSpot

pytestmark = pytest.mark.django_db

UNCHANGED = 1_000  # contacts 0..999 keep their old last-modified time: the search must leave them out
SAME_INSTANT = 15_000  # one bulk edit: more records share one timestamp than one query can page through
LATER = 10_000


@pytest.fixture
def yielded(monkeypatch):
    """Every record id the connector hands the engine, in order (a repeat would be a double read)."""
    seen: list[str] = []
    original = HubSpotConnector.iter_changes

    def spy(self, **kwargs):
        for page in original(self, **kwargs):
            seen.extend(str(record["external_id"]) for record in page.records)
            yield page

    monkeypatch.setattr(HubSpotConnector, "iter_changes", spy)
    return seen


@pytest.mark.slow  # ~25 s on two shared cores, most of it inserting 25,000 contacts into SQLite
def test_25000_changes_past_the_search_cap_are_read_exactly_once(hub_connection, sleeps, yielded):
    total = UNCHANGED + SAME_INSTANT + LATER
    with FakeHubSpot(contacts=total) as fake:
        connection = hub_connection(fake)
        since = fake.now_ms() - 60_000
        # Pretend a full sync finished before the edits (and after the records' original times).
        connection.cursor = {
            "contacts": {"contacts": {"mode": "incremental", "since": since, "archived": {"checked_at": since}}}
        }
        connection.save(update_fields=["cursor"])
        fake.modify_many("contacts", range(UNCHANGED, UNCHANGED + SAME_INSTANT), at_ms=since + 1)
        fake.modify_many("contacts", range(UNCHANGED + SAME_INSTANT, total), at_ms=since + 2, jobtitle="Edited")

        run = connection_sync(connection_id=connection.pk)

        assert run.status == SyncRun.Status.SUCCEEDED, run.error_summary
        changed = {fake.record_id("contacts", i) for i in range(UNCHANGED, total)}
        counts = Counter(yielded)
        assert set(counts) == changed and max(counts.values()) == 1  # all 25,000, none twice, nothing else
        assert (run.created, run.updated, run.unchanged, run.failed) == (25_000, 0, 0, 0)
        assert Contact.objects.filter(connection=connection, deleted_at__isnull=True).count() == 25_000
        assert Contact.objects.filter(connection=connection, job_title="Edited").count() == LATER

        searches = [r for r in fake.requests if r.path == "/crm/v3/objects/contacts/search"]
        # Never asked past the cap (the fake answers 400 there, as HubSpot does), and every query's first
        # page reported more matches than one query may page through until the last segment.
        assert all(int(r.body.get("after") or 0) + r.body["limit"] <= SEARCH_CAP for r in searches)
        segments = [r.body["filterGroups"][0]["filters"][1]["value"] for r in searches if not r.body.get("after")]
        assert len(segments) == 3  # 25,000 / 10,000 per query, restarted after the last id read
        assert segments[0] == "0" and int(segments[1]) < int(segments[2])

        # The next run starts after this one: only the lookback re-reads, no new segment walk.
        cursor = CRMConnection.objects.get(pk=connection.pk).cursor["contacts"]["contacts"]
        assert cursor["mode"] == "incremental" and "window" not in cursor and cursor["since"] > since
