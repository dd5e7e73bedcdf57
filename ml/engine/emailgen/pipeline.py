"""One draft, end to end: generate -> parse -> sign and add the footer -> guardrails -> retry or fall back.

The model gets `options.max_attempts` tries (new seed each time, told which claims it made up last time);
a backend failure counts as a try. Then the deterministic composer writes the draft. Only text that passed
the guardrails is "ready": an ungrounded draft is never shipped as ready, whoever wrote it.

A structured reply (sentences with the fact ids each cites) becomes the message as written, and each sentence is
verified against exactly the facts it cites; free text is split into sentences and auto-attributed. Either way
a sentence that states no fact must claim nothing (see `claims` and `courtesy`).
"""

from __future__ import annotations

import re
import time
from collections.abc import Sequence

from ml.engine.emailgen.backends import BackendError, GenerationBackend
from ml.engine.emailgen.composer import SIGN_OFFS, body_with_footer, composer_draft, composer_greeting
from ml.engine.emailgen.courtesy import courtesy_patterns
from ml.engine.emailgen.guardrails import (
    BODY_HARD_MAX_CHARS,
    BODY_MAX_CHARS,
    body_split_footer,
    draft_check,
    sentences_split,
)
from ml.engine.emailgen.prompting import draft_json_schema, draft_parse, prompt_messages
from ml.engine.emailgen.types import Attempt, DraftOptions, DraftOutcome, FactSheet, GuardrailReport

COMPOSER_NAME = "composer"
COMPOSER_MODEL = "deterministic-composer"
# Greedy first (the most literal rewrite of the outline), then sampling for variety on retries.
TEMPERATURES = (0.0, 0.5, 0.8)
SIGN_OFF_RE = re.compile(
    r"^\s*(?:best|best regards|kind regards|warm regards|regards|warmly|sincerely|yours sincerely|yours truly|"
    r"yours|cheers|thanks|thanks again|thank you|many thanks|all the best|respectfully|best wishes)\s*[,.!]?\s*$",
    re.I,
)
# The model's greeting ("Dear [Recipient's Name],"), alone on its line or opening the first sentence.
GREETING_RE = re.compile(
    r"^\s*(?:hi|hello|hey|dear|greetings|good (?:morning|afternoon|evening))\b[^.!?,\n]{0,40}(?:[,!:]\s*|\s*$)", re.I
)
# What a retry is told to leave out: invented claims, not frame problems (length, footer) the pipeline fixes.
FEEDBACK_CODES = (
    "ungrounded_",
    "placeholder",
    "uncited_",
    "unknown_fact",
    "role_confusion",
    "invented_event",
    "promise",
    "announcement",
    "experience_claim",
    "time_reference",
    "mixed_currency",
)
SENTENCE_END_RE = re.compile(r"[.!?][\"')\]”’]*$")


def body_finish(*, body: str, fact_sheet: FactSheet, options: DraftOptions) -> str:
    """The model's body with the real greeting, sign-off and sender, trimmed to the length option and ending
    with the compliance footer.

    The model writes the message; the frame around it is ours. Its greeting line is replaced by the one built
    from the contact's name (small models write "Dear [Recipient's Name],"), and whatever it wrote from its
    sign-off on (an invented name, title, phone, address or unsubscribe line) is dropped. The claims inside the
    message are left exactly as written, for the guardrails to judge.
    """
    lines = body.strip().splitlines()
    cut = next((n for n, line in enumerate(lines) if n > 0 and SIGN_OFF_RE.match(line)), None)
    sign_off = SIGN_OFFS.get(options.tone, SIGN_OFFS["friendly"])
    if cut is not None:
        sign_off = lines[cut].strip()
        lines = lines[:cut]
    greeted = GREETING_RE.match(lines[0]) if lines else None
    if greeted is not None:
        rest = lines[0][greeted.end() :].strip()
        lines = ([rest[:1].upper() + rest[1:]] if rest else []) + lines[1:]
    greeting = composer_greeting(fact_sheet=fact_sheet, tone=options.tone)
    signature = f"{sign_off}\n{fact_sheet.sender_name}" if fact_sheet.sender_name else sign_off
    room = BODY_MAX_CHARS.get(options.length, BODY_HARD_MAX_CHARS) - len(greeting) - len(signature) - 4
    message = message_trim(text="\n".join(line for line in lines if "unsubscribe" not in line.lower()), room=room)
    return body_with_footer(body=f"{greeting}\n\n{message}\n\n{signature}", fact_sheet=fact_sheet)


def message_trim(*, text: str, room: int) -> str:
    """Whole sentences only: drop a sentence cut off by the token limit, then trailing sentences until the
    text fits `room` characters (the first sentence is always kept, so an over-long one still fails)."""
    paragraphs = [p.strip() for p in re.split(r"\n\s*\n", text.strip()) if p.strip()]
    pieces: list[tuple[int, str]] = []  # (paragraph number, sentence)
    for number, paragraph in enumerate(paragraphs):
        pieces += [(number, s) for s in sentences_split(paragraph)]
    if len(pieces) > 1 and not SENTENCE_END_RE.search(pieces[-1][1]):
        pieces.pop()
    while len(pieces) > 1 and _joined_length(pieces) > room:
        pieces.pop()
    return _joined(pieces)


