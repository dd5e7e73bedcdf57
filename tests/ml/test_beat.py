import json

import pytest
from django_celery_beat.models import PeriodicTask

from ml.beat import NIGHTLY_TASK, ml_schedules_ensure
from tests.factories import OrganizationFactory

pytestmark = pytest.mark.django_db


def test_nightly_schedule_is_created_once_per_organization(settings):
    settings.ML_RETRAIN_CRON_HOUR = 4
    organization = OrganizationFactory(slug="acme")
    periodic = ml_schedules_ensure(organization_id=organization.id)
    assert periodic.task == NIGHTLY_TASK and periodic.enabled
    assert json.loads(periodic.args) == [organization.id]
    assert (periodic.crontab.hour, periodic.crontab.minute) == ("4", "0")
    periodic.enabled = False
    periodic.save()
    again = ml_schedules_ensure(organization_id=organization.id)
    assert again.pk == periodic.pk and again.enabled  # repaired, not duplicated
    ml_schedules_ensure(organization_id=OrganizationFactory().id)
    assert PeriodicTask.objects.filter(task=NIGHTLY_TASK).count() == 2
