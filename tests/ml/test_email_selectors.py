"""email_action_rates: what reps did with ready drafts, per backend and intent."""

import pytest

from ml.email_selectors import email_action_rates
from ml.models import GeneratedEmail
from tests.factories import ContactFactory, OrganizationFactory

pytestmark = pytest.mark.django_db


def _draft(contact, *, backend, intent, action="", own_words=False, status=GeneratedEmail.Status.READY):
    return GeneratedEmail.objects.create(
        organization_id=contact.organization_id,
        contact=contact,
        intent=intent,
        status=status,
        backend=backend,
        rep_action=action,
        sent_as_own_words=own_words,
    )


def test_rates_are_shares_of_reviewed_ready_drafts_per_backend_and_intent():
    contact = ContactFactory(organization=OrganizationFactory())
    other = ContactFactory(organization=OrganizationFactory())
    actions = GeneratedEmail.RepAction
    for action in (actions.ACCEPTED, actions.ACCEPTED, actions.EDITED, actions.REJECTED, ""):
        _draft(contact, backend="local", intent="deal_nudge", action=action, own_words=False)
    _draft(contact, backend="local", intent="deal_nudge", action=actions.EDITED, own_words=True)
    _draft(contact, backend="composer", intent="renewal")
    _draft(contact, backend="local", intent="deal_nudge", status=GeneratedEmail.Status.FAILED)
    _draft(other, backend="local", intent="deal_nudge", action=actions.ACCEPTED)

    rows = {(r["backend"], r["intent"]): r for r in email_action_rates(organization_id=contact.organization_id)}

    local = rows[("local", "deal_nudge")]
    assert (local["drafts"], local["reviewed"], local["accepted"], local["edited"]) == (6, 5, 2, 2)
    assert local["accepted_rate"] == pytest.approx(0.4) and local["own_words_rate"] == pytest.approx(0.2)
    composer = rows[("composer", "renewal")]
    assert composer["reviewed"] == 0 and composer["accepted_rate"] is None
    assert len(rows) == 2