def _joined(pieces: list[tuple[int, str]]) -> str:
    out: dict[int, list[str]] = {}
    for number, sentence in pieces:
        out.setdefault(number, []).append(sentence)
    return "\n\n".join(" ".join(sentences) for sentences in out.values())


def _joined_length(pieces: list[tuple[int, str]]) -> int:
    return len(_joined(pieces))


def draft_generate(
    *,
    fact_sheet: FactSheet,
    options: DraftOptions,
    backend: GenerationBackend | None,
    examples: Sequence[str] = (),
    max_new_tokens: int = 220,
    courtesy_phrases: Sequence[str] = (),
) -> DraftOutcome:
    """A checked draft for `fact_sheet`. `backend=None` means composer only (no fallback involved).
    `courtesy_phrases`: the organisation's own courtesy phrases beside the defaults."""
    started = time.perf_counter()
    attempts: list[Attempt] = []
    composed = composer_draft(
        fact_sheet=fact_sheet, options=options, courtesy=courtesy_patterns(phrases=courtesy_phrases)
    )
    outline_subject, outline_body = composed.subject, composed.body
    outline = f"Subject: {outline_subject}\n\n{body_split_footer(body=outline_body, fact_sheet=fact_sheet)[0]}"
    feedback: list[str] = []

    for number in range(max(0, options.max_attempts) if backend is not None else 0):
        seed = options.seed + number
        messages = prompt_messages(
            fact_sheet=fact_sheet,
            options=options,
            examples=examples,
            outline=outline,
            feedback=feedback,
            structured=True,
            outline_sentences=composed.sentences,
        )
        if getattr(backend, "continues_assistant_message", False):
            # Small models drift out of the format when sampling; starting their reply keeps it parseable.
            messages.append({"role": "assistant", "content": "Subject:"})
        attempt_started = time.perf_counter()
        try:
            result = backend.generate(
                messages,
                max_new_tokens=max_new_tokens,
                temperature=TEMPERATURES[min(number, len(TEMPERATURES) - 1)],
                seed=seed,
                json_schema=draft_json_schema(fact_sheet=fact_sheet, length=options.length),
            )
        except BackendError as exc:
            attempts.append(
                Attempt(
                    backend=backend.name,
                    model=backend.model_name,
                    passed=False,
                    error=str(exc),
                    seconds=time.perf_counter() - attempt_started,
                    seed=seed,
                )
            )
            if not exc.retryable:
                break
            continue
        parsed = draft_parse(text=result.text, fact_sheet=fact_sheet)
        if parsed.violation is not None:
            attempts.append(
                Attempt(
                    backend=result.backend,
                    model=result.model,
                    passed=False,
                    violations=[parsed.violation],
                    seconds=time.perf_counter() - attempt_started,
                    seed=seed,
                    completion_tokens=result.completion_tokens,
                )
            )
            continue
        subject = parsed.subject
        message = " ".join(s.text.strip() for s in parsed.sentences) if parsed.sentences else parsed.body
        body = body_finish(body=message, fact_sheet=fact_sheet, options=options)
        report = draft_check(
            subject=subject,
            body=body,
            fact_sheet=fact_sheet,
            length=options.length,
            sentences=parsed.sentences or None,
            courtesy_phrases=courtesy_phrases,
        )
        attempts.append(
            Attempt(
                backend=result.backend,
                model=result.model,
                passed=report.passed,
                violations=report.violations,
                seconds=time.perf_counter() - attempt_started,
                seed=seed,
                completion_tokens=result.completion_tokens,
            )
        )
        if report.passed:
            return _outcome(
                subject=subject,
                body=body,
                report=report,
                attempts=attempts,
                backend=result.backend,
                model=result.model,
                fallback_used=False,
                started=started,
            )
        feedback = [v.text for v in report.violations if v.code.startswith(FEEDBACK_CODES) and v.text]

    composed_started = time.perf_counter()
    report = draft_check(
        subject=outline_subject,
        body=outline_body,
        fact_sheet=fact_sheet,
        length=options.length,
        sentences=composed.sentences,
        courtesy_phrases=courtesy_phrases,
    )
    attempts.append(
        Attempt(
            backend=COMPOSER_NAME,
            model=COMPOSER_MODEL,
            passed=report.passed,
            violations=report.violations,
            seconds=time.perf_counter() - composed_started,
        )
    )
    return _outcome(
        subject=outline_subject,
        body=outline_body,
        report=report,
        attempts=attempts,
        backend=COMPOSER_NAME,
        model=COMPOSER_MODEL,
        fallback_used=backend is not None,
        started=started,
    )


def _outcome(
    *,
    subject: str,
    body: str,
    report: GuardrailReport,
    attempts: list[Attempt],
    backend: str,
    model: str,
    fallback_used: bool,
    started: float,
) -> DraftOutcome:
    error = ""
    if not report.passed:
        # Only the composer can get here without passing: typically a missing compliance footer in settings.
        error = "The draft did not pass the guardrails: " + "; ".join(v.message for v in report.violations)
    return DraftOutcome(
        status="ready" if report.passed else "failed",
        subject=subject,
        body=body,
        citations=report.citations,
        report=report,
        attempts=attempts,
        backend=backend,
        model=model,
        fallback_used=fallback_used,
        seconds=time.perf_counter() - started,
        error=error,
    )
