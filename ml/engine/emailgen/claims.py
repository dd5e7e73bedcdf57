"""The per-sentence verifier: each sentence either states facts it cites, or claims nothing.

A sentence with citations (from a structured draft or the composer) is checked against exactly the facts it
cites: every entity, number, amount (with its currency), date and stage word must be carried by one of them.
A sentence of free text (an old prompt's reply, a rep's edit) is auto-attributed: each of its claims is
grounded against any trusted fact, and the facts that matched become its citations. Either way the sentence is
then checked for who-is-who (the sender is the organisation's person; the recipient's title and company are the
recipient's), for the claim classes of `courtesy` that its cited facts do not carry, and, when it cites
nothing, for being plain courtesy or a call to action. Across the draft, amounts stay in one currency.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from decimal import Decimal

from ml.engine.emailgen.courtesy import (
    DEFAULT_COURTESY,
    benefit_claim_find,
    claim_classes_find,
    courtesy_match,
    uncited_statement_find,
)
from ml.engine.emailgen.guardrails import (
    COMPANY_SUFFIXES,
    DOLLAR_FAMILY,
    Claim,
    FactIndex,
    claim_ground,
    claims_extract,
    common_word_mentions,
    placeholders_masked,
)
from ml.engine.emailgen.types import Fact, Violation

# Naming the two people of the email is addressing them, not a claim: these ground without a citation.
ADDRESSING_IDS = frozenset({"contact.first_name", "contact.last_name", "contact.full_name", "sender.name"})
STAGE_WORD_RE = re.compile(r"\b(?:stage|phase|pipeline status|deal status)\b", re.I)
MEETING_KINDS = frozenset({"meeting", "call", "email", "demo"})
CONVERSION_TOLERANCE = Decimal("0.005")  # a converted figure may be rounded by half a percent

UNGROUNDED_MESSAGES = {
    "amount": ("ungrounded_amount", "The amount {text!r} is not in the CRM facts."),
    "number": ("ungrounded_number", "The number {text!r} does not match any CRM fact."),
    "percentage": ("ungrounded_percentage", "The percentage {text!r} is not in the CRM facts."),
    "date": ("ungrounded_date", "The date {text!r} is not supported by any CRM fact."),
    "name": ("ungrounded_name", "{text!r} is not a person, company or other name found in the CRM facts."),
    "product": ("ungrounded_product", "{text!r} looks like a product that is not in the catalogue."),
    "link": ("ungrounded_link", "The link or address {text!r} is not in the CRM facts."),
    "offer": (
        "ungrounded_offer",
        "The offer {text!r} (discount, free extra, special pricing) is not in the CRM facts.",
    ),
}


@dataclass
class VerifyContext:
    """What the verifier needs beyond the index: who is who, the deal stages, rates, the courtesy patterns."""

    index: FactIndex
    facts: dict[str, Fact]
    recipient_company_res: tuple[re.Pattern, ...] = ()
    recipient_title_res: tuple[re.Pattern, ...] = ()
    sender_org_res: tuple[re.Pattern, ...] = ()
    stages: dict[str, str] = field(default_factory=dict)  # fact id -> stage value
    courtesy: tuple[re.Pattern, ...] = DEFAULT_COURTESY

    def activity_kind(self, fact_id: str) -> str:
        prefix = fact_id.rsplit(".", 1)[0]
        kind = self.facts.get(f"{prefix}.kind")
        return kind.value.lower() if kind is not None else ""


@dataclass
class SentenceVerdict:
    fact_ids: list[str]
    violations: list[Violation]
    courtesy: bool = False  # cites nothing and claims nothing
    currencies: list[str] = field(default_factory=list)  # of the amounts it states, in order


def verify_context_build(
    *, index: FactIndex, company_name: str, job_title: str, organization_name: str, courtesy: Sequence[re.Pattern]
) -> VerifyContext:
    facts = {fact.id: fact for fact in index.facts}
    stages = {fid: f.value for fid, f in facts.items() if fid.endswith(".stage") and f.value.strip()}
    return VerifyContext(
        index=index,
        facts=facts,
        recipient_company_res=_company_res(company_name, first_person=True),
        recipient_title_res=_title_res(job_title),
        sender_org_res=_company_res(organization_name, first_person=False),
        stages=stages,
        courtesy=tuple(courtesy) or DEFAULT_COURTESY,
    )


def _name_pattern(name: str) -> str:
    words = re.findall(r"[\w&'’-]+", name)
    while len(words) > 1 and words[-1].lower().rstrip(".") in COMPANY_SUFFIXES:
        words = words[:-1]  # "Onyx Care" is still Onyx Care Inc.
    return r"[\W_]+".join(re.escape(w) for w in words)  # "Smith, Jones and Lee" as written or not


def _company_res(name: str, *, first_person: bool) -> tuple[re.Pattern, ...]:
    core = _name_pattern(name or "")
    if not core:
        return ()
    if first_person:
        # The sender at, of, or owning the recipient's company.
        return (
            re.compile(rf"\b(?:I|we)(?:'m|'re| am| are| work| worked)\b[^.?!]{{0,80}}?\b(?:at|from)\s+{core}", re.I),
            re.compile(rf"\b(?:our|my)\s+(?:[\w-]+\s+){{0,3}}?(?:(?:here|over)\s+)?(?:at|in|of)\s+{core}", re.I),
            re.compile(rf"\b(?:our|my)\s+{core}\b", re.I),
            re.compile(rf"\b(?:here|we)\s+at\s+{core}", re.I),
        )
    # The recipient placed at the sender's organisation.
    return (re.compile(rf"\byou(?:'re| are| work)\b[^.?!]{{0,40}}?\b(?:at|for)\s+{core}\b(?!'s)", re.I),)


def _title_res(title: str) -> tuple[re.Pattern, ...]:
    core = _name_pattern(title or "")
    if not core:
        return ()
    return (
        re.compile(rf"\b(?:I|we)(?:'m|'re| am| are)\s+(?:a|an|the|your)?\s*{core}\b", re.I),
        re.compile(rf"\bas\s+(?:a|an|the)?\s*{core}\b[^.?!]{{0,60}}?\b(?:I|we|my|our)\b", re.I),
        re.compile(rf"\bmy\s+(?:role|job|position|work)\s+as\s+(?:a|an|the)?\s*{core}\b", re.I),
    )


def role_violations(*, sentence: str, context: VerifyContext, number: int | None) -> list[Violation]:
    """The sender taking the recipient's company or title, or the recipient put at the sender's organisation."""
    out = []
    for pattern in (*context.recipient_company_res, *context.recipient_title_res):
        m = pattern.search(sentence)
        if m is not None:
            out.append(
                Violation(
                    "role_confusion",
                    m.group(0),
                    "It gives the sender the recipient's company or job title: the sender writes from our "
                    "organisation, the recipient's title and company are theirs.",
                    number,
                )
            )
            return out
    for pattern in context.sender_org_res:
        m = pattern.search(sentence)
        if m is not None:
            out.append(
                Violation("role_confusion", m.group(0), "It places the recipient at our own organisation.", number)
            )
            return out
    return out


def _stage_mentions(sentence: str, context: VerifyContext) -> list[str]:
    """Stage facts whose value the sentence states (case-sensitively, or in any case next to "stage")."""
    worded = STAGE_WORD_RE.search(sentence) is not None
    out = []
    for fact_id, value in context.stages.items():
        flags = re.I if worded else 0
        if re.search(rf"(?<!\w){re.escape(value.strip())}(?!\w)", sentence, flags):
            out.append(fact_id)
    return out


def stage_violations(
    *, sentence: str, cited: Sequence[str], context: VerifyContext, number: int | None
) -> list[Violation]:
    mentioned = _stage_mentions(sentence, context)
    worded = STAGE_WORD_RE.search(sentence)
    if not mentioned and worded is None:
        return []
    uncited = [fid for fid in mentioned if fid not in cited]
    if uncited or not mentioned:
        text = context.stages[uncited[0]] if uncited else worded.group(0)
        return [
            Violation(
                "uncited_stage",
                text,
                "It states a deal stage or status that it does not cite from the CRM facts.",
                number,
            )
        ]
    return []


def _cited_kinds(cited: Sequence[str], context: VerifyContext) -> frozenset[str]:
    kinds = set()
    for fact_id in cited:
        fact = context.facts.get(fact_id)
        if fact is None:
            continue
        if fact_id.startswith("activity.") and context.activity_kind(fact_id) in MEETING_KINDS:
            kinds.add("activity")
        if fact.kind == "date":
            kinds.add("date")
        if fact_id.endswith(".description"):
            kinds.add("description")
    return frozenset(kinds)


def _restricted(index: FactIndex, allowed: set[str]) -> FactIndex:
    """The index limited to the facts a sentence cites (plus the two parties' names)."""
    return FactIndex(
        facts=[f for f in index.facts if f.id in allowed],
        numbers=[n for n in index.numbers if n[3] in allowed],
        percentages=[p for p in index.percentages if p[1] in allowed],
        dates=[d for d in index.dates if d[1] in allowed],
        times=[t for t in index.times if t[2] in allowed],
        tokens={k: v & allowed for k, v in index.tokens.items() if v & allowed},
        product_tokens={k: v & allowed for k, v in index.product_tokens.items() if v & allowed},
        texts=[t for t in index.texts if t[1] in allowed],
    )


def _converted_ground(claim: Claim, cited: Sequence[str], context: VerifyContext) -> list[str]:
    """An amount in another currency, converted from a cited amount with a cited rate fact ("fx.EUR.USD")."""
    if claim.kind != "amount" or claim.value is None or not claim.currency:
        return []
    for rate_id in cited:
        rate = context.facts.get(rate_id)
        parts = rate_id.split(".")
        if rate is None or rate.kind != "rate" or len(parts) != 3 or parts[2] != claim.currency:
            continue
        for value, kind, currency, fid in context.index.numbers:
            if fid in cited and kind == "amount" and currency == parts[1]:
                converted = value * Decimal(str(rate.raw))
                if abs(converted - claim.value) <= max(claim.tolerance, converted * CONVERSION_TOLERANCE):
                    return [fid, rate_id]
    return []


def _amount_currency(claim: Claim, ids: Sequence[str], context: VerifyContext) -> str:
    if claim.kind != "amount":
        return ""
    grounded = [currency for _v, kind, currency, fid in context.index.numbers if fid in ids and currency]
    if claim.currency == "USD":  # "$" written for a CAD amount is CAD
        return next((c for c in grounded if c in DOLLAR_FAMILY), claim.currency)
    return claim.currency or (grounded[0] if grounded else "")


def sentence_verify(
    *, text: str, fact_ids: Sequence[str] | None, context: VerifyContext, number: int | None = None
) -> SentenceVerdict:
    """The verdict on one sentence. `fact_ids` None: free text, auto-attributed against every trusted fact."""
    violations: list[Violation] = []
    masked = placeholders_masked(text)
    auto = fact_ids is None
    cited: list[str] = []
    if not auto:
        for fact_id in dict.fromkeys(fact_ids):
            if fact_id in context.facts:
                cited.append(fact_id)
            else:
                violations.append(
                    Violation(
                        "unknown_fact", fact_id, f"It cites {fact_id!r}, which is not a trusted CRM fact.", number
                    )
                )
    pool = context.index if auto else _restricted(context.index, {*cited, *ADDRESSING_IDS})
    currencies: list[str] = []
    grounded_ids: list[str] = []
    claims = claims_extract(masked)
    for claim in claims:
        # Free text may state a converted figure too: any stored rate and amount of the sheet can ground it.
        ids = claim_ground(claim, pool) or _converted_ground(claim, list(context.facts) if auto else cited, context)
        if ids:
            grounded_ids += ids
            if claim.kind == "amount":
                currencies.append(_amount_currency(claim, ids, context))
            continue
        code, message = UNGROUNDED_MESSAGES[claim.kind]
        if not auto and claim_ground(claim, context.index):
            code, message = "uncited_claim", "{text!r} is in the CRM facts, but not in the facts this sentence cites."
        violations.append(Violation(code, claim.text, message.format(text=claim.text), number))

    if auto:
        cited = list(dict.fromkeys([*grounded_ids, *_stage_mentions(text, context)]))
        cited += [fid for fid in common_word_mentions(text, context.index) if fid not in cited]
    violations += stage_violations(sentence=text, cited=cited, context=context, number=number)
    violations += role_violations(sentence=text, context=context, number=number)
    states_facts = any(fid not in ADDRESSING_IDS for fid in cited)
    is_courtesy = not states_facts and courtesy_match(sentence=text, patterns=context.courtesy)
    if not is_courtesy:
        cited_kinds = _cited_kinds(cited, context)
        benefit = benefit_claim_find(sentence=text, cited_kinds=cited_kinds)
        hits = [*claim_classes_find(sentence=text, cited_kinds=cited_kinds), *([benefit] if benefit else [])]
        violations += [Violation(hit.code, hit.text, hit.message, number) for hit in hits]
        if not states_facts and not any(v.code == "uncited_claim" for v in violations):
            hit = uncited_statement_find(sentence=text)
            if hit is not None:
                violations.append(Violation(hit.code, hit.text, hit.message, number))
    courtesy = not states_facts and not violations
    return SentenceVerdict(fact_ids=cited, violations=violations, courtesy=courtesy, currencies=currencies)


def currency_violations(*, verdicts: Sequence[SentenceVerdict]) -> list[Violation]:
    """One currency per draft: the first amount sets it; any amount in another currency is a violation."""
    first = ""
    out = []
    for number, verdict in enumerate(verdicts):
        for currency in verdict.currencies:
            if not currency:
                continue
            if not first:
                first = currency
            elif currency != first:
                out.append(
                    Violation(
                        "mixed_currency",
                        currency,
                        f"The draft states amounts in {first} and in {currency}; one currency per email "
                        "(convert with a stored rate, or leave the second figure out).",
                        number,
                    )
                )
    return out
