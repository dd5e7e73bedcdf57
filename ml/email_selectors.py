"""Read-side queries for sales email drafts."""

from django.db.models import QuerySet

from ml.models import GeneratedEmail
from ml.selectors import User
from salesai.core.selectors import records_for_user


def generated_emails_for_user(*, user: User) -> QuerySet[GeneratedEmail]:
    """Drafts of the user's organisations (any member may see and review them), newest first."""
    return records_for_user(user=user, model=GeneratedEmail).select_related(
        "organization", "contact", "contact__company", "deal", "requested_by", "acted_by"
    )
