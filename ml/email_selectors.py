"""Read-side queries for sales email drafts."""

from typing import Any

from django.db.models import Count, Q, QuerySet

from ml.models import GeneratedEmail
from ml.selectors import User
from salesai.core.selectors import records_for_user


def generated_emails_for_user(*, user: User) -> QuerySet[GeneratedEmail]:
    """Drafts of the user's organisations (any member may see and review them), newest first."""
    return records_for_user(user=user, model=GeneratedEmail).select_related(
        "organization", "contact", "contact__company", "deal", "requested_by", "acted_by"
    )


def email_action_rates(*, organization_id: int) -> list[dict[str, Any]]:
    """Per backend and intent, what reps did with the ready drafts: drafts shown, reviewed, and the share of
    reviewed ones accepted as written, edited, rejected and sent as the rep's own words (None: none reviewed).
    How often reps send a draft unchanged is the honest measure of a backend."""
    actions = GeneratedEmail.RepAction
    rows = (
        GeneratedEmail.objects.filter(organization_id=organization_id, status=GeneratedEmail.Status.READY)
        .values("backend", "intent")
        .annotate(
            drafts=Count("id"),
            reviewed=Count("id", filter=~Q(rep_action="")),
            accepted=Count("id", filter=Q(rep_action=actions.ACCEPTED)),
            edited=Count("id", filter=Q(rep_action=actions.EDITED)),
            rejected=Count("id", filter=Q(rep_action=actions.REJECTED)),
            own_words=Count("id", filter=Q(sent_as_own_words=True)),
        )
        .order_by("backend", "intent")
    )
    out = []
    for row in rows:
        reviewed = row["reviewed"]
        rate = {
            f"{name}_rate": (row[name] / reviewed if reviewed else None)
            for name in ("accepted", "edited", "rejected", "own_words")
        }
        out.append({**row, **rate})
    return out
