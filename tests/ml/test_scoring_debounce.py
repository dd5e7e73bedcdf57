"""Debounced rescoring: bursts of scoring_enqueue calls become one delayed task per organisation that
scores the union of what was asked (ml.scoring_services.scoring_enqueue / pending_scoring_run)."""

from datetime import timedelta
from typing import Any

import pytest
from django.utils import timezone

from ml import scoring_services, tasks
from ml.models import PendingScoring, ScoringSchedule
from tests.factories import OrganizationFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def enqueued(monkeypatch) -> list[dict[str, Any]]:
    calls: list[dict[str, Any]] = []
    monkeypatch.setattr(tasks.score_contacts, "apply_async", lambda **kwargs: calls.append(kwargs))
    monkeypatch.setattr(tasks.score_contacts, "delay", lambda *a, **k: pytest.fail("undebounced delay()"))
    return calls


@pytest.fixture
def scored(monkeypatch) -> list[list[int] | None]:
    """Stands in for the champion's scoring: records which contacts each run was asked to score."""
    calls: list[list[int] | None] = []

    def contacts_score(*, organization_id: int, contact_ids: list[int] | None = None, **_: Any):
        calls.append(contact_ids)
        return scoring_services.ScoringResult(
            organization_id=organization_id, model_version_id=1, scored=len(contact_ids or []), prediction_ids=[]
        )

    monkeypatch.setattr(scoring_services, "contacts_score", contacts_score)
    return calls


def _enqueue_committed(capture, *, organization_id: int, contact_ids: list[int] | None) -> None:
    # Each call in its own "transaction", like sync pages and webhook requests: its commit hooks run.
    with capture(execute=True):
        scoring_services.scoring_enqueue(organization_id=organization_id, contact_ids=contact_ids)


def test_fifty_calls_enqueue_one_delayed_task_that_scores_the_union(
    settings, enqueued, scored, django_capture_on_commit_callbacks
):
    settings.ML_RESCORE_DEBOUNCE_SECONDS = 45
    organization = OrganizationFactory()
    for i in range(50):
        _enqueue_committed(
            django_capture_on_commit_callbacks, organization_id=organization.id, contact_ids=[i, i + 1, 1000]
        )
    assert enqueued == [{"args": (organization.id,), "kwargs": {"pending": True}, "countdown": 45}]
    # The task the worker would run after the countdown:
    summary = tasks.score_contacts(*enqueued[0]["args"], **enqueued[0]["kwargs"])
    assert scored == [[*range(51), 1000]]
    assert summary["scored"] == 52
    assert not PendingScoring.objects.filter(organization=organization).exists()
    # Redelivered / duplicate task: nothing left, nothing scored.
    assert tasks.score_contacts(organization.id, pending=True)["skipped"] == "nothing pending"
    assert len(scored) == 1


def test_one_all_request_dominates_the_ids(enqueued, scored, django_capture_on_commit_callbacks):
    organization = OrganizationFactory()
    _enqueue_committed(django_capture_on_commit_callbacks, organization_id=organization.id, contact_ids=[5])
    _enqueue_committed(django_capture_on_commit_callbacks, organization_id=organization.id, contact_ids=None)
    _enqueue_committed(django_capture_on_commit_callbacks, organization_id=organization.id, contact_ids=[7])
    assert len(enqueued) == 1
    tasks.score_contacts(organization.id, pending=True)
    assert scored == [None]  # every open lead, once


def test_a_call_after_the_task_ran_enqueues_again(enqueued, scored, django_capture_on_commit_callbacks):
    organization = OrganizationFactory()
    _enqueue_committed(django_capture_on_commit_callbacks, organization_id=organization.id, contact_ids=[1])
    tasks.score_contacts(organization.id, pending=True)
    _enqueue_committed(django_capture_on_commit_callbacks, organization_id=organization.id, contact_ids=[2])
    _enqueue_committed(django_capture_on_commit_callbacks, organization_id=organization.id, contact_ids=[3])
    assert len(enqueued) == 2
    tasks.score_contacts(organization.id, pending=True)
    assert scored == [[1], [2, 3]]


def test_organisations_are_debounced_separately(enqueued, scored, django_capture_on_commit_callbacks):
    first, second = OrganizationFactory(), OrganizationFactory()
    _enqueue_committed(django_capture_on_commit_callbacks, organization_id=first.id, contact_ids=[1])
    _enqueue_committed(django_capture_on_commit_callbacks, organization_id=second.id, contact_ids=[2])
    assert [call["args"] for call in enqueued] == [(first.id,), (second.id,)]
    tasks.score_contacts(second.id, pending=True)
    assert scored == [[2]]
    assert list(PendingScoring.objects.values_list("organization_id", "contact_id")) == [(first.id, 1)]


def test_nothing_is_enqueued_before_commit_or_for_an_empty_change(enqueued, django_capture_on_commit_callbacks):
    organization = OrganizationFactory()
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        scoring_services.scoring_enqueue(organization_id=organization.id, contact_ids=[])
        scoring_services.scoring_enqueue(organization_id=organization.id, contact_ids=[4])
    assert enqueued == [] and len(callbacks) == 1
    # A rolled-back transaction never runs its hook: the rows vanish with it, no task, no stuck flag.
    assert not ScoringSchedule.objects.filter(organization=organization, scheduled_at__isnull=False).exists()


def test_a_lost_task_is_replaced_by_the_next_request(enqueued, django_capture_on_commit_callbacks):
    organization = OrganizationFactory()
    _enqueue_committed(django_capture_on_commit_callbacks, organization_id=organization.id, contact_ids=[1])
    _enqueue_committed(django_capture_on_commit_callbacks, organization_id=organization.id, contact_ids=[2])
    assert len(enqueued) == 1
    # The queued task never ran (broker lost it): once it is overdue, the next request queues another.
    ScoringSchedule.objects.filter(organization=organization).update(
        scheduled_at=timezone.now() - scoring_services.SCORING_SCHEDULE_LOST_AFTER - timedelta(seconds=1)
    )
    _enqueue_committed(django_capture_on_commit_callbacks, organization_id=organization.id, contact_ids=[3])
    assert len(enqueued) == 2


def test_direct_calls_still_score_the_given_contacts(scored):
    organization = OrganizationFactory()
    PendingScoring.objects.create(organization=organization, contact_id=9)
    tasks.score_contacts(organization.id, [4, 2])
    assert scored == [[4, 2]]
    assert PendingScoring.objects.filter(organization=organization).exists()  # left for the debounced run


def test_a_failed_enqueue_releases_the_claim(monkeypatch, django_capture_on_commit_callbacks):
    organization = OrganizationFactory()

    def broker_down(**kwargs):
        raise ConnectionError("broker unreachable")

    monkeypatch.setattr(tasks.score_contacts, "apply_async", broker_down)
    with pytest.raises(ConnectionError):
        _enqueue_committed(django_capture_on_commit_callbacks, organization_id=organization.id, contact_ids=[1])
    sent: list[dict] = []
    monkeypatch.setattr(tasks.score_contacts, "apply_async", lambda **kwargs: sent.append(kwargs))
    _enqueue_committed(django_capture_on_commit_callbacks, organization_id=organization.id, contact_ids=[2])
    assert len(sent) == 1  # not blocked by the claim of the task that was never queued
    assert sorted(PendingScoring.objects.values_list("contact_id", flat=True)) == [1, 2]
