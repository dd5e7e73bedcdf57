"""The deterministic writer: a plain, correct email per intent x tone x length, built only from facts.

It is the last resort of the pipeline, so it must always pass the guardrails: every candidate sentence is
written from fact values (their display text, as the guardrails match it) and kept only if each of its claims
is grounded; optional sentences are dropped when their facts are missing or the length budget is spent.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from ml.engine.emailgen.guardrails import (
    BODY_HARD_MAX_CHARS,
    BODY_MAX_CHARS,
    PLACEHOLDER_RES,
    SUBJECT_MAX_CHARS,
    FactIndex,
    claim_ground,
    claims_extract,
    fact_index_build,
)
from ml.engine.emailgen.types import DraftOptions, FactSheet

VALUE_MAX_CHARS = 80  # longer values (long deal names, subjects) read badly inside a sentence

GREETINGS = {
    "friendly": ("Hi {first},", "Hi there,"),
    "formal": ("Dear {full},", "Hello,"),
    "direct": ("{first},", "Hello,"),
}
SIGN_OFFS = {"friendly": "Best,", "formal": "Kind regards,", "direct": "Thanks,"}
SENTENCE_BUDGET = {"short": 3, "medium": 5, "long": 7}  # sentences between greeting and sign-off


@dataclass
class Facts:
    """Readable access to the values the composer may use (None when missing or unusable)."""

    values: dict[str, str]

    @classmethod
    def from_sheet(cls, fact_sheet: FactSheet) -> Facts:
        values: dict[str, str] = {}
        for fact in fact_sheet.facts:
            if fact.trusted and _usable(fact.value):
                values.setdefault(fact.id, fact.value.strip())
        for fact_id, value in (
            ("contact.first_name", fact_sheet.contact_first_name),
            ("contact.full_name", fact_sheet.contact_name),
            ("company.name", fact_sheet.company_name),
            ("sender.name", fact_sheet.sender_name),
            ("organization.name", fact_sheet.organization_name),
        ):
            if _usable(value or ""):
                values.setdefault(fact_id, value.strip())
        return cls(values)

    def get(self, fact_id: str) -> str | None:
        return self.values.get(fact_id)

    def group(self, prefix: str) -> list[dict[str, str]]:
        """Facts "prefix.<n>.<field>" grouped per <n>, in listing order: [{"name": ..., "amount": ...}].
        Activities are listed most recent first, so the first group is the latest one."""
        groups: dict[str, dict[str, str]] = {}
        for fact_id, value in self.values.items():
            m = re.fullmatch(rf"{re.escape(prefix)}\.([^.]+)\.(\w+)", fact_id)
            if m:
                groups.setdefault(m[1], {})[m[2]] = value
        return list(groups.values())


def _usable(value: str) -> bool:
    value = value.strip()
    return (
        bool(value)
        and len(value) <= VALUE_MAX_CHARS
        and "\n" not in value
        and value.lower() != "none"
        and not any(p.search(value) for p in PLACEHOLDER_RES)
    )


def sentence_grounded(text: str, index: FactIndex) -> bool:
    """True when every claim in `text` matches a trusted fact and it holds no placeholder."""
    if any(p.search(text) for p in PLACEHOLDER_RES):
        return False
    return all(claim_ground(claim, index) for claim in claims_extract(text))


def draft_compose(*, fact_sheet: FactSheet, options: DraftOptions) -> tuple[str, str]:
    """(subject, body) where body ends with the compliance footer."""
    facts = Facts.from_sheet(fact_sheet)
    index = fact_index_build(fact_sheet)
    tone = options.tone if options.tone in GREETINGS else "friendly"
    length = options.length if options.length in SENTENCE_BUDGET else "short"

    subject = next(
        (s for s in _subjects(facts, options.intent) if len(s) <= SUBJECT_MAX_CHARS and sentence_grounded(s, index)),
        "A quick note",
    )
    greeting = composer_greeting(fact_sheet=fact_sheet, tone=tone)
    sender = facts.get("sender.name")
    sign_off = SIGN_OFFS[tone] + (f"\n{sender}" if sender and sentence_grounded(sender, index) else "")

    limit = min(BODY_MAX_CHARS[length], BODY_HARD_MAX_CHARS) - len(greeting) - len(sign_off) - 8
    core, extra, closing = _sentences(facts, options.intent, tone)
    kept: list[str] = []
    used = 0
    for sentence in [*core, *extra][: SENTENCE_BUDGET[length]]:
        if sentence and sentence_grounded(sentence, index) and used + len(sentence) + 1 <= limit - len(closing):
            kept.append(sentence)
            used += len(sentence) + 1
    paragraphs = [greeting, " ".join(kept), closing, sign_off]
    body = "\n\n".join(p for p in paragraphs if p)
    return subject, body_with_footer(body=body, fact_sheet=fact_sheet)


def composer_greeting(*, fact_sheet: FactSheet, tone: str) -> str:
    """The greeting line for `tone`, with the contact's name when the facts have a usable one."""
    index = fact_index_build(fact_sheet)
    candidates = _greetings(Facts.from_sheet(fact_sheet), tone if tone in GREETINGS else "friendly")
    return _first_grounded(candidates, index) or "Hello,"


def body_with_footer(*, body: str, fact_sheet: FactSheet) -> str:
    footer = fact_sheet.footer.render()
    return f"{body.rstrip()}\n\n{footer}" if footer else body.rstrip()


def _first_grounded(candidates: list[str], index: FactIndex) -> str | None:
    return next((c for c in candidates if sentence_grounded(c, index)), None)


