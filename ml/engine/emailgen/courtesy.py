"""Sentences that claim nothing: courtesy and calls to action, and the patterns that betray an invented claim.

A sentence that cites no fact ships only when it claims nothing. Two ways to know that: it matches one of the
courtesy phrases (the defaults below plus the organisation's own, `*` standing for a few words), or it passes
the conservative check: none of the claim classes below fires. The classes are the inventions small models
make when they have nothing to say: the sender's past ("we've implemented"), promises ("as promised"), meetings
that never happened ("our upcoming meeting", "great to meet you"), launches, the sender's experience ("as a
marketing specialist") and time references ("in recent months"). A class is forgiven only when the sentence
cites a fact that carries it (a meeting or call activity for a meeting, a date for a time reference).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

DEFAULT_COURTESY_PHRASES = (
    "I hope * well",
    "I hope this email finds you well",
    "I hope you are doing well",
    "I hope you're doing well",
    "Thank you for your time",
    "Thanks for your time",
    "Thank you",
    "Thanks",
    "Thanks in advance",
    "Looking forward to hearing from you",
    "I look forward to hearing from you",
    "I look forward to your reply",
    "Let me know what you think",
    "Please let me know what you think",
    "Please let me know if you have any questions",
    "Let me know if you have any questions",
    "Feel free to reply to this email",
    "Would you be open to a short call",
    "Would you be up for a short call",
    "Have a great day",
    "Have a great week",
)
WILDCARD_WORDS = 6  # "*" in a phrase stands for at most this many words

# code -> (pattern, the kind of cited fact that forgives it or "" for never, plain message for the rep)
CLAIM_CLASSES: dict[str, tuple[re.Pattern, str, str]] = {
    "promise": (
        re.compile(
            r"\bas (?:promised|agreed|requested)\b|\bI promise\b|\bguarantee[sd]?\b|"
            # Any first-person future ("I'll give you some tips", "we will be in touch"): a commitment the CRM
            # has no record of. Calls to action ask instead ("Would you be open to…?", "Let me know…").
            r"\b(?:I|we)(?:'ll| will| shall|'m going to| am going to|'re going to| are going to)\b",
            re.I,
        ),
        "",
        "It promises something the CRM has no record of.",
    ),
    "invented_event": (
        re.compile(
            r"\b(?:our|the|your|my)\s+(?:upcoming|previous|previously scheduled|scheduled|planned|last|recent|"
            r"earlier|next|latest|first|initial|productive|great|recent)?\s*(?:meeting|call|demo|conversation|chat|"
            r"discussion|talk|session|catch-up|visit)s?\b|"
            r"\b(?:great|nice|good|lovely|wonderful|a pleasure|pleasure|glad|happy|thrilled|delighted)\s+(?:to\s+)?"
            r"(?:meet(?:ing)?|(?:have\s+)?met|speak(?:ing)?|(?:have\s+)?spoken|talk(?:ing)?|(?:have\s+)?talked|"
            r"chat(?:ting)?|connect(?:ing)?|(?:have\s+)?connected)\b|"
            r"\b(?:when|since|after|as)\s+we\s+(?:last\s+)?(?:met|spoke|talked|discussed|chatted)\b|"
            r"\b(?:I|we)(?:'ve| have| had)?\s+(?:recently\s+|just\s+|already\s+)?(?:met|spoke|talked|discussed|"
            r"chatted|worked|implemented|launched|built|released|introduced|developed|helped|completed|partnered|"
            r"rolled out|delivered|created|added|hired|won|expanded|grown|noticed|seen|used|had the opportunity|"
            r"been working|been helping)\b|"
            r"\bpreviously scheduled\b|\bas (?:discussed|mentioned|we discussed)\b|\bagain\b",
            re.I,
        ),
        "activity",
        "It mentions a meeting, call or event of ours that the CRM has no record of.",
    ),
    "announcement": (
        re.compile(
            r"\b(?:announc\w*|launch\w*|introducing|unveil\w*|just released|now available|"
            r"new (?:system|feature|features|product|release|version|platform|tool|solution|service|offering))\b",
            re.I,
        ),
        "",
        "It announces a launch or novelty that is not in the facts.",
    ),
    "experience_claim": (
        re.compile(
            r"\bas an?\s+(?:[\w-]+\s+){0,3}?(?:specialist|manager|expert|consultant|professional|director|leader|"
            r"engineer|analyst|representative|rep|executive|veteran|marketer|advisor|adviser)\b(?!\s*,?\s*you\b)|"
            r"\b(?:I|we)(?:'m|'re| am| are)\s+(?:a|an|the)\s+(?:[\w-]+\s+){0,3}?(?:specialist|manager|expert|"
            r"consultant|professional|director|leader|head|engineer|analyst|representative|executive|marketer|"
            r"founder|owner)\b|"
            r"\byears of experience\b|\bin my experience\b|\bmy (?:experience|background|expertise|career)\b|"
            r"\b(?:I|we)(?:'ve| have)\s+(?:over\s+)?(?:\d+|many|several|years of|extensive|decades)\b",
            re.I,
        ),
        "",
        "It claims experience or a role for the sender that is not in the facts.",
    ),
    "time_reference": (
        re.compile(
            r"\bin recent (?:days|weeks|months|years)\b|\brecently\b|\blately\b|\byesterday\b|\bthis morning\b|"
            r"\b(?:last|this past) (?:week|month|quarter|year)\b|\bearlier this (?:week|month|quarter|year)\b|"
            r"\b(?:over|in|during) the (?:past|last) (?:few |couple of )?(?:days|weeks|months|years)\b",
            re.I,
        ),
        "date",
        "It refers to a time that no cited fact carries.",
    ),
}
# Statements about us, our product or the recipient that cite nothing: a claim, whatever its words.
UNCITED_STATEMENT_RE = re.compile(
    r"\b(?:we|our (?:\w+\s+)?(?:team|product|platform|solution|software|company|business|service|tool)s?)\s+"
    r"(?:help|helps|helped|cut|cuts|reduce|reduces|increase|increases|improve|improves|save|saves|boost|boosts|"
    r"deliver|delivers|offer|offers|provide|provides|work with|serve|serves|specialize|specialise|are|is|have|has)\b"
    r"(?!\s+(?:happy|glad|here|available|looking|keen|eager|always happy)\b)|"
    r"(?<!\bif )(?<!whether )(?<!\bwhen )"
    r"\b(?:you|your (?:\w+\s+)?(?:team|company|business|organi[sz]ation))\s+(?:are|is|have|has|use|uses|need|needs|"
    r"were|had|struggle|struggles|face|faces|want|wants)\b|"
    r"\b(?:your|their)\s+(?:expertise|experience|success|growth|reputation)\b",
    re.I,
)
REQUEST_RE = re.compile(r"^\s*(?:please|kindly|let me know|do let me know|feel free)\b", re.I)
CONDITION_RE = re.compile(r"\b(?:if|whether|when|what|whatever|anything|how|in case)\b", re.I)
UNCITED_STATEMENT_MESSAGE = "It states something about us, our product or the recipient without citing a fact."
# Results and benefits ("cuts costs by half", "our clients see great results"): only a cited product
# description may carry them, whatever else the sentence cites.
BENEFIT_RE = re.compile(
    r"\b(?:cuts?|reduc(?:e|es|ed|ing)|increas(?:e|es|ed|ing)|improv(?:e|es|ed|ing)|sav(?:e|es|ed|ing)|boost(?:s|ed)?|"
    r"doubl(?:e|es|ed)|tripl(?:e|es|ed)|halv(?:e|es|ed)|by half|faster|more efficient|proven|results?|"
    r"(?:our|happy|satisfied) (?:clients|customers)|trusted by|industry-leading|best-in-class|leading provider)\b",
    re.I,
)
BENEFIT_MESSAGE = "It claims a result or benefit that no cited fact (a product description) states."


@dataclass(frozen=True)
class ClassHit:
    code: str
    text: str
    message: str


def courtesy_compile(phrases: Sequence[str]) -> tuple[re.Pattern, ...]:
    """Phrases -> whole-sentence patterns: case-insensitive, trailing punctuation ignored, `*` = a few words."""
    compiled = []
    for phrase in phrases:
        words = phrase.strip().rstrip(".!?,").split()
        if not words:
            continue
        parts = [
            rf"(?:[\w'’-]+\s+){{0,{WILDCARD_WORDS - 1}}}[\w'’-]+" if word == "*" else re.escape(word) for word in words
        ]
        compiled.append(re.compile(r"^\s*" + r"\s+".join(parts) + r"\s*[.!?,]*\s*$", re.I))
    return tuple(compiled)


DEFAULT_COURTESY = courtesy_compile(DEFAULT_COURTESY_PHRASES)


def courtesy_patterns(*, phrases: Sequence[str] = ()) -> tuple[re.Pattern, ...]:
    """The default courtesy patterns plus the organisation's phrases."""
    return (*DEFAULT_COURTESY, *courtesy_compile([p for p in phrases if not courtesy_phrase_invalid(p)]))


