"""Pipedrive v1.0 webhook payloads (`current`/`previous`/`meta` with `action`/`object`), beside v2.0 ones."""

import pytest

from crm_connectors.models import WebhookEvent
from crm_connectors.pipedrive.webhook import event_plan
from crm_connectors.sync import connection_sync
from crm_connectors.webhook_processing import webhook_event_process
from salesai.core.models import Activity, Contact, Deal
from tests.crm_connectors.pipedrive.fake_server import PERSON_SCORE
from tests.crm_connectors.webhooks.test_pipedrive_webhooks import (  # noqa: F401 (fixtures shared with the v2 tests)
    USER,
    connection,
    fake,
    person_event,
    post,
)

pytestmark = pytest.mark.django_db


def v1_record(fake, entity: str, record_id: int) -> dict:
    """A record the way API v1 (and so a v1 webhook) shows it: custom fields at the top level, `email` and
    `phone` lists, `org_id` as an object, times as "YYYY-MM-DD HH:MM:SS"."""
    row = fake._v1_shape(fake.records[entity][record_id])
    custom = row.pop("custom_fields", {}) or {}
    if entity == "persons":
        row["email"], row["phone"] = row.pop("emails", []), row.pop("phones", [])
        if row.get("org_id"):
            row["org_id"] = {"value": row["org_id"], "name": "Org", "active_flag": True}
    return {**row, **custom}


def v1_event(obj: str, action: str, record_id: int, *, current=None, previous=None, stamp=1767225600, **meta) -> dict:
    return {
        "v": 1,
        "matches_filters": {"current": [], "previous": []},
        "meta": {
            "v": 1,
            "action": action,
            "object": obj,
            "id": record_id,
            "company_id": 77,
            "user_id": 5,
            "host": "acme.pipedrive.com",
            "timestamp": stamp,
            "timestamp_micro": stamp * 1_000_000,
            "permitted_user_ids": [5],
            "is_bulk_update": False,
            "webhook_id": "12",
            "change_source": "app",
            **meta,
        },
        "current": current,
        "previous": previous,
        "retry": 0,
        "event": f"{action}.{obj}",
    }


def test_v1_delivery_is_stored_and_its_redeliveries_are_not(client, fake, connection):
    person_id = min(fake.records["persons"])
    current = v1_record(fake, "persons", person_id)
    payload = v1_event("person", "updated", person_id, current=current, previous={**current, "name": "Old"})
    assert post(client, connection, payload).status_code == 200
    # Pipedrive's retries count up in `retry` / `meta.attempt_no`: the same event all the same.
    redelivery = {**payload, "retry": 1, "meta": {**payload["meta"], "attempt_no": 2, "next_attempt_ts": 1767225900}}
    assert post(client, connection, redelivery).status_code == 200
    event = WebhookEvent.objects.get(connection=connection)
    assert event.event_id.startswith(f"v1:updated.person:{person_id}:{1767225600 * 1_000_000}:")
    assert event.payload == payload and event.status == "received"


def test_two_changes_in_one_tick_are_two_events(client, fake, connection):
    person_id = min(fake.records["persons"])
    first = v1_record(fake, "persons", person_id)
    second = {**first, "name": "Renamed again"}
    assert post(client, connection, v1_event("person", "updated", person_id, current=first)).status_code == 200
    assert post(client, connection, v1_event("person", "updated", person_id, current=second)).status_code == 200
    assert WebhookEvent.objects.filter(connection=connection).count() == 2


def test_v1_and_v2_deliveries_share_the_endpoint(client, fake, connection):
    person_id = min(fake.records["persons"])
    v1 = v1_event("person", "updated", person_id, current=v1_record(fake, "persons", person_id))
    assert post(client, connection, v1).status_code == 200
    assert post(client, connection, person_event(fake, person_id, event_id="v2-event")).status_code == 200
    ids = sorted(WebhookEvent.objects.values_list("event_id", flat=True))
    assert len(ids) == 2 and ids[0].startswith("v1:updated.person:") and ids[1] == "v2-event"


