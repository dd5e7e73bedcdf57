"""Scoring requests stranded by a broker outage are queued by the beat sweep, not only by the next change."""

import pytest
from django_celery_beat.models import PeriodicTask

from ml import scoring_services
from ml.models import PendingScoring, ScoringSchedule
from salesai.celery import app
from tests.crm_connectors.broker import broker_down, private_queue
from tests.factories import OrganizationFactory

pytestmark = pytest.mark.django_db


def test_a_request_made_while_the_broker_was_down_is_queued_by_the_sweep(django_capture_on_commit_callbacks):
    organization = OrganizationFactory()
    with private_queue("ml.tasks.*") as queue:
        with broker_down(), pytest.raises(Exception), django_capture_on_commit_callbacks(execute=True):  # noqa: B017
            scoring_services.scoring_enqueue(organization_id=organization.id, contact_ids=[1, 2])
        assert PendingScoring.objects.filter(organization=organization).count() == 2  # the request is kept
        assert ScoringSchedule.objects.get(organization=organization).scheduled_at is None

        with broker_down():
            assert scoring_services.pending_scoring_sweep() == 0  # still down: nothing lost, nothing claimed
        assert scoring_services.pending_scoring_sweep() == 1
        assert queue.take() == [("ml.tasks.score_contacts", (organization.id,), {"pending": True})]
        assert scoring_services.pending_scoring_sweep() == 0  # its task is queued: not queued twice


def test_the_sweep_has_a_beat_entry_on_the_default_queue():
    entry = PeriodicTask.objects.get(name="ml-scoring-sweep")
    assert entry.enabled and entry.task == "ml.tasks.sweep_pending_scoring" and entry.task in app.tasks
    assert entry.interval.period == "seconds"
    route = app.amqp.router.route({}, entry.task)
    assert route["queue"].name == "default"
