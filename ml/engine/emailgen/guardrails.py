"""Deterministic checks every draft passes before a rep sees it, whatever wrote it.

Each sentence is scanned for claims: money amounts, percentages, numbers, dates (absolute, weekday, relative),
links and capitalised names (people, companies, products). A claim is grounded only by a TRUSTED fact of the
fact sheet: numbers by value (tolerant of "12.5k" vs "12,500"), dates as dates, names by token,
case-insensitively. Untrusted facts (notes typed into the CRM) never ground anything, so an instruction hidden in
a note cannot make its claim pass. The facts a sentence's claims matched are its citations.

Beside grounding: unfilled placeholders, subject and body length, and the exact compliance footer at the end.
The claim policy on top (each sentence cites the facts it states or claims nothing; who-is-who; stages; one
currency) lives in `claims` and `courtesy`; `draft_check` applies all of it.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal, InvalidOperation

from ml.engine.emailgen.types import Citation, DraftSentence, Fact, FactSheet, GuardrailReport, Violation

SUBJECT_MAX_CHARS = 78
BODY_MAX_CHARS = {"short": 600, "medium": 900, "long": 1200}  # before the footer
BODY_HARD_MAX_CHARS = 1200
BODY_MIN_CHARS = 20

# --- vocabulary ------------------------------------------------------------------------------------------------

MONTHS = {
    "january": 1, "february": 2, "march": 3, "april": 4, "may": 5, "june": 6, "july": 7, "august": 8,
    "september": 9, "october": 10, "november": 11, "december": 12,
    "jan": 1, "feb": 2, "mar": 3, "apr": 4, "jun": 6, "jul": 7, "aug": 8, "sep": 9, "sept": 9, "oct": 10,
    "nov": 11, "dec": 12,
}  # fmt: skip
WEEKDAYS = {"monday": 0, "tuesday": 1, "wednesday": 2, "thursday": 3, "friday": 4, "saturday": 5, "sunday": 6}

# Capitalised words that are not names: sentence starts, greetings, sign-offs, title-cased subjects.
COMMON_WORDS = frozenset(
    [
        "a",
        "about",
        "above",
        "after",
        "again",
        "against",
        "all",
        "also",
        "am",
        "an",
        "and",
        "another",
        "any",
        "anyone",
        "anything",
        "are",
        "as",
        "at",
        "away",
        "back",
        "be",
        "because",
        "been",
        "before",
        "being",
        "below",
        "best",
        "between",
        "both",
        "but",
        "by",
        "can",
        "could",
        "did",
        "do",
        "does",
        "doing",
        "done",
        "down",
        "during",
        "each",
        "either",
        "else",
        "even",
        "ever",
        "every",
        "few",
        "for",
        "from",
        "further",
        "had",
        "has",
        "have",
        "having",
        "he",
        "her",
        "here",
        "hers",
        "herself",
        "him",
        "himself",
        "his",
        "how",
        "however",
        "i",
        "if",
        "in",
        "into",
        "is",
        "it",
        "its",
        "itself",
        "just",
        "least",
        "less",
        "let",
        "like",
        "may",
        "maybe",
        "me",
        "might",
        "mine",
        "more",
        "most",
        "much",
        "must",
        "my",
        "myself",
        "neither",
        "never",
        "no",
        "nor",
        "not",
        "now",
        "of",
        "off",
        "on",
        "once",
        "one",
        "only",
        "or",
        "other",
        "others",
        "otherwise",
        "our",
        "ours",
        "ourselves",
        "out",
        "over",
        "own",
        "perhaps",
        "quite",
        "rather",
        "same",
        "shall",
        "she",
        "should",
        "since",
        "so",
        "some",
        "someone",
        "something",
        "soon",
        "still",
        "such",
        "than",
        "that",
        "the",
        "their",
        "theirs",
        "them",
        "themselves",
        "then",
        "there",
        "these",
        "they",
        "this",
        "those",
        "though",
        "through",
        "thus",
        "to",
        "too",
        "under",
        "until",
        "up",
        "upon",
        "us",
        "very",
        "via",
        "was",
        "we",
        "were",
        "what",
        "whatever",
        "when",
        "where",
        "whether",
        "which",
        "while",
        "who",
        "whom",
        "whose",
        "why",
        "will",
        "with",
        "within",
        "without",
        "would",
        "yet",
        "you",
        "your",
        "yours",
        "yourself",
        "yourselves",
        "hi",
        "hello",
        "hey",
        "dear",
        "greetings",
        "good",
        "morning",
        "afternoon",
        "evening",
        "thanks",
        "thank",
        "regards",
        "kind",
        "kindest",
        "warm",
        "warmest",
        "warmly",
        "sincerely",
        "cheers",
        "best",
        "wishes",
        "yours",
        "cordially",
        "respectfully",
        "talk",
        "soon",
        "speak",
        "later",
        "all",
        "the",
        "best",
        "hope",
        "hoping",
        "trust",
        "trusting",
        "glad",
        "happy",
        "pleased",
        "great",
        "wonderful",
        "excited",
        "delighted",
        "sorry",
        "apologies",
        "congratulations",
        "just",
        "quick",
        "following",
        "follow",
        "followup",
        "up",
        "checking",
        "check",
        "touching",
        "touch",
        "base",
        "reaching",
        "reach",
        "writing",
        "write",
        "wanted",
        "want",
        "wanting",
        "looking",
        "look",
        "let",
        "lets",
        "please",
        "feel",
        "free",
        "happy",
        "would",
        "love",
        "like",
        "could",
        "can",
        "shall",
        "re",
        "fw",
        "fwd",
        "subject",
        "ps",
        "p.s",
        "note",
        "nb",
        "fyi",
        "asap",
        "ok",
        "okay",
        "yes",
        "no",
        "sure",
        "absolutely",
        "certainly",
        "definitely",
        "meeting",
        "meetings",
        "call",
        "calls",
        "demo",
        "demos",
        "chat",
        "conversation",
        "discussion",
        "session",
        "review",
        "workshop",
        "presentation",
        "renewal",
        "renewals",
        "contract",
        "contracts",
        "deal",
        "deals",
        "proposal",
        "proposals",
        "quote",
        "quotes",
        "pricing",
        "price",
        "prices",
        "plan",
        "plans",
        "offer",
        "offers",
        "update",
        "updates",
        "next",
        "steps",
        "step",
        "idea",
        "ideas",
        "question",
        "questions",
        "thoughts",
        "thought",
        "time",
        "times",
        "today",
        "tomorrow",
        "week",
        "weeks",
        "month",
        "months",
        "quarter",
        "quarters",
        "year",
        "years",
        "day",
        "days",
        "morning",
        "team",
        "teams",
        "company",
        "companies",
        "account",
        "accounts",
        "customer",
        "customers",
        "client",
        "clients",
        "partner",
        "partners",
        "partnership",
        "business",
        "product",
        "products",
        "service",
        "services",
        "platform",
        "solution",
        "solutions",
        "support",
        "success",
        "value",
        "results",
        "goals",
        "goal",
        "priorities",
        "priority",
        "growth",
        "revenue",
        "sales",
        "marketing",
        "operations",
        "finance",
        "data",
        "insights",
        "analytics",
        "pipeline",
        "process",
        "processes",
        "budget",
        "budgets",
        "cost",
        "costs",
        "savings",
        "roi",
        "crm",
        "api",
        "ai",
        "saas",
        "b2b",
        "kpi",
        "kpis",
        "ceo",
        "cto",
        "cfo",
        "coo",
        "cio",
        "cmo",
        "vp",
        "svp",
        "evp",
        "hr",
        "it",
        "it's",
        "i'm",
        "i'd",
        "i'll",
        "i've",
        "we're",
        "we'd",
        "we'll",
        "we've",
        "you're",
        "you'd",
        "you'll",
        "you've",
        "let's",
        "that's",
        "there's",
        "here's",
        "what's",
        "don't",
        "doesn't",
        "didn't",
        "can't",
        "won't",
        "wouldn't",
        "couldn't",
        "shouldn't",
        "isn't",
        "aren't",
        "wasn't",
        "weren't",
        "haven't",
        "hasn't",
        "recently",
        "currently",
        "already",
        "again",
        "also",
        "finally",
        "first",
        "second",
        "third",
        "last",
        "new",
        "recent",
        "latest",
        "short",
        "brief",
        "quickly",
        "happily",
        "unfortunately",
        "fortunately",
        "hopefully",
        "ideally",
        "given",
        "based",
        "regarding",
        "re:",
        "about",
        "welcome",
        "welcoming",
        "onboarding",
        "getting",
        "started",
        "start",
        "started",
        "starting",
        "continue",
        "continuing",
        "keep",
        "keeping",
        "wishing",
        "wish",
        "appreciate",
        "appreciated",
        "appreciating",
        "enjoyed",
        "enjoy",
        "enjoying",
        "loved",
        "great",
        "grateful",
        "thankful",
        "mr",
        "mrs",
        "ms",
        "miss",
        "dr",
        "prof",
        "sir",
        "madam",
        "team",
        "request",
        "requests",
        "introduction",
        "intro",
        "opportunity",
        "opportunities",
        "collaboration",
        "invitation",
        "invite",
        "reminder",
        "feedback",
        "agenda",
        "summary",
        "recap",
        "overview",
        "inquiry",
        "information",
        "details",
        "detail",
        "options",
        "option",
        "proposal",
        "offerings",
        "important",
        "quick",
        "brief",
        "friendly",
        "reminder",
        "exciting",
        "news",
        "announcement",
    ]
)
ACRONYMS = frozenset(
    {
        "crm",
        "roi",
        "api",
        "ai",
        "saas",
        "b2b",
        "kpi",
        "kpis",
        "ceo",
        "cto",
        "cfo",
        "coo",
        "cio",
        "cmo",
        "vp",
        "svp",
        "evp",
        "hr",
        "it",
        "ps",
        "fyi",
        "asap",
        "faq",
        "qbr",
        "ok",
        "re",
        "fw",
        "fwd",
        "nb",
        "eu",
        "us",
        "uk",
        "usa",
    }
)
CURRENCY_SYMBOLS = {"$": "USD", "€": "EUR", "£": "GBP", "¥": "JPY"}
CURRENCY_CODES = (
    "USD",
    "EUR",
    "GBP",
    "CAD",
    "AUD",
    "CHF",
    "JPY",
    "INR",
    "SEK",
    "NOK",
    "DKK",
    "NZD",
    "SGD",
    "CNY",
    "BRL",
    "MXN",
    "PLN",
    "ZAR",
    "HKD",
)
CURRENCY_WORDS = {"dollars": "USD", "dollar": "USD", "euros": "EUR", "euro": "EUR", "pounds": "GBP"}
DOLLAR_FAMILY = {"USD", "CAD", "AUD", "NZD", "SGD", "HKD"}  # "$" may mean any of these
MULTIPLIERS = {
    "k": 1_000,
    "thousand": 1_000,
    "m": 1_000_000,
    "mn": 1_000_000,
    "million": 1_000_000,
    "bn": 1_000_000_000,
    "b": 1_000_000_000,
    "billion": 1_000_000_000,
}
PRODUCT_NOUNS = (
    "plan",
    "edition",
    "suite",
    "platform",
    "tier",
    "package",
    "bundle",
    "add-on",
    "addon",
    "module",
    "app",
    "license",
    "licence",
    "subscription",
    "product",
    "solution",
    "tool",
    "service",
    "version",
    "cloud",
    "engine",
    "studio",
    "hub",
    "console",
)
PRODUCT_MARKERS = frozenset(
    {
        "pro",
        "plus",
        "premium",
        "enterprise",
        "ultimate",
        "max",
        "ultra",
        "lite",
        "starter",
        "professional",
        "business",
        "team",
        "advanced",
        "basic",
        "essentials",
        "growth",
    }
)
COMPANY_SUFFIXES = frozenset(
    {"inc", "corp", "corporation", "ltd", "llc", "gmbh", "ag", "co", "plc", "sa", "bv", "kg", "limited", "group"}
)
ABBREVIATIONS = (
    "mr",
    "mrs",
    "ms",
    "dr",
    "prof",
    "inc",
    "ltd",
    "co",
    "corp",
    "st",
    "jr",
    "sr",
    "vs",
    "etc",
    "e.g",
    "i.e",
    "jan",
    "feb",
    "mar",
    "apr",
    "jun",
    "jul",
    "aug",
    "sep",
    "sept",
    "oct",
    "nov",
    "dec",
    "no",
    "approx",
)
SENTENCE_START_SUFFIXES = ("ly", "ing", "ed", "ions", "ness", "ment", "ments")

# --- patterns ---------------------------------------------------------------------------------------------------

_NUM = r"\d{1,3}(?:,\d{3})+(?:\.\d+)?|\d+(?:\.\d+)?"
_MULT = r"(?:k|K|m|M|mn|bn|B|thousand|million|billion)"
_MONTH = (
    r"(?:January|February|March|April|May|June|July|August|September|October|November|December|"
    r"Jan|Feb|Mar|Apr|Jun|Jul|Aug|Sept|Sep|Oct|Nov|Dec)"
)
_CODES = "|".join(CURRENCY_CODES)
LINK_RE = re.compile(r"\b[\w.+-]+@[\w-]+(?:\.[\w-]+)+\b|\bhttps?://\S+|\bwww\.[\w-]+(?:\.[\w/?=&%#-]+)+", re.I)
ISO_DATE_RE = re.compile(r"\b(\d{4})-(\d{1,2})-(\d{1,2})(?:[T ]\d{1,2}:\d{2}(?::\d{2})?)?\b")
SLASH_DATE_RE = re.compile(r"\b(\d{1,2})[/.](\d{1,2})[/.](\d{4}|\d{2})\b")
MONTH_DAY_RE = re.compile(rf"\b({_MONTH})\.?\s+(\d{{1,2}})(?:st|nd|rd|th)?\b(?:,?\s+(\d{{4}})\b)?")
DAY_MONTH_RE = re.compile(rf"\b(\d{{1,2}})(?:st|nd|rd|th)?\s+(?:of\s+)?({_MONTH})\b\.?(?:,?\s+(\d{{4}})\b)?")
MONTH_YEAR_RE = re.compile(rf"\b({_MONTH})\.?,?\s+(\d{{4}})\b")
MONTH_RE = re.compile(r"\b(January|February|March|April|June|July|August|September|October|November|December)\b")
WEEKDAY_RE = re.compile(
    r"\b(?:(?:next|this|last|coming)\s+)?(Monday|Tuesday|Wednesday|Thursday|Friday|Saturday|"
    r"Sunday)s?\b",
    re.I,
)
QUARTER_RE = re.compile(r"\b(?:Q([1-4])|(first|second|third|fourth) quarter)(?:\s+(?:of\s+)?(\d{4}))?\b", re.I)
RELATIVE_RE = re.compile(
    r"\b(?:(?:next|this|last|coming|following)\s+(?:week|month|quarter|year|weekend)|tomorrow|yesterday|tonight|"
    r"(?:early|later|end of|beginning of|start of|middle of)\s+(?:the\s+|this\s+|next\s+)?"
    r"(?:week|month|quarter|year)|in\s+(?:a|one|two|three|four|five|six|a few|\d+)\s+(?:days?|weeks?|months?)|"
    r"EO[DWMQY]|(?:a|one|two|three|\d+)\s+(?:days?|weeks?|months?)\s+(?:ago|from now))\b",
    re.I,
)
TIME_RE = re.compile(r"\b(\d{1,2})(?::(\d{2}))?\s?(am|pm|a\.m\.|p\.m\.)(?=\W|$)|\b(\d{1,2}):(\d{2})\b", re.I)
MONEY_PREFIX_RE = re.compile(rf"(?:([$€£¥])|\b({_CODES})\b)\s?({_NUM})(?:\s?({_MULT})\b)?", re.I)
MONEY_SUFFIX_RE = re.compile(rf"\b({_NUM})(?:\s?({_MULT}))?\s?(?:([€£])|\b({_CODES}|dollars?|euros?|pounds)\b)", re.I)
# Offers are what reps complain about most when a writer invents them: only a trusted fact can make one.
OFFER_RE = re.compile(
    r"\b(?:discount(?:s|ed)?|free\s+(?:trial|month|months|upgrade|of charge|shipping|onboarding|seats?|licen[cs]es?)|"
    r"for free|at no (?:extra )?cost|complimentary|promo(?:tion(?:al)?)?(?: code)?|coupon|rebate|cash ?back|"
    r"waive[ds]?|special (?:offer|price|pricing|deal|rate)|price (?:cut|reduction|match)|money-back|refund)\b",
    re.I,
)
PERCENT_RE = re.compile(rf"(?<![\w.])({_NUM})\s?(?:%|percent\b|per cent\b)", re.I)
NUMBER_RE = re.compile(rf"(?<![\w.,])({_NUM})(?:\s?({_MULT})\b)?(?:st|nd|rd|th)?(?![\w])")
ALNUM_RE = re.compile(r"\b(?=[A-Za-z]*\d)(?=\d*[A-Za-z])[A-Za-z0-9]*[A-Za-z][A-Za-z0-9]*\b")
WORD_RE = re.compile(r"[^\W\d_](?:[\w'’&.-]*[^\W_])?")
PLACEHOLDER_RES = (
    re.compile(r"\[[^\]\n]{0,60}\]"),
    re.compile(r"\{\{?[^}\n]{0,60}\}?\}"),
    re.compile(r"<\s*[A-Za-z_][\w .-]{0,40}>"),
    re.compile(r"\$\{\w+\}|%\(\w+\)s|%s\b"),
    re.compile(r"\b(?:X{2,}|x{3,}|TBD|TBA|TODO|FIXME|N/A|lorem ipsum)\b"),
    re.compile(r"_{3,}"),
)
SENTENCE_SPLIT_RE = re.compile(r"(?:(?<=[.!?])|(?<=[.!?][\"')\]”’]))\s+(?=[\"'(\[“‘]*[A-Z0-9])")


# --- claims and facts -----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Claim:
    """One checkable statement inside a sentence."""

    kind: str  # amount | percentage | number | date | name | product | link | offer
    text: str
    start: int
    end: int
    value: Decimal | None = None
    tolerance: Decimal = Decimal(0)
    currency: str = ""
    # Dates: (year, month, day), any part None when not written; 20/11 vs 11/20 readings go in alternatives.
    # A date claim without ymd is a weekday, quarter, time of day or relative phrase ("next week").
    ymd: tuple = ()
    ymd_alternatives: tuple = ()
    weekday: int | None = None
    quarter: tuple[int, int | None] | None = None
    time: tuple[int, int] | None = None
    tokens: tuple[str, ...] = ()
    our_product: bool = False


@dataclass
class FactIndex:
    """The trusted facts, pre-parsed for matching."""

    facts: list[Fact]
    numbers: list[tuple[Decimal, str, str, str]] = field(default_factory=list)  # value, fact kind, currency, fact id
    percentages: list[tuple[Decimal, str]] = field(default_factory=list)
    dates: list[tuple[date, str]] = field(default_factory=list)
    times: list[tuple[int, int, str]] = field(default_factory=list)
    tokens: dict[str, set[str]] = field(default_factory=dict)  # lower-case word -> fact ids
    product_tokens: dict[str, set[str]] = field(default_factory=dict)
    texts: list[tuple[str, str]] = field(default_factory=list)  # lower-case value, fact id


def _decimal(text: str) -> Decimal | None:
    try:
        return Decimal(text.replace(",", ""))
    except InvalidOperation:
        return None


def _number_claim(
    kind: str, match_text: str, start: int, end: int, number: str, mult: str | None, currency: str = ""
) -> Claim | None:
    value = _decimal(number)
    if value is None:
        return None
    decimals = len(number.split(".", 1)[1]) if "." in number else 0
    factor = Decimal(MULTIPLIERS.get((mult or "").lower(), 1))
    # A rounded figure ("12.5k") is right when the fact rounds to it: half a unit of its last digit.
    tolerance = Decimal("0.5") * Decimal(10) ** -decimals * factor if factor > 1 else Decimal("0.005")
    return Claim(kind, match_text, start, end, value=value * factor, tolerance=tolerance, currency=currency)


def _year(text: str | None) -> int | None:
    if not text:
        return None
    year = int(text)
    return year + 2000 if year < 100 else year


def claims_extract(text: str, *, subject: bool = False) -> list[Claim]:
    """All claims in one sentence (or the subject line), non-overlapping, in order of appearance."""
    claims: list[Claim] = []
    taken: list[tuple[int, int]] = []

    def free(start: int, end: int) -> bool:
        return all(end <= s or start >= e for s, e in taken)

    def add(claim: Claim | None) -> None:
        if claim is not None and free(claim.start, claim.end):
            claims.append(claim)
            taken.append((claim.start, claim.end))

    for m in LINK_RE.finditer(text):
        add(Claim("link", m.group(0).rstrip(".,;)"), m.start(), m.end()))
    for m in ISO_DATE_RE.finditer(text):
        add(Claim("date", m.group(0), m.start(), m.end(), ymd=(int(m[1]), int(m[2]), int(m[3]))))
    for m in SLASH_DATE_RE.finditer(text):
        a, b, year = int(m[1]), int(m[2]), _year(m[3])
        options = tuple(o for o in ((year, b, a), (year, a, b)) if 1 <= o[1] <= 12 and 1 <= o[2] <= 31)
        if options:
            add(Claim("date", m.group(0), m.start(), m.end(), ymd=options[0], ymd_alternatives=options[1:]))
    for m in MONTH_DAY_RE.finditer(text):
        if m[1] == "May" and not m[3] and int(m[2]) > 31:
            continue
        add(Claim("date", m.group(0), m.start(), m.end(), ymd=(_year(m[3]), MONTHS[m[1].lower()], int(m[2]))))
    for m in DAY_MONTH_RE.finditer(text):
        add(Claim("date", m.group(0), m.start(), m.end(), ymd=(_year(m[3]), MONTHS[m[2].lower()], int(m[1]))))
    for m in MONTH_YEAR_RE.finditer(text):
        add(Claim("date", m.group(0), m.start(), m.end(), ymd=(_year(m[2]), MONTHS[m[1].lower()], None)))
    for m in MONTH_RE.finditer(text):
        add(Claim("date", m.group(0), m.start(), m.end(), ymd=(None, MONTHS[m[1].lower()], None)))
    for m in WEEKDAY_RE.finditer(text):
        add(Claim("date", m.group(0), m.start(), m.end(), weekday=WEEKDAYS[m[1].lower()]))
    for m in QUARTER_RE.finditer(text):
        number = int(m[1]) if m[1] else ("first", "second", "third", "fourth").index(m[2].lower()) + 1
        add(Claim("date", m.group(0), m.start(), m.end(), quarter=(number, _year(m[3]))))
    for m in RELATIVE_RE.finditer(text):
        add(Claim("date", m.group(0), m.start(), m.end()))
    for m in TIME_RE.finditer(text):
        if m[3]:
            hour = int(m[1]) % 12 + (12 if m[3].lower().startswith("p") else 0)
            add(Claim("date", m.group(0), m.start(), m.end(), time=(hour, int(m[2] or 0))))
        else:
            add(Claim("date", m.group(0), m.start(), m.end(), time=(int(m[4]), int(m[5]))))
    for m in MONEY_PREFIX_RE.finditer(text):
        currency = CURRENCY_SYMBOLS.get(m[1], "") if m[1] else m[2].upper()
        add(_number_claim("amount", m.group(0), m.start(), m.end(), m[3], m[4], currency))
    for m in MONEY_SUFFIX_RE.finditer(text):
        word = (m[4] or "").lower()
        currency = CURRENCY_SYMBOLS.get(m[3], "") if m[3] else CURRENCY_WORDS.get(word, word.upper())
        add(_number_claim("amount", m.group(0), m.start(), m.end(), m[1], m[2], currency))
    for m in PERCENT_RE.finditer(text):
        add(_number_claim("percentage", m.group(0), m.start(), m.end(), m[1], None))
    for m in OFFER_RE.finditer(text):
        add(Claim("offer", m.group(0), m.start(), m.end()))
    for m in NUMBER_RE.finditer(text):
        add(_number_claim("number", m.group(0), m.start(), m.end(), m[1], m[2]))
    for m in ALNUM_RE.finditer(text):
        if m.group(0).lower() in ACRONYMS:
            continue
        add(Claim("name", m.group(0), m.start(), m.end(), tokens=(m.group(0).lower(),)))
    for claim in _name_claims(text, taken, subject=subject):
        add(claim)
    return sorted(claims, key=lambda c: c.start)


def _word_key(word: str) -> str:
    word = word.lower().replace("’", "'")
    if word.endswith("'s"):
        word = word[:-2]
    return word.strip("'.-&")


def _name_claims(text: str, taken: list[tuple[int, int]], *, subject: bool) -> list[Claim]:
    """Capitalised spans that are not common words: people, companies, products."""
    words = [
        m
        for m in WORD_RE.finditer(text)
        if m.group(0)[0].isupper() and all(m.end() <= s or m.start() >= e for s, e in taken)
    ]
    runs: list[list[re.Match]] = []
    for m in words:
        previous = runs[-1][-1] if runs else None
        if previous is not None and text[previous.end() : m.start()].strip() in ("", "&", "of", "-"):
            runs[-1].append(m)
        else:
            runs.append([m])

    out: list[Claim] = []
    for run in runs:
        # Leading function words ("The", "Our", "Hi") never belong to a name.
        while run and _word_key(run[0].group(0)) in COMMON_WORDS and _word_key(run[0].group(0)) not in PRODUCT_MARKERS:
            run = run[1:]
        if not run:
            continue
        start, end = run[0].start(), run[-1].end()
        keys = [_word_key(m.group(0)) for m in run]
        if _product_context(text, start, end, keys):
            our = bool(re.search(r"\bour\s+(?:new\s+)?$", text[:start], re.I))
            out.append(Claim("product", text[start:end], start, end, tokens=tuple(keys), our_product=our))
            continue
        piece: list[re.Match] = []
        for m, key in zip(run, keys, strict=True):
            if _name_word(text, m, key, subject=subject):
                piece.append(m)
            else:
                out += _name_claim(text, piece)
                piece = []
        out += _name_claim(text, piece)
    return out


def _name_word(text: str, m: re.Match, key: str, *, subject: bool) -> bool:
    if not key or key in ACRONYMS or key in COMMON_WORDS or key in MONTHS or key in WEEKDAYS:
        return False
    before = text[: m.start()].rstrip(" \t\"'“‘(*-•")
    initial = subject or not before or before[-1] in ".!?:;\n—–"
    # Sentence-initial "Hopefully", "Following", "Investments" are ordinary words, not names.
    return not (initial and len(key) > 5 and key.endswith(SENTENCE_START_SUFFIXES))


def _name_claim(text: str, piece: list[re.Match]) -> list[Claim]:
    keys = tuple(_word_key(m.group(0)) for m in piece)
    if not piece or all(k in COMPANY_SUFFIXES for k in keys):
        return []
    start, end = piece[0].start(), piece[-1].end()
    product = any(k in PRODUCT_MARKERS for k in keys) and len(keys) > 1
    return [Claim("product" if product else "name", text[start:end], start, end, tokens=keys)]


_NOUNS = "|".join(re.escape(n) for n in PRODUCT_NOUNS)


def _product_context(text: str, start: int, end: int, keys: list[str]) -> bool:
    """ "our/the/your <Capitalised> plan|suite|platform", or a capitalised span ending in such a noun."""
    if "'s" in text[start:end].replace("’", "'"):
        return False  # "Anna's plan" is hers, not a product
    if len(keys) > 1 and keys[-1] in PRODUCT_NOUNS:
        return True
    if not re.match(rf"\s+(?i:{_NOUNS})s?\b", text[end:]):
        return False
    return bool(re.search(r"\b(?:our|the|your|new|an?)\s+$", text[:start], re.I))


def fact_index_build(fact_sheet: FactSheet) -> FactIndex:
    """Parse every trusted fact once: its numbers, dates, times and words."""
    facts = [f for f in _facts_with_sheet_fields(fact_sheet) if f.trusted]
    index = FactIndex(facts=facts)
    for fact in facts:
        raw = fact.raw
        if fact.kind == "email":
            index.texts.append((fact.value.lower(), fact.id))  # grounds the address itself, not names
            continue
        if isinstance(raw, datetime):
            index.dates.append((raw.date(), fact.id))
            index.times.append((raw.hour, raw.minute, fact.id))
        elif isinstance(raw, date):
            index.dates.append((raw, fact.id))
        elif isinstance(raw, (int, float, Decimal)) and not isinstance(raw, bool):
            value = Decimal(str(raw))
            if fact.kind == "percentage":
                index.percentages.extend([(value, fact.id), (value * 100, fact.id)])
            else:
                currency = next((c.currency for c in claims_extract(fact.value) if c.kind == "amount"), "")
                index.numbers.append((value, fact.kind, currency, fact.id))
        value = fact.value or ""
        index.texts.append((value.lower(), fact.id))
        for claim in claims_extract(value):
            if claim.kind in ("amount", "number") and claim.value is not None:
                kind = "amount" if claim.kind == "amount" or fact.kind == "amount" else fact.kind
                index.numbers.append((claim.value, kind, claim.currency, fact.id))
            elif claim.kind == "percentage" and claim.value is not None:
                index.percentages.append((claim.value, fact.id))
            elif claim.kind == "date":
                for y, mo, d in (claim.ymd, *claim.ymd_alternatives) if claim.ymd else ():
                    if y and mo and d:
                        try:
                            index.dates.append((date(y, mo, d), fact.id))
                        except ValueError:
                            pass
                if claim.time:
                    index.times.append((*claim.time, fact.id))
        for m in WORD_RE.finditer(value):
            for key in {_word_key(m.group(0)), *(_word_key(p) for p in re.split(r"[-&.]", m.group(0)))}:
                if key:
                    index.tokens.setdefault(key, set()).add(fact.id)
                    if fact.kind == "product":
                        index.product_tokens.setdefault(key, set()).add(fact.id)
        for m in ALNUM_RE.finditer(value):
            index.tokens.setdefault(m.group(0).lower(), set()).add(fact.id)
            if fact.kind == "product":
                index.product_tokens.setdefault(m.group(0).lower(), set()).add(fact.id)
    return index


def _facts_with_sheet_fields(fact_sheet: FactSheet) -> list[Fact]:
    """The sheet's facts plus its named fields (first name, company, sender, organisation) when not listed."""
    facts = list(fact_sheet.facts)
    present = {f.id for f in facts}
    for fact_id, kind, label, value in (
        ("contact.first_name", "person", "Contact first name", fact_sheet.contact_first_name),
        ("contact.full_name", "person", "Contact name", fact_sheet.contact_name),
        ("contact.email", "email", "Contact email", fact_sheet.contact_email),
        ("company.name", "company", "Company", fact_sheet.company_name),
        ("sender.name", "person", "Sender name", fact_sheet.sender_name),
        ("sender.email", "email", "Sender email", fact_sheet.sender_email),
        ("organization.name", "company", "Our organisation", fact_sheet.organization_name),
    ):
        if value and value.strip() and fact_id not in present:
            facts.append(Fact(fact_id, kind, label, value.strip(), value.strip()))
    return facts