@pytest.mark.parametrize(("user", "password"), [(USER, "wrong"), ("", "")])
def test_v1_with_bad_basic_auth_is_401(client, fake, connection, user, password):
    person_id = min(fake.records["persons"])
    payload = v1_event("person", "updated", person_id, current=v1_record(fake, "persons", person_id))
    assert post(client, connection, payload, user=user, password=password).status_code == 401
    assert not WebhookEvent.objects.exists()


@pytest.mark.parametrize(
    ("mutate", "code"),
    [
        (lambda p: p["meta"].update(action="changed"), "bad_action"),
        (lambda p: p["meta"].update(action="change"), "bad_action"),  # v2's verb in a v1 payload
        (lambda p: p["meta"].pop("object"), "missing_entity"),
        (lambda p: (p["meta"].pop("id"), p.update(current={"name": "no id"})), "missing_entity_id"),
        (lambda p: p.update(current=None), "missing_data"),
        (lambda p: p["meta"].update(v=3, version="3.0"), "unsupported_version"),
    ],
)
def test_malformed_v1_payload_is_400(client, fake, connection, mutate, code):
    person_id = min(fake.records["persons"])
    payload = v1_event("person", "updated", person_id, current=v1_record(fake, "persons", person_id))
    if code == "unsupported_version":  # a payload that says neither v1 nor v2
        payload["meta"].pop("object")
        payload["meta"]["entity"] = "person"
        payload.pop("v")
    mutate(payload)
    response = post(client, connection, payload)
    assert (response.status_code, response.json()["error"]["code"]) == (400, code)
    assert not WebhookEvent.objects.exists()


def test_updated_person_is_re_read_through_api_v2_and_rescored(
    fake, connection, rescore_calls, django_capture_on_commit_callbacks
):
    connection_sync(connection_id=connection.pk)
    person_id = sorted(fake.records["persons"])[1]
    previous = v1_record(fake, "persons", person_id)
    fake.update("persons", person_id, first_name="Webhooked", name="Webhooked Person")
    payload = v1_event("person", "updated", person_id, current=v1_record(fake, "persons", person_id), previous=previous)
    fake.requests.clear()
    event = WebhookEvent.objects.create(connection=connection, event_id="v1:e", payload=payload)
    with django_capture_on_commit_callbacks(execute=True):
        event = webhook_event_process(event_id=event.pk)
    assert (event.status, event.error) == ("processed", "")
    contact = Contact.objects.get(connection=connection, external_id=str(person_id))
    assert contact.first_name == "Webhooked"
    assert contact.email == f"person{sorted(fake.records['persons']).index(person_id)}@example.com"
    assert [call["ids"] for call in fake.calls("/api/v2/persons")] == [str(person_id)]
    assert rescore_calls == [{"organization_id": connection.organization_id, "contact_ids": [contact.pk]}]


def test_deleted_person_is_soft_deleted(fake, connection):
    connection_sync(connection_id=connection.pk)
    person_id = sorted(fake.records["persons"])[2]
    payload = v1_event("person", "deleted", person_id, previous=v1_record(fake, "persons", person_id))
    event = WebhookEvent.objects.create(connection=connection, event_id="v1:d", payload=payload)
    assert webhook_event_process(event_id=event.pk).status == "processed"
    assert Contact.objects.get(connection=connection, external_id=str(person_id)).deleted_at is not None


def test_merge_keeps_the_survivor_and_soft_deletes_the_merged_record(fake, connection):
    connection_sync(connection_id=connection.pk)
    survivor, merged = sorted(fake.records["persons"])[:2]
    merged_before = v1_record(fake, "persons", merged)
    fake.delete("persons", merged)
    fake.update("persons", survivor, first_name="Merged")
    current = {**v1_record(fake, "persons", survivor), "merge_what_id": merged}
    payload = v1_event("person", "merged", merged, current=current, previous=merged_before)
    assert event_plan(payload=payload, config={}).deleted_ids == [str(merged)]
    event = WebhookEvent.objects.create(connection=connection, event_id="v1:m", payload=payload)
    assert webhook_event_process(event_id=event.pk).status == "processed"
    kept = Contact.objects.get(connection=connection, external_id=str(survivor))
    assert kept.deleted_at is None and kept.first_name == "Merged"
    assert Contact.objects.get(connection=connection, external_id=str(merged)).deleted_at is not None


