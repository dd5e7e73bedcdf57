"""A rep's edited draft through the same verifier as a generated one.

The edit is checked against the fact sheet stored with the draft (what the draft was written from) and the
organisation's courtesy phrases, as free text: each sentence's claims are auto-attributed to trusted facts, and
a sentence that states none must claim nothing. What cannot be verified is listed sentence by sentence for
the rep, who may still send it as their own words. The compliance footer is not the rep's to drop: it must
still be there (anywhere: a P.S. after it is fine), and placeholders must be filled.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ml.engine.emailgen.guardrails import draft_check
from ml.engine.emailgen.types import FactSheet, GuardrailReport

# Problems no rep may wave through as "own words": the legal footer, unfilled placeholders, empty text.
BLOCKING_CODES = frozenset({"missing_footer", "placeholder", "empty"})


@dataclass
class EditCheck:
    report: GuardrailReport
    issues: list[dict[str, Any]] = field(default_factory=list)  # unverifiable: sentence, code, text, message
    blocking: list[dict[str, Any]] = field(default_factory=list)

    @property
    def verified(self) -> bool:
        return not self.issues and not self.blocking

    def as_dict(self, *, own_words: bool) -> dict[str, Any]:
        return {
            "passed": self.verified,
            "own_words": own_words and not self.verified,
            "issues": self.issues,
            "citations": [
                {"sentence": c.sentence_index, "text": c.sentence, "fact_ids": c.fact_ids}
                for c in self.report.citations
            ],
        }


def email_edit_check(
    *, fact_sheet_data: dict[str, Any], subject: str, body: str, courtesy_phrases: list[str]
) -> EditCheck:
    """The verifier's verdict on the rep's subject and body."""
    fact_sheet = FactSheet.from_dict(fact_sheet_data)
    footer = fact_sheet.footer.render()
    has_footer = bool(footer) and footer in body
    # Checked as if the footer ended the email, wherever the rep left it.
    content = body.replace(footer, "").strip() if has_footer else body
    report = draft_check(
        subject=subject,
        body=f"{content}\n\n{footer}" if has_footer else content,
        fact_sheet=fact_sheet,
        courtesy_phrases=courtesy_phrases,
    )
    sentences = {c.sentence_index: c.sentence for c in report.citations}
    check = EditCheck(report=report)
    for violation in report.violations:
        item = {
            "sentence": sentences.get(violation.sentence_index, subject if violation.sentence_index is None else ""),
            "code": violation.code,
            "text": violation.text,
            "message": violation.message,
        }
        if violation.code in BLOCKING_CODES:
            check.blocking.append(item)
        elif violation.code not in ("body_length", "subject_length"):  # the form's own limits apply to edits
            check.issues.append(item)
    return check