# --- matching -------------------------------------------------------------------------------------------------


def _currency_compatible(claim: str, fact: str) -> bool:
    if not claim or not fact or claim == fact:
        return True
    return claim == "USD" and fact in DOLLAR_FAMILY  # "$" written for a CAD/AUD amount


def claim_ground(claim: Claim, index: FactIndex) -> list[str]:
    """Fact ids that support the claim; empty when it is ungrounded."""
    return list(dict.fromkeys(_ground(claim, index)))


def _ground(claim: Claim, index: FactIndex) -> list[str]:
    if claim.kind == "amount":
        return [
            fid
            for value, kind, currency, fid in index.numbers
            if kind == "amount"
            and abs(value - claim.value) <= claim.tolerance
            and _currency_compatible(claim.currency, currency)
        ]
    if claim.kind == "number":
        ids = [fid for value, _kind, _currency, fid in index.numbers if abs(value - claim.value) <= claim.tolerance]
        if claim.value == claim.value.to_integral_value():
            number = int(claim.value)
            ids += [fid for day, fid in index.dates if number in (day.day, day.year)]
        return list(dict.fromkeys(ids))
    if claim.kind == "percentage":
        return [fid for value, fid in index.percentages if abs(value - claim.value) <= claim.tolerance]
    if claim.kind == "date":
        return _date_ground(claim, index)
    if claim.kind == "offer":
        stem = claim.text.lower().split()[0].rstrip("sd")  # "discounted" -> "discounte" ~ "discount"
        stem = stem[:8] if len(stem) > 8 else stem
        return [fid for value, fid in index.texts if stem in value]
    if claim.kind == "link":
        text = claim.text.lower().rstrip("/")
        return [fid for value, fid in index.texts if text and text in value]
    return _name_ground(claim, index)