def test_a_change_to_a_record_gone_since_is_a_delete(fake, connection):
    """Events are hints: the re-read is the truth, and a record the lists no longer return was deleted."""
    connection_sync(connection_id=connection.pk)
    person_id = sorted(fake.records["persons"])[0]
    payload = v1_event("person", "updated", person_id, current=v1_record(fake, "persons", person_id))
    fake.delete("persons", person_id)
    event = WebhookEvent.objects.create(connection=connection, event_id="v1:g", payload=payload)
    assert webhook_event_process(event_id=event.pk).status == "processed"
    assert Contact.objects.get(connection=connection, external_id=str(person_id)).deleted_at is not None


def test_archived_deals_are_found_by_the_re_read(fake, connection):
    deal_id = fake.add("deals", title="Archived deal", value=10, currency="EUR", is_archived=True, status="won")
    payload = v1_event("deal", "added", deal_id, current={"id": deal_id, "title": "Archived deal"})
    event = WebhookEvent.objects.create(connection=connection, event_id="v1:a", payload=payload)
    processed = webhook_event_process(event_id=event.pk)
    assert (processed.status, processed.error) == ("processed", "")
    assert Deal.objects.get(connection=connection, external_id=str(deal_id)).deleted_at is None
    assert [call["ids"] for call in fake.calls("/api/v2/deals/archived")] == [str(deal_id)]


def test_score_only_change_is_neither_re_read_nor_rescored(
    fake, connection, rescore_calls, django_capture_on_commit_callbacks
):
    connection_sync(connection_id=connection.pk)
    person_id = min(fake.records["persons"])
    current = v1_record(fake, "persons", person_id)
    previous = {**current, PERSON_SCORE: 12.0, "update_time": "2025-12-31 23:00:00"}
    event = WebhookEvent.objects.create(
        connection=connection,
        event_id="v1:s",
        payload=v1_event("person", "updated", person_id, current=current, previous=previous),
    )
    fake.requests.clear()
    with django_capture_on_commit_callbacks(execute=True):
        assert webhook_event_process(event_id=event.pk).status == "processed"
    assert rescore_calls == [] and fake.requests == []
    both = {**previous, "name": "Someone else"}
    plan = event_plan(
        payload=v1_event("person", "updated", person_id, current=current, previous=both),
        config={"score_property": PERSON_SCORE},
    )
    assert not plan.score_only and plan.refetch_ids == [str(person_id)]


def test_notes_are_mapped_from_the_payload_and_deleted_with_their_prefix(fake, connection):
    note = {
        "id": 9001,
        "content": "<p>Called them</p>",
        "person_id": None,
        "org_id": None,
        "deal_id": None,
        "add_time": "2026-01-01 10:00:00",
        "update_time": "2026-01-01 10:00:00",
        "active_flag": True,
    }
    added = WebhookEvent.objects.create(
        connection=connection, event_id="v1:n1", payload=v1_event("note", "added", 9001, current=note)
    )
    fake.requests.clear()
    assert webhook_event_process(event_id=added.pk).status == "processed"
    assert fake.requests == []  # the payload is the record: nothing to re-read
    activity = Activity.objects.get(connection=connection, external_id="note:9001")
    assert "Called them" in activity.body
    deleted = WebhookEvent.objects.create(
        connection=connection, event_id="v1:n2", payload=v1_event("note", "deleted", 9001, previous=note)
    )
    assert webhook_event_process(event_id=deleted.pk).status == "processed"
    assert Activity.objects.get(pk=activity.pk).deleted_at is not None


@pytest.mark.parametrize("obj", ["stage", "pipeline", "activityType", "user", "product"])
def test_objects_we_do_not_sync_are_no_ops(obj):
    plan = event_plan(payload=v1_event(obj, "updated", 3, current={"id": 3}), config={})
    assert plan.object_type is None
