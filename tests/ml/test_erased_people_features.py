"""Training and scoring frames leave out people erased on request, even if a row of theirs came back."""

import pytest
from django.utils import timezone

from ml.features.lead import lead_feature_frame
from salesai.core.services import person_tombstone_add
from tests.factories import ContactFactory, CRMConnectionFactory

pytestmark = pytest.mark.django_db


def test_lead_frames_skip_erased_contacts():
    connection = CRMConnectionFactory()
    organization = connection.organization
    erased = ContactFactory(organization=organization, connection=connection, external_id="P1")
    kept = ContactFactory(organization=organization, connection=connection, external_id="P2")
    person_tombstone_add(organization_id=organization.id, emails=[], records=[(connection.pk, "P1")])

    frame = lead_feature_frame(organization_id=organization.id, as_of=timezone.now())

    assert list(frame.index) == [kept.pk] and erased.pk not in frame.index