def _date_ground(claim: Claim, index: FactIndex) -> list[str]:
    if claim.ymd:
        ids = []
        for y, mo, d in (claim.ymd, *claim.ymd_alternatives):
            ids += [
                fid
                for day, fid in index.dates
                if (y is None or day.year == y) and (mo is None or day.month == mo) and (d is None or day.day == d)
            ]
        return list(dict.fromkeys(ids))
    if claim.weekday is not None:
        return [fid for day, fid in index.dates if day.weekday() == claim.weekday]
    if claim.quarter is not None:
        number, year = claim.quarter
        ids = [fid for day, fid in index.dates if (day.month - 1) // 3 + 1 == number and year in (None, day.year)]
        return ids + [fid for value, fid in index.texts if claim.text.lower() in value]
    if claim.time is not None:
        return [fid for hour, minute, fid in index.times if (hour, minute) == claim.time]
    # Relative dates ("next week"): only a trusted fact that says the same words supports them.
    return [fid for value, fid in index.texts if claim.text.lower() in value]


def _name_ground(claim: Claim, index: FactIndex) -> list[str]:
    pool = index.product_tokens if claim.our_product else index.tokens
    ids: list[str] = []
    for token in claim.tokens:
        found = pool.get(token) or (pool.get(token[:-1]) if token.endswith("s") else None)
        if found:
            ids += sorted(found)
        elif token not in COMPANY_SUFFIXES and token not in PRODUCT_NOUNS:
            return []  # "Acme Inc" for "Acme", "Growth Plan" for "Growth": the distinctive words decide
    return list(dict.fromkeys(ids))


# --- the check ------------------------------------------------------------------------------------------------


def sentences_split(text: str) -> list[str]:
    """Lines, then sentences inside lines; abbreviations ("Dr.", "Inc.", "Nov.") do not end a sentence."""
    out: list[str] = []
    for line in text.splitlines():
        line = line.strip()
        if not line:
            continue
        pieces = SENTENCE_SPLIT_RE.split(line)
        merged: list[str] = []
        for piece in pieces:
            last_word = merged[-1].rsplit(None, 1)[-1].lower().rstrip(".") if merged else ""
            if merged and (last_word in ABBREVIATIONS or re.fullmatch(r"[a-z]", last_word)):
                merged[-1] = f"{merged[-1]} {piece}"
            else:
                merged.append(piece)
        out.extend(p.strip() for p in merged if p.strip())
    return out


def body_split_footer(*, body: str, fact_sheet: FactSheet) -> tuple[str, bool]:
    """(text before the footer, whether the exact footer ends the body)."""
    footer = fact_sheet.footer.render()
    stripped = body.rstrip()
    if footer and stripped.endswith(footer):
        return stripped[: -len(footer)].rstrip(), True
    return stripped, False


def draft_check(
    *,
    subject: str,
    body: str,
    fact_sheet: FactSheet,
    length: str | None = None,
    sentences: Sequence[DraftSentence] | None = None,
    courtesy_phrases: Sequence[str] = (),
) -> GuardrailReport:
    """The verdict on one draft. `body` is the full text including the compliance footer. `length`
    (short/medium/long) tightens the body limit; without it only the hard maximum applies. `sentences`: the
    structured draft's sentences with their citations (None or empty: free text, auto-attributed);
    `courtesy_phrases`: the organisation's own courtesy phrases beside the defaults."""
    index = fact_index_build(fact_sheet)
    violations: list[Violation] = []
    citations: list[Citation] = []

    content, footer_ok = body_split_footer(body=body, fact_sheet=fact_sheet)
    footer = fact_sheet.footer
    if not footer.postal_address.strip() or not footer.unsubscribe_text.strip():
        violations.append(
            Violation(
                "missing_footer",
                "",
                "The organisation has no postal address or unsubscribe text configured for the compliance footer.",
            )
        )
    elif not footer_ok:
        violations.append(
            Violation(
                "missing_footer",
                footer.render(),
                "The compliance footer (unsubscribe line "
                "and postal address) must end the email, exactly as configured.",
            )
        )

    subject = subject.strip()
    if not subject:
        violations.append(Violation("subject_length", "", "The subject is empty."))
    elif len(subject) > SUBJECT_MAX_CHARS:
        violations.append(
            Violation(
                "subject_length",
                subject,
                f"The subject is {len(subject)} characters; at most {SUBJECT_MAX_CHARS} fit in an inbox.",
            )
        )
    limit = min(BODY_MAX_CHARS.get(length or "", BODY_HARD_MAX_CHARS), BODY_HARD_MAX_CHARS)
    if len(content.strip()) < BODY_MIN_CHARS:
        violations.append(Violation("empty", content, "The email has no body text."))
    elif len(content) > limit:
        violations.append(
            Violation(
                "body_length",
                "",
                f"The body is {len(content)} characters; the limit for {length or 'any'} emails is {limit}.",
            )
        )

    for where, text in (("subject", subject), ("body", content)):
        for pattern in PLACEHOLDER_RES:
            for m in pattern.finditer(text):
                violations.append(
                    Violation("placeholder", m.group(0), f"Unfilled placeholder {m.group(0)!r} in the {where}.")
                )

    violations += _claims_check(
        subject=subject,
        content=content,
        fact_sheet=fact_sheet,
        index=index,
        sentences=sentences,
        courtesy_phrases=courtesy_phrases,
        citations=citations,
    )
    claims_checked = len(claims_extract(placeholders_masked(subject), subject=True)) + sum(
        len(claims_extract(placeholders_masked(c.sentence))) for c in citations
    )
    return GuardrailReport(
        passed=not violations, violations=violations, citations=citations, claims_checked=claims_checked
    )


def _claims_check(
    *,
    subject: str,
    content: str,
    fact_sheet: FactSheet,
    index: FactIndex,
    sentences: Sequence[DraftSentence] | None,
    courtesy_phrases: Sequence[str],
    citations: list[Citation],
) -> list[Violation]:
    """The claim policy over the subject and every sentence (see `claims`); fills `citations`."""
    # claims builds on this module's extraction and matching: imported here so each module loads on its own.
    from ml.engine.emailgen.claims import (
        UNGROUNDED_MESSAGES,
        currency_violations,
        sentence_verify,
        verify_context_build,
    )
    from ml.engine.emailgen.courtesy import courtesy_patterns

    title = fact_sheet.fact("contact.job_title")
    context = verify_context_build(
        index=index,
        company_name=fact_sheet.company_name,
        job_title=title.value if title is not None and title.trusted else "",
        organization_name=fact_sheet.organization_name,
        courtesy=courtesy_patterns(phrases=courtesy_phrases),
    )
    violations: list[Violation] = []
    for claim in claims_extract(placeholders_masked(subject), subject=True):
        if not claim_ground(claim, index):
            code, message = UNGROUNDED_MESSAGES[claim.kind]
            violations.append(Violation(code, claim.text, message.format(text=claim.text) + " (subject)"))
    subject_verdict = sentence_verify(text=subject, fact_ids=None, context=context)
    violations += [v for v in subject_verdict.violations if not v.code.startswith("ungrounded_")]

    verdicts = []
    for number, (sentence, fact_ids) in enumerate(_units(content=content, sentences=sentences or ())):
        verdict = sentence_verify(text=sentence, fact_ids=fact_ids, context=context, number=number)
        verdicts.append(verdict)
        violations += verdict.violations
        citations.append(Citation(number, sentence, verdict.fact_ids))
    return violations + currency_violations(verdicts=verdicts)


def _units(*, content: str, sentences: Sequence[DraftSentence]) -> list[tuple[str, tuple[str, ...] | None]]:
    """The body as (text, cited fact ids): each structured sentence found in order, as written, with its
    citations; everything around them (greeting, sign-off, free text) split into sentences, fact ids None
    (auto-attributed). A structured sentence the pipeline trimmed away is simply not there."""
    units: list[tuple[str, tuple[str, ...] | None]] = []
    cursor = 0
    for sentence in sentences:
        text = sentence.text.strip()
        found = content.find(text, cursor) if text else -1
        if found < 0:
            continue
        units += [(piece, None) for piece in sentences_split(content[cursor:found])]
        units.append((text, tuple(sentence.fact_ids)))
        cursor = found + len(text)
    units += [(piece, None) for piece in sentences_split(content[cursor:])]
    return units


def placeholders_masked(text: str) -> str:
    """Blank out placeholders (already reported) so "[Name]" is not also an ungrounded name."""
    for pattern in PLACEHOLDER_RES:
        text = pattern.sub(lambda m: " " * len(m.group(0)), text)
    return text


def common_word_mentions(sentence: str, index: FactIndex) -> list[str]:
    """Citations for names that are also common words ("Grace", "Target"): never a violation, still cited."""
    ids: list[str] = []
    person_company = {f.id for f in index.facts if f.kind in ("person", "company", "product")}
    for m in WORD_RE.finditer(sentence):
        word = m.group(0)
        key = _word_key(word)
        if word[:1].isupper() and key in COMMON_WORDS:
            ids += sorted(fid for fid in index.tokens.get(key, ()) if fid in person_company)
    return ids
