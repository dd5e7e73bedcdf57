"""Pipedrive v2 webhooks: HTTP basic auth, one event per request (deduplicated on meta.id), full records."""

import base64
import json
import uuid

import pytest

from crm_connectors.models import WebhookEvent
from crm_connectors.pipedrive.webhook import event_plan
from crm_connectors.services import connection_create
from crm_connectors.sync import connection_sync
from crm_connectors.webhook_processing import webhook_event_process
from salesai.core.models import Contact
from tests.crm_connectors.pipedrive.fake_server import PERSON_SCORE, FakePipedrive
from tests.factories import OrganizationFactory

pytestmark = pytest.mark.django_db

USER, PASSWORD = "hook-user", "s3cret-pass"


@pytest.fixture
def fake():
    with FakePipedrive(api_token=f"pd-{uuid.uuid4().hex}") as server:
        server.seed(organizations=1, persons=3)
        yield server


@pytest.fixture
def connection(fake):
    return connection_create(
        organization=OrganizationFactory(),
        kind="pipedrive",
        name="pipedrive",
        config={
            "base_url": fake.url,
            "token_rate_per_second": 1_000_000,
            "token_burst": 1_000_000,
            "score_property": PERSON_SCORE,
        },
        credentials={"token": fake.api_token, "webhook_user": USER, "webhook_password": PASSWORD},
    )


def person_event(
    fake: FakePipedrive,
    person_id: int,
    *,
    action: str = "change",
    previous: dict | None = None,
    event_id: str | None = None,
) -> dict:
    data = None if action == "delete" else fake._v2_shape(fake.records["persons"][person_id])
    return {
        "data": data,
        "previous": previous if previous is not None else ({"name": "Old name"} if action == "change" else None),
        "meta": {
            "id": event_id or str(uuid.uuid4()),
            "action": action,
            "entity": "person",
            "entity_id": str(person_id),
            "version": "2.0",
            "timestamp": "2026-01-01T00:00:00Z",
            "change_source": "app",
        },
    }


def post(client, connection, payload, *, user: str = USER, password: str = PASSWORD, auth: bool = True):
    headers = {}
    if auth:
        headers["HTTP_AUTHORIZATION"] = "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()
    body = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
    return client.post(f"/webhooks/pipedrive/{connection.pk}/", data=body, content_type="application/json", **headers)


def test_good_basic_auth_is_stored(client, fake, connection):
    person_id = next(iter(fake.records["persons"]))
    payload = person_event(fake, person_id, event_id="evt-1")
    response = post(client, connection, payload)
    assert response.status_code == 200
    event = WebhookEvent.objects.get(connection=connection)
    assert (event.event_id, event.payload, event.status) == ("evt-1", payload, "received")
    assert "authorization" not in event.headers


@pytest.mark.parametrize(
    ("user", "password", "auth"), [(USER, "wrong", True), ("other", PASSWORD, True), (USER, PASSWORD, False)]
)
def test_bad_or_missing_basic_auth_is_401_and_nothing_stored(client, fake, connection, user, password, auth):
    payload = person_event(fake, next(iter(fake.records["persons"])))
    response = post(client, connection, payload, user=user, password=password, auth=auth)
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "unauthorized"
    assert not WebhookEvent.objects.exists()


def test_connection_without_webhook_credentials_is_403(client, fake, db):
    connection = connection_create(
        organization=OrganizationFactory(),
        kind="pipedrive",
        name="p",
        config={"base_url": fake.url},
        credentials={"token": fake.api_token},
    )
    assert post(client, connection, person_event(fake, next(iter(fake.records["persons"])))).status_code == 403
    assert not WebhookEvent.objects.exists()


