"""The data the email pipeline passes around. Plain dataclasses: JSON-serialisable through `as_dict`."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import date
from decimal import Decimal, InvalidOperation
from typing import Any

INTENTS = ("first_touch", "meeting_follow_up", "deal_nudge", "renewal", "win_back")
TONES = ("friendly", "formal", "direct")
LENGTHS = ("short", "medium", "long")


@dataclass(frozen=True)
class Fact:
    """One thing the CRM (or the organisation's settings) says, that a draft may state.

    `id` is stable and readable ("contact.first_name", "deal.42.amount", "activity.17.date", "product.3.name",
    "sender.name"); citations point at it. `value` is the display text as it may appear in an email.
    `raw` is the typed value for matching (Decimal, date, float, str). `trusted` is False for free text that
    CRM users typed (notes, email bodies): it is context for the writer but never grounds a number, amount,
    percentage, date, name or product, so instructions hidden in a note cannot make a claim pass.
    """

    id: str
    # person | company | amount | number | percentage | date | product | title | email | text | address | rate
    kind: str
    label: str  # "Deal amount", "Last meeting date"
    value: str
    raw: Any = None
    trusted: bool = True

    def as_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["raw"] = None if self.raw is None else str(self.raw)
        return data


@dataclass(frozen=True)
class ComplianceFooter:
    unsubscribe_text: str
    postal_address: str

    def render(self) -> str:
        return f"{self.unsubscribe_text}\n{self.postal_address}".strip()


@dataclass
class FactSheet:
    """What a draft may say about one contact (and optionally one deal), plus who sends it."""

    contact_first_name: str
    contact_name: str
    contact_email: str
    company_name: str
    sender_name: str
    sender_email: str
    organization_name: str
    footer: ComplianceFooter
    facts: list[Fact] = field(default_factory=list)

    def fact(self, fact_id: str) -> Fact | None:
        return next((f for f in self.facts if f.id == fact_id), None)

    def as_dict(self) -> dict[str, Any]:
        data = {k: v for k, v in asdict(self).items() if k not in ("facts", "footer")}
        data["footer"] = asdict(self.footer)
        data["facts"] = [f.as_dict() for f in self.facts]
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> FactSheet:
        """The sheet `as_dict` stored (with a draft), raw values typed again so a later check (a rep's edit)
        matches numbers and dates exactly as the first one did."""
        facts = [
            Fact(
                id=f["id"],
                kind=f["kind"],
                label=f.get("label", ""),
                value=f.get("value", ""),
                raw=_raw_typed(f.get("kind", ""), f.get("raw")),
                trusted=bool(f.get("trusted", True)),
            )
            for f in data.get("facts", [])
        ]
        footer = data.get("footer") or {}
        return cls(
            **{name: data.get(name, "") for name in SHEET_FIELDS},
            footer=ComplianceFooter(footer.get("unsubscribe_text", ""), footer.get("postal_address", "")),
            facts=facts,
        )


SHEET_FIELDS = (
    "contact_first_name",
    "contact_name",
    "contact_email",
    "company_name",
    "sender_name",
    "sender_email",
    "organization_name",
)


def _raw_typed(kind: str, raw: Any) -> Any:
    if raw is None or not isinstance(raw, str):
        return raw
    try:
        if kind == "date":
            return date.fromisoformat(raw[:10])
        if kind in ("amount", "number", "percentage", "rate"):
            return Decimal(raw)
    except (ValueError, InvalidOperation):
        return raw
    return raw


@dataclass(frozen=True)
class DraftOptions:
    intent: str = "first_touch"
    tone: str = "friendly"
    length: str = "short"
    max_attempts: int = 3  # generations tried before the deterministic composer takes over
    seed: int = 0


@dataclass(frozen=True)
class DraftSentence:
    """One sentence of a structured draft and the fact ids it says it states (empty: it claims nothing).

    The writer (model or composer) declares the citations; the verifier checks each sentence against exactly
    the facts it cites, and an uncited sentence must be plain courtesy or a call to action.
    """

    text: str
    fact_ids: tuple[str, ...] = ()


@dataclass(frozen=True)
class Citation:
    sentence_index: int
    sentence: str
    fact_ids: list[str]


@dataclass(frozen=True)
class Violation:
    # ungrounded_amount | ungrounded_number | ungrounded_percentage | ungrounded_date | ungrounded_name
    # | ungrounded_product | ungrounded_link | ungrounded_offer | placeholder | subject_length | body_length
    # | missing_footer | empty | unparseable
    # The claim policy (claims.py, courtesy.py): uncited_claim | unknown_fact | uncited_stage | role_confusion
    # | invented_event | promise | announcement | experience_claim | time_reference | mixed_currency
    code: str
    text: str  # the offending span
    message: str  # plain words for the rep
    sentence_index: int | None = None


@dataclass
class GuardrailReport:
    passed: bool
    violations: list[Violation] = field(default_factory=list)
    citations: list[Citation] = field(default_factory=list)
    claims_checked: int = 0

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class GenerationResult:
    text: str
    backend: str  # "local" | "openai" | "composer"
    model: str
    seconds: float
    prompt_tokens: int | None = None
    completion_tokens: int | None = None


@dataclass
class Attempt:
    backend: str
    model: str
    seconds: float
    passed: bool
    violations: list[Violation] = field(default_factory=list)
    error: str = ""  # backend failure (timeout, HTTP error, load error)
    seed: int | None = None  # sampling seed of a model attempt (None for the composer)
    completion_tokens: int | None = None


@dataclass
class DraftOutcome:
    """The pipeline's answer. status "ready" only when the shipped text passed the guardrails."""

    status: str  # "ready" | "failed"
    subject: str
    body: str  # includes the compliance footer
    citations: list[Citation]
    report: GuardrailReport  # the verdict on the shipped text
    attempts: list[Attempt]
    backend: str  # backend whose text shipped
    model: str
    fallback_used: bool
    seconds: float
    error: str = ""

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)
