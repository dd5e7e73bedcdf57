"""The connector interface is what the engines use: every registered connector's `features` match what it
implements, webhook modules hang off the connector class in the one registry, and `connector_open` builds,
wires and closes a connector for every caller, whatever happens inside."""

import pytest

from crm_connectors import registry
from crm_connectors.base import FEATURES, Connector
from crm_connectors.connections import connector_open
from crm_connectors.models import CRMConnection
from crm_connectors.schedules import SYNC_TASK_NAME, WEBHOOK_TASK_NAME, WRITEBACK_TASK_NAME, task_by_name
from crm_connectors.services import connection_create
from crm_connectors.webhook_types import WebhookTargetNotFound
from tests.factories import OrganizationFactory

# Each optional method and the feature that promises it.
FEATURE_METHODS = {
    "writeback": "write_scores",
    "records_fetch": "records_fetch",
    "records_map": "records_map",
    "source_columns": "source_column",
}
WEBHOOK_FUNCTIONS = ("verify", "parse", "event_plan", "acknowledgement")
BUILTIN = {"csv", "hubspot", "pipedrive", "salesforce"}


def _overrides(connector_class: type[Connector], method: str) -> bool:
    return getattr(connector_class, method) is not getattr(Connector, method)


@pytest.mark.parametrize("kind", registry.connector_names())
def test_features_match_what_the_connector_implements(kind):
    connector_class = registry.connector_class_get(kind)
    assert connector_class.features <= FEATURES
    for feature, method in FEATURE_METHODS.items():
        assert _overrides(connector_class, method) == (feature in connector_class.features), (kind, feature)
    if "webhooks" in connector_class.features:
        module = registry.webhook_handler(kind)
        assert module is connector_class.webhook
        assert all(callable(getattr(module, name, None)) for name in WEBHOOK_FUNCTIONS), kind
    else:
        assert connector_class.webhook is None
        with pytest.raises(WebhookTargetNotFound):
            registry.webhook_handler(kind)


def test_builtin_connectors_are_registered_with_their_features():
    assert set(registry.connector_names()) >= BUILTIN
    features = {kind: registry.connector_class_get(kind).features for kind in BUILTIN}
    assert features == {
        "csv": {"source_columns"},
        "hubspot": {"writeback", "webhooks", "records_fetch", "reconcile", "deal_pipelines", "deal_history"},
        "pipedrive": {
            "writeback",
            "webhooks",
            "records_fetch",
            "records_map",
            "reconcile",
            "deal_pipelines",
            "deal_history",
        },
        "salesforce": {"writeback", "webhooks", "records_fetch", "reconcile", "deal_pipelines", "deal_history"},
    }


def test_an_unknown_kind_takes_no_webhooks():
    with pytest.raises(WebhookTargetNotFound):
        registry.webhook_handler("no-such-crm")


def test_an_unknown_feature_is_refused_at_class_definition():
    with pytest.raises(TypeError, match="unknown features"):

        class Bad(Connector):  # never registered
            features = frozenset({"telepathy"})

            def iter_changes(self, *, object_type, cursor, full):
                return iter(())


def test_tasks_sent_by_name_exist():
    from crm_connectors import tasks

    assert task_by_name(SYNC_TASK_NAME) is tasks.sync_connection._get_current_object()
    assert task_by_name(WEBHOOK_TASK_NAME) is tasks.process_webhook_event._get_current_object()
    assert task_by_name(WRITEBACK_TASK_NAME) is tasks.writeback_connection._get_current_object()


@pytest.fixture
def connection(db) -> CRMConnection:
    organization = OrganizationFactory(slug="open-org")
    created = connection_create(organization=organization, kind="test-paged", name="paged", config={"pages": 1})
    return CRMConnection.objects.select_related("organization").get(pk=created.pk)


@pytest.fixture
def closes(monkeypatch) -> list[Connector]:
    closed: list[Connector] = []
    connector_class = registry.connector_class_get("test-paged")
    monkeypatch.setattr(connector_class, "close", lambda self: closed.append(self), raising=False)
    return closed


def test_connector_open_builds_binds_and_closes(connection, closes):
    with connector_open(connection) as connector:
        assert connector.organization_slug == "open-org"
        assert not closes
        connector.on_credentials_change({"token": "rotated"})
    assert closes == [connector]
    connection.refresh_from_db()
    assert connection.credentials == {"token": "rotated"}


def test_connector_open_closes_when_the_body_raises(connection, closes):
    with pytest.raises(RuntimeError, match="boom"), connector_open(connection) as connector:
        raise RuntimeError("boom")
    assert closes == [connector]


def test_connector_open_runs_credential_saves_where_told(connection, closes):
    deferred = []
    with connector_open(connection, run_saves=deferred.append) as connector:
        connector.on_credentials_change({"token": "later"})
        assert len(deferred) == 1
        connection.refresh_from_db()
        assert connection.credentials != {"token": "later"}
        deferred[0]()
    connection.refresh_from_db()
    assert connection.credentials == {"token": "later"}


def test_a_sync_closes_its_connector_whether_it_succeeds_or_fails(connection, closes, monkeypatch):
    from crm_connectors.sync import connection_sync

    assert connection_sync(connection_id=connection.pk).status == "succeeded"
    assert len(closes) == 1
    monkeypatch.setattr(registry.connector_class_get("test-paged"), "fail_before_page", 0)
    assert connection_sync(connection_id=connection.pk, full=True).status == "failed"
    assert len(closes) == 2