@pytest.mark.parametrize(
    ("mutate", "code"),
    [
        (lambda p: p.pop("meta"), "missing_meta"),
        (lambda p: p["meta"].update(action="merged"), "bad_action"),
        (lambda p: p["meta"].pop("id"), "missing_event_id"),
        (lambda p: p["meta"].update(version="3.0"), "unsupported_version"),
        (lambda p: p.update(data=None), "missing_data"),
    ],
)
def test_malformed_payload_is_400(client, fake, connection, mutate, code):
    payload = person_event(fake, next(iter(fake.records["persons"])))
    mutate(payload)
    response = post(client, connection, payload)
    assert (response.status_code, response.json()["error"]["code"]) == (400, code)
    assert not WebhookEvent.objects.exists()


def test_redelivery_is_stored_once(client, fake, connection):
    payload = person_event(fake, next(iter(fake.records["persons"])), event_id="same")
    assert [post(client, connection, payload).status_code for _ in range(3)] == [200, 200, 200]
    assert WebhookEvent.objects.filter(connection=connection).count() == 1


def test_change_event_maps_the_full_record_and_rescores(
    fake, connection, rescore_calls, django_capture_on_commit_callbacks
):
    connection_sync(connection_id=connection.pk)
    person_id = sorted(fake.records["persons"])[1]
    fake.update("persons", person_id, first_name="Webhooked", name="Webhooked Person")
    event = WebhookEvent.objects.create(connection=connection, event_id="e1", payload=person_event(fake, person_id))
    with django_capture_on_commit_callbacks(execute=True):
        event = webhook_event_process(event_id=event.pk)
    assert (event.status, event.error) == ("processed", "")
    contact = Contact.objects.get(connection=connection, external_id=str(person_id))
    assert contact.first_name == "Webhooked"
    assert rescore_calls == [{"organization_id": connection.organization_id, "contact_ids": [contact.pk]}]


def test_score_only_change_does_not_rescore(fake, connection, rescore_calls, django_capture_on_commit_callbacks):
    connection_sync(connection_id=connection.pk)
    person_id = min(fake.records["persons"])
    fake.update("persons", person_id, first_name="NotReadBack", custom_fields={PERSON_SCORE: 91})
    payload = person_event(fake, person_id, previous={"custom_fields": {PERSON_SCORE: 0.5}, "update_time": "x"})
    event = WebhookEvent.objects.create(connection=connection, event_id="e1", payload=payload)
    with django_capture_on_commit_callbacks(execute=True):
        assert webhook_event_process(event_id=event.pk).status == "processed"
    assert rescore_calls == []
    assert Contact.objects.get(connection=connection, external_id=str(person_id)).first_name != "NotReadBack"


def test_delete_event_soft_deletes(fake, connection):
    connection_sync(connection_id=connection.pk)
    person_id = sorted(fake.records["persons"])[2]
    event = WebhookEvent.objects.create(
        connection=connection, event_id="e1", payload=person_event(fake, person_id, action="delete")
    )
    assert webhook_event_process(event_id=event.pk).status == "processed"
    assert Contact.objects.get(connection=connection, external_id=str(person_id)).deleted_at is not None


def test_event_plans_for_notes_and_other_entities():
    note = {"meta": {"action": "create", "entity": "note", "entity_id": 7}, "data": {"id": 7}}
    plan = event_plan(payload=note, config={})
    assert (plan.object_type, plan.record_kind, plan.records) == ("activities", "note", [{"id": 7}])
    deleted = {"meta": {"action": "delete", "entity": "note", "entity_id": 7}, "data": None}
    assert event_plan(payload=deleted, config={}).deleted_ids == ["note:7"]
    product = {"meta": {"action": "change", "entity": "product", "entity_id": 1}, "data": {}}
    assert event_plan(payload=product, config={}).object_type is None
    both = {
        "meta": {"action": "change", "entity": "person", "entity_id": 1},
        "data": {"id": 1},
        "previous": {"custom_fields": {"k": 1}, "name": "x"},
    }
    assert not event_plan(payload=both, config={"score_property": "k"}).score_only