def courtesy_phrase_invalid(phrase: str) -> str:
    """Why an organisation's phrase cannot be a courtesy pattern ("" when it can): it must be words, and a
    single wildcard would let anything through."""
    words = phrase.strip().rstrip(".!?,").split()
    if not words:
        return "A phrase needs at least one word."
    if all(word == "*" for word in words):
        return "A phrase cannot be only wildcards."
    if any(ch.isdigit() for ch in phrase):
        return "A courtesy phrase cannot contain numbers: numbers are claims."
    if len(phrase) > 200:
        return "At most 200 characters."
    return ""


# Typographic quotes as plain ones, so "I’ll" (a model's or a rep's keyboard) meets the same patterns as "I'll".
PLAIN_QUOTES = str.maketrans({"\u2019": "'", "\u2018": "'", "\u02bc": "'", "\u2032": "'", "\u201c": '"', "\u201d": '"'})


def quotes_plain(text: str) -> str:
    return text.translate(PLAIN_QUOTES)


def courtesy_match(*, sentence: str, patterns: Sequence[re.Pattern]) -> bool:
    sentence = quotes_plain(sentence)
    return any(p.match(sentence) for p in patterns)


def claim_classes_find(*, sentence: str, cited_kinds: frozenset[str]) -> list[ClassHit]:
    """The claim classes the sentence makes that its cited facts do not carry. `cited_kinds`: "activity" when
    it cites a meeting/call/email activity, "date" when it cites any date fact."""
    sentence = quotes_plain(sentence)
    hits = []
    for code, (pattern, forgiven_by, message) in CLAIM_CLASSES.items():
        if forgiven_by and forgiven_by in cited_kinds:
            continue
        m = pattern.search(sentence)
        if m is not None:
            hits.append(ClassHit(code, m.group(0).strip(), message))
    return hits


def benefit_claim_find(*, sentence: str, cited_kinds: frozenset[str]) -> ClassHit | None:
    """A result or benefit stated as fact (a question may ask about one) without a cited product description."""
    if "description" in cited_kinds or sentence.rstrip().endswith("?"):
        return None
    m = BENEFIT_RE.search(quotes_plain(sentence))
    return None if m is None else ClassHit("uncited_claim", m.group(0), BENEFIT_MESSAGE)


def uncited_statement_find(*, sentence: str) -> ClassHit | None:
    """A declarative statement about us, our product or the recipient (questions ask, they do not claim)."""
    sentence = quotes_plain(sentence)
    if sentence.rstrip().endswith("?") or REQUEST_RE.match(sentence):
        return None
    for m in UNCITED_STATEMENT_RE.finditer(sentence):
        # "… if there is anything you need": a condition or a relative clause, not a statement.
        if not CONDITION_RE.search(sentence[: m.start()]):
            return ClassHit("uncited_claim", m.group(0), UNCITED_STATEMENT_MESSAGE)
    return None
