"""privacy_export and privacy_erase: the operator's way to answer a data-subject request."""

import io
import json

import pytest
from django.core.management import CommandError, call_command

from salesai.core.models import AuditLogEntry, Contact
from tests.privacy.conftest import EMAIL


def _call(*args):
    out = io.StringIO()
    call_command(*args, stdout=out)
    return out.getvalue()


def test_export_writes_json_and_erase_needs_yes(world, tmp_path):
    target = tmp_path / "ada.json"

    _call("privacy_export", "--org", "acme", "--email", EMAIL, "--output", str(target))
    with pytest.raises(CommandError, match="--yes"):
        _call("privacy_erase", "--org", "acme", "--email", EMAIL)
    report = _call("privacy_erase", "--org", "acme", "--contact", str(world.contact.pk), "--yes")

    assert {c["id"] for c in json.loads(target.read_text())["contacts"]} == {world.contact.pk, world.duplicate.pk}
    assert "contacts=2" in report
    assert not Contact.objects.filter(organization=world.organization, email__iexact=EMAIL).exists()
    assert list(AuditLogEntry.objects.order_by("id").values_list("action", "actor_id")) == [
        ("person.export", None),
        ("person.erase", None),
    ]


def test_another_organisations_contact_is_refused(world):
    with pytest.raises(CommandError, match="no such person"):
        _call("privacy_erase", "--org", "acme", "--contact", str(world.namesake.pk), "--yes")
    assert Contact.objects.filter(pk=world.namesake.pk).exists()