def _greetings(facts: Facts, tone: str) -> list[str]:
    named, anonymous = GREETINGS[tone]
    first = facts.get("contact.first_name")
    full = facts.get("contact.full_name") or first
    out = []
    if first or full:
        out.append(named.format(first=first or full, full=full or first))
    return [*out, anonymous]


def _subjects(facts: Facts, intent: str) -> list[str]:
    company, org = facts.get("company.name"), facts.get("organization.name")
    deal = (facts.group("deal") or [{}])[0]
    meeting = _last_meeting(facts)
    options = {
        "first_touch": [f"An idea for {company}" if company else "", f"Hello from {org}" if org else ""],
        "meeting_follow_up": [
            f"Following up: {meeting['subject']}" if meeting.get("subject") else "",
            f"Following up on our {meeting['kind']} on {meeting['date']}" if meeting.get("date") else "",
            "Following up on our conversation",
        ],
        "deal_nudge": [f"Checking in on {deal['name']}" if deal.get("name") else "", "Checking in"],
        "renewal": [f"Your renewal with {org}" if org else "", "Your renewal"],
        "win_back": [f"Catching up with {company}" if company else "", "Catching up"],
    }
    return [s for s in options.get(intent, []) if s] + ["A quick note"]


def _last_meeting(facts: Facts) -> dict[str, str]:
    # Notes and tasks are internal: "our last note" means nothing to the contact.
    activities = [
        a for a in facts.group("activity") if a.get("date") and a.get("kind", "").lower() not in ("note", "task")
    ]
    meetings = [a for a in activities if a.get("kind", "").lower() in ("meeting", "call")]
    found = (meetings or activities or [{}])[0]
    return {**found, "kind": found.get("kind", "conversation").lower()}


def _sentences(facts: Facts, intent: str, tone: str) -> tuple[list[str], list[str], str]:
    """(core sentences, optional extras, closing question) for one intent."""
    company = facts.get("company.name")
    org = facts.get("organization.name")
    title = facts.get("contact.job_title")
    industry = facts.get("company.industry")
    location = facts.get("company.location")
    deal = (facts.group("deal") or [{}])[0]
    meeting = _last_meeting(facts)
    products = [p for p in facts.group("product") if p.get("name")]
    product = products[0] if products else {}

    at_company = f" at {company}" if company else ""
    product_line = f"Our {product['name']} may be a good fit{' for ' + company if company else ''}." if product else ""
    price_line = (
        f"For reference, the list price of {product['name']} is {product['price']}." if product.get("price") else ""
    )
    context = [
        f"As {title}{at_company}, you see first-hand how your team works." if title else "",
        f"We work with many teams in {industry}." if industry else "",
        f"I know your team is based in {location}." if location else "",
    ]
    deal_bits = _deal_sentences(deal)
    ask = {
        "friendly": "Would you be up for a short call?",
        "formal": "Would you be available for a short call to discuss this?",
        "direct": "Can we set up a short call?",
    }[tone]

    if intent == "meeting_follow_up":
        when = f" on {meeting['date']}" if meeting.get("date") else ""
        core = [
            f"Thank you for the {meeting['kind']}{when}." if meeting.get("date") else "Thank you for your time.",
            f"I wanted to follow up on {_quoted(meeting['subject'])} while it is fresh."
            if meeting.get("subject")
            else "I wanted to follow up while our conversation is fresh.",
            *deal_bits[:1],
        ]
        closing = {
            "friendly": "What would be a good next step for you?",
            "formal": "Please let me know how you would like to proceed.",
            "direct": "What is the next step on your side?",
        }[tone]
        return core, [*deal_bits[1:], product_line, *context], closing
    if intent == "deal_nudge":
        core = deal_bits or ["I wanted to check in on where things stand."]
        closing = {
            "friendly": "Is there anything I can do to help move things forward?",
            "formal": "Please let me know if there is anything you need from us.",
            "direct": "What do you need from me to move forward?",
        }[tone]
        return core, [product_line, price_line, *context], closing
    if intent == "renewal":
        core = [
            f"I'm reaching out about the renewal of {company}'s account with {org}."
            if company and org
            else "I'm reaching out about your upcoming renewal.",
            *deal_bits[:2],
        ]
        closing = {
            "friendly": "Could we find time to go over the renewal together?",
            "formal": "Would you be available to review the renewal with me?",
            "direct": "When can we review the renewal?",
        }[tone]
        return core, [*deal_bits[2:], product_line, price_line, *context], closing
    if intent == "win_back":
        when = f" Our last {meeting['kind']} was on {meeting['date']}." if meeting.get("date") else ""
        core = [
            f"It has been a while since we last spoke.{when}",
            f"I would like to understand what {company} needs today and whether {org} can help again."
            if company and org
            else "I would like to understand what your team needs today.",
        ]
        closing = {
            "friendly": "Would you be open to catching up?",
            "formal": "Would you be open to a brief conversation?",
            "direct": "Is it worth a short call?",
        }[tone]
        return core, [product_line, *context, price_line], closing
    # first_touch (and anything unknown)
    core = [
        f"I'm reaching out from {org}." if org else "I'm reaching out to introduce myself.",
        product_line or (f"I would like to learn how {company} handles its sales process." if company else ""),
    ]
    return core, [*context, price_line], ask


def _deal_sentences(deal: dict[str, str]) -> list[str]:
    if not deal.get("name"):
        return []
    out = [f"I wanted to check in on {_quoted(deal['name'])}."]
    if deal.get("stage"):
        out.append(f"It is currently at the {_quoted(deal['stage'])} stage.")
    if deal.get("amount"):
        out.append(f"The current amount is {deal['amount']}.")
    if deal.get("close_date"):
        out.append(f"The expected close date is {deal['close_date']}.")
    return out


def _quoted(value: str) -> str:
    return f"“{value}”"
