"""Few-shot examples: the organisation's own emails that reps accepted or edited, most similar to a request.

Similarity is cosine between MiniLM vectors (ml.text; cached by content hash, so an accepted email is encoded
once). The request is described in the same words a past email would use (intent, the contact's role, the
company, the deal, the latest activity), and an email of the same intent gets a bonus: tone and structure
carry over between intents far less than the topic does. No candidates -> no encoder work at all.
"""

from __future__ import annotations

import numpy as np

from ml.engine.emailgen.types import FactSheet
from ml.models import EmailIntent, GeneratedEmail

EXAMPLES_MAX = 2
CANDIDATES_MAX = 200  # newest reviewed emails considered; keeps one request's encoding work bounded
SAME_INTENT_BONUS = 0.25  # on a cosine scale: a same-intent email wins unless another is far closer in topic


def email_example_text(*, subject: str, body: str) -> str:
    return f"Subject: {subject.strip()}\n\n{body.strip()}"


def request_summary(*, intent: str, fact_sheet: FactSheet) -> str:
    """What the request is about, in plain words (trusted facts only: notes could steer the choice)."""
    label = EmailIntent(intent).label if intent in EmailIntent.values else intent
    parts = [f"{label} email"]
    if fact_sheet.contact_name:
        parts.append(f"to {fact_sheet.contact_name}")
    title = fact_sheet.fact("contact.job_title")
    if title is not None:
        parts.append(f"({title.value})")
    if fact_sheet.company_name:
        parts.append(f"at {fact_sheet.company_name}")
    industry = fact_sheet.fact("company.industry")
    if industry is not None:
        parts.append(f"in {industry.value}")
    topics = [fact.value for fact in fact_sheet.facts if fact.trusted and _is_topic(fact.id)]
    if topics:
        parts.append("about " + "; ".join(topics[:3]))
    return " ".join(parts)


def _is_topic(fact_id: str) -> bool:
    return fact_id.endswith(".subject") or (fact_id.startswith("deal.") and fact_id.endswith(".name"))


def email_examples_select(
    *,
    organization_id: int,
    intent: str,
    fact_sheet: FactSheet,
    limit: int = EXAMPLES_MAX,
    exclude_email_id: int | None = None,
) -> list[str]:
    """Up to `limit` final texts (subject + body) of the organisation's accepted or edited emails, best
    first: cosine similarity to the request plus a bonus for the same intent."""
    reviewed = (
        GeneratedEmail.objects.filter(
            organization_id=organization_id,
            rep_action__in=(GeneratedEmail.RepAction.ACCEPTED, GeneratedEmail.RepAction.EDITED),
        )
        .exclude(final_body="")
        .order_by("-acted_at", "-id")
    )
    if exclude_email_id is not None:
        reviewed = reviewed.exclude(pk=exclude_email_id)
    candidates = list(reviewed.values_list("intent", "final_subject", "final_body")[:CANDIDATES_MAX])
    if not candidates or limit <= 0:
        return []
    texts = [email_example_text(subject=subject, body=body) for _, subject, body in candidates]
    if len(candidates) <= limit:
        # All of them are used anyway: same intent first, no encoder work.
        order = sorted(range(len(candidates)), key=lambda i: candidates[i][0] != intent)
        return [texts[i] for i in order]
    from ml.text.cache import text_embeddings_get  # loads torch: only when there is something to rank

    vectors = text_embeddings_get(texts=[request_summary(intent=intent, fact_sheet=fact_sheet), *texts])
    similarity = vectors[1:] @ vectors[0]  # unit vectors: dot product = cosine
    bonus = np.array([SAME_INTENT_BONUS if intent_ == intent else 0.0 for intent_, _, _ in candidates])
    # Stable sort on the negated score: ties keep the newest-first order of the query.
    order = np.argsort(-(similarity + bonus), kind="stable")
    return [texts[i] for i in order[:limit]]
