import io

import pytest
import yaml
from django.core.management import CommandError, call_command

from crm_connectors import tasks
from crm_connectors.models import CRMConnection, SyncRun
from salesai.core.models import Contact, Membership, Organization
from tests.crm_connectors.conftest import CSV_ORG_SLUG, basic_mapping

pytestmark = pytest.mark.django_db


def _call(*args) -> str:
    out = io.StringIO()
    call_command(*args, stdout=out)
    return out.getvalue()


def test_org_create_command_is_idempotent():
    output = _call("org_create", "acme", "--admin", "boss", "--password", "pw-long-enough", "--name", "Acme Inc")
    assert "created" in output
    org = Organization.objects.get(slug="acme")
    assert org.name == "Acme Inc"
    membership = Membership.objects.get(organization=org)
    assert membership.role == "admin" and membership.user.check_password("pw-long-enough")
    assert "exists" in _call("org_create", "acme", "--admin", "boss")
    membership.user.refresh_from_db()
    assert membership.user.check_password("pw-long-enough")


def test_connect_then_sync_csv_inline_and_async(
    csv_root, write_companies, write_contacts, monkeypatch, django_capture_on_commit_callbacks
):
    write_companies([["C1", "Acme", "", ""]])
    write_contacts([["P1", "C1", "Ada", "ada@x.test", "", ""], ["P2", "C1", "Bob", "bob@", "", ""]])
    (csv_root / "mapping.yaml").write_text(yaml.safe_dump(basic_mapping()))
    _call("org_create", CSV_ORG_SLUG)  # the fixtures' export lies in this organisation's import folder

    connection_id = int(
        _call(
            "crm_connect",
            "csv",
            "--org",
            CSV_ORG_SLUG,
            "--name",
            "files",
            "--path",
            str(csv_root),
            "--mapping",
            "mapping.yaml",
        )
    )
    assert CRMConnection.objects.get(pk=connection_id).config == {"path": str(csv_root), "mapping_file": "mapping.yaml"}

    report = _call("crm_sync", str(connection_id))
    assert "partial" in report and "created=2" in report and "failed=1" in report
    assert "contacts line 3 column 'Email'" in report
    assert Contact.objects.count() == 1

    sent = []
    monkeypatch.setattr(tasks.sync_connection, "delay", lambda **kwargs: sent.append(kwargs))
    with django_capture_on_commit_callbacks(execute=True):
        run_id = int(_call("crm_sync", str(connection_id), "--async", "--full"))
    assert SyncRun.objects.get(pk=run_id).status == SyncRun.Status.QUEUED
    assert sent == [{"connection_id": connection_id, "full": True, "sync_run_id": run_id}]


def test_crm_connect_stores_secrets_in_credentials_only():
    _call("org_create", "acme")
    connection_id = int(
        _call(
            "crm_connect",
            "test-paged",
            "--org",
            "acme",
            "--name",
            "crm",
            "--base-url",
            "http://127.0.0.1:9",
            "--token",
            "tok-123",
        )
    )
    connection = CRMConnection.objects.get(pk=connection_id)
    assert connection.config == {"base_url": "http://127.0.0.1:9"}
    assert connection.credentials == {"token": "tok-123"}


@pytest.mark.parametrize(
    "args, message",
    [
        (["csv", "--org", "nope", "--name", "x"], "no organization"),
        (["csv", "--org", "acme", "--name", "x", "--path", "."], "invalid csv config"),
        (["test-paged", "--org", "acme", "--name", "x", "--token", "t", "--client-id", "c"], "either --token"),
        (["test-paged", "--org", "acme", "--name", "x", "--client-id", "c"], "together"),
    ],
)
def test_crm_connect_errors(args, message):
    _call("org_create", "acme")
    with pytest.raises(CommandError, match=message):
        _call("crm_connect", *args)


def test_crm_sync_unknown_connection():
    with pytest.raises(CommandError, match="no connection"):
        _call("crm_sync", "999999")
