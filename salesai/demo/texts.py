"""Short activity texts (notes, call logs, meeting notes, emails) whose wording reflects a contact's state.

Every sentence comes from a bank keyed by a `Signal`. The generator decides which signal an activity
carries from the contact's latent factors; this module only turns a signal into varied wording. Each bank
has a third-person voice (what a rep writes in a note) and a first-person voice (what the prospect writes
in an email), with several paraphrases and filled-in details, so the same intent never reads the same way
twice and some words ("pricing", "budget") appear on both sides.
"""

from __future__ import annotations

import random
from datetime import datetime
from enum import StrEnum

from salesai.demo.vocabulary import COMPETITORS


class Signal(StrEnum):
    BUDGET_POSITIVE = "budget+"  # money and urgency are there: the factor only text reveals
    BUDGET_NEGATIVE = "budget-"
    INTEREST_POSITIVE = "interest+"
    INTEREST_NEGATIVE = "interest-"
    NEUTRAL = "neutral"
    ONBOARDING = "onboarding"  # after conversion
    OPT_OUT = "opt-out"
    # A customer account's words after the sale (the churn story): risk, growth, or routine.
    CHURN_RISK = "churn-risk"
    EXPANSION = "expansion"
    ACCOUNT = "account"


# Third person, as a rep logs it.
NOTE_BANK: dict[Signal, tuple[str, ...]] = {
    Signal.BUDGET_POSITIVE: (
        "Budget approved for {quarter}, asked for a contract draft.",
        "Asked for pricing for {seats} seats.",
        "Finance signed off on the spend; they want to start before {month}.",
        "Procurement is already involved and asked for our security questionnaire.",
        "Has budget set aside this quarter and wants a proposal by Friday.",
        "Their {competitor} contract ends in {month}, they need a replacement quickly.",
        "Requested the order form and MSA for legal review.",
        "Decision expected this month; their CFO is the signer.",
        "Wants a quote for {seats} users with annual billing.",
        "Board wants the rollout done by {month}.",
        "Confirmed the money is there, asked about a discount for a two-year term.",
        "Legal is reviewing our DPA, budget already allocated.",
    ),
    Signal.BUDGET_NEGATIVE: (
        "Not a priority this year.",
        "No budget until next fiscal year.",
        "Using {competitor}, renewal in {year}.",
        "Happy with {competitor} for now, maybe revisit later.",
        "Budget frozen after a reorg, check back in {months} months.",
        "Said it is too expensive for a team their size.",
        "Only researching options, no timeline yet.",
        "Asked about pricing, but there is no budget before {year}.",
        "Spending freeze until further notice.",
        "Signed a multi-year deal with {competitor} last quarter.",
    ),
    Signal.INTEREST_POSITIVE: (
        "Interested, wants a demo next week.",
        "Asked for a case study from {industry}.",
        "Good conversation, wants to loop in their {function} lead.",
        "Asked how the {product} integration fits their stack.",
        "Positive feedback on the trial so far.",
        "Engaged on the call, detailed questions about {product}.",
        "Wants to see a sandbox with their own data.",
        "Booked a follow-up with two more people from the team.",
    ),
    Signal.INTEREST_NEGATIVE: (
        "Went quiet after the demo.",
        "Wrong person, pointed us to someone in {function}.",
        "Not interested at the moment.",
        "Missed the scheduled call, no reply since.",
        "Did not see the value for their use case.",
        "Timing is bad, too many projects running.",
    ),
    Signal.NEUTRAL: (
        "Left a voicemail.",
        "Sent the follow-up with the deck.",
        "Checked in after last week's call.",
        "Shared the product overview.",
        "Rescheduled the call to next week.",
        "Intro call, covered the basics of {product}.",
        "Updated contact details.",
        "Short chat, will follow up.",
    ),
    Signal.ONBOARDING: (
        "Kickoff call scheduled with the project team.",
        "Contract signed, onboarding started.",
        "Set up SSO and invited {seats} users.",
        "First quarterly business review booked.",
        "Admin training done, rollout to the {function} team next.",
        "Data import finished, dashboards live.",
    ),
    Signal.CHURN_RISK: (
        "Complained again about slow support tickets.",
        "Said they are considering switching to {competitor}.",
        "Budget cut announced, they may not renew.",
        "Only {few} of {seats} seats are active; adoption is low.",
        "Escalation: the {product} sync keeps failing for them.",
        "Their new VP wants to consolidate tools, we might be cut.",
        "Asked how to export all their data.",
        "Unhappy with the last price increase.",
        "Champion left the company, nobody owns the rollout now.",
        "Missed the quarterly review, no reply since.",
        "They are doing a budget review and {product} is on the list of tools to cut.",
        "Low adoption: most of the team went back to spreadsheets.",
        "They got a quote from {competitor} and want us to match it.",
        "Renewal is under review by their finance team; no commitment yet.",
        "Frustrated that the same bug is still open after a month.",
    ),
    Signal.EXPANSION: (
        "Wants to roll out {product} to the {function} team too.",
        "Asked for a quote for {more} extra seats.",
        "Usage is up every week, the team relies on the dashboards.",
        "Great QBR, they want to discuss a multi-year renewal.",
        "Asked about the enterprise plan and SSO for more users.",
        "They shared a success story internally and want a case study.",
        "Adoption is strong, all {seats} seats active.",
    ),
    Signal.ACCOUNT: (
        "Routine check-in, nothing new.",
        "Sent the release notes for {product}.",
        "Updated billing contact.",
        "Answered a question about user roles.",
        "Scheduled the next quarterly review.",
        "Support ticket about exports closed the same day.",
        "Walked their admin through the new reporting screen.",
        "Monthly check-in, usage is stable.",
    ),
}

# First person, as the prospect writes it.
EMAIL_BANK: dict[Signal, tuple[str, ...]] = {
    Signal.BUDGET_POSITIVE: (
        "Our budget for {quarter} is approved. Could you send over a contract draft?",
        "Can you send pricing for {seats} seats?",
        "Finance has signed off, we would like to get started before {month}.",
        "Our procurement team will send you a security questionnaire this week.",
        "We have budget this quarter, please send a proposal.",
        "Our {competitor} contract ends in {month}, so we need to move quickly.",
        "Please send the order form and MSA so legal can review.",
        "We are aiming to sign this month. What are the next steps?",
        "Could you quote {seats} users on annual billing?",
        "Is there a discount for a two-year commitment? The money is allocated.",
    ),
    Signal.BUDGET_NEGATIVE: (
        "This is not a priority for us this year.",
        "We do not have budget until next fiscal year.",
        "We are on {competitor} and our renewal is in {year}.",
        "We are happy with {competitor} for now. Maybe later.",
        "Budgets are frozen after the reorg, try me again in {months} months.",
        "Honestly this is too expensive for a team our size.",
        "We are only researching at this stage, no timeline.",
        "Thanks for the pricing, but there is no budget before {year}.",
    ),
    Signal.INTEREST_POSITIVE: (
        "Thanks, this looks interesting. Can we do a demo next week?",
        "Do you have a case study from {industry}?",
        "I would like to bring our {function} lead into the next call.",
        "How does {product} connect to our current stack?",
        "The trial is going well so far.",
        "Could we get a sandbox to try it with our own data?",
    ),
    Signal.INTEREST_NEGATIVE: (
        "I am not the right person for this, sorry.",
        "Not interested, thanks.",
        "We have too many projects running right now.",
        "I do not think this fits our use case.",
    ),
    Signal.NEUTRAL: (
        "Thanks for the information.",
        "Got it, I will take a look.",
        "Can we move our call to Thursday?",
        "Received, thanks.",
        "I am out of office until Monday.",
    ),
    Signal.ONBOARDING: (
        "Quick question about adding more users.",
        "Where do I find the admin settings?",
        "The team likes the {product} dashboards.",
        "Can we schedule a training for new joiners?",
    ),
    Signal.CHURN_RISK: (
        "Our support tickets have been open for weeks. This is not acceptable.",
        "We are considering switching to {competitor} at renewal.",
        "Our budget was cut, so we may not be able to renew.",
        "Honestly the team barely uses {product}; only {few} people log in.",
        "The {product} sync failed again this morning.",
        "How do we export all our data?",
        "The price increase is hard to justify internally.",
        "We are in a budget review and have to justify every tool, {product} included.",
        "Adoption has been low; most of the team never logged in after the training.",
        "{competitor} offered us a better price and we are considering switching.",
        "Still waiting on a fix for the issue I reported last month.",
    ),
    Signal.EXPANSION: (
        "We would like to add {more} more seats. Can you send a quote?",
        "The {function} team wants access to {product} as well.",
        "The dashboards are a hit, usage keeps growing.",
        "Can we talk about a multi-year renewal?",
        "Could you tell us more about the enterprise plan?",
    ),
    Signal.ACCOUNT: (
        "Thanks for the release notes.",
        "Please update our billing contact.",
        "Quick question about user roles.",
        "Confirmed for the quarterly review.",
        "Thanks for fixing the export issue so quickly.",
        "Could you reset the password for one of our users?",
    ),
    Signal.OPT_OUT: (
        "Please remove me from your list.",
        "Unsubscribe me, please.",
        "Stop emailing me.",
        "Please take me off your mailing list.",
    ),
}

# What a rep sends; the signal says what the rep is reacting to.
REP_EMAIL_BANK: dict[Signal, tuple[str, ...]] = {
    Signal.NEUTRAL: (
        "Hi {first}, following up on my last note about {product}. Would a 20-minute call next week work?",
        "Hi {first}, sharing a short overview of how teams in {industry} use {product}.",
        "Hi {first}, just checking in. Any questions after our conversation?",
        "Hi {first}, here are the webinar recording and the slides.",
        "Hi {first}, is {product} on your roadmap this year? Happy to share what we see in {industry}.",
    ),
    Signal.BUDGET_POSITIVE: (
        "Hi {first}, thanks for confirming the budget. Attached is the contract draft for {seats} seats.",
        "Hi {first}, as promised, here is the quote for {seats} seats with annual billing.",
        "Hi {first}, sending the order form so you can get started before {month}.",
    ),
    Signal.BUDGET_NEGATIVE: (
        "Hi {first}, understood that budget is tight this year. I will check back closer to {year}.",
        "Hi {first}, noted that you are on {competitor}; happy to talk before your renewal.",
        "Hi {first}, no problem about the timing. I will reach out again in {months} months.",
    ),
    Signal.ONBOARDING: (
        "Hi {first}, welcome aboard! Here is the onboarding plan for your team.",
        "Hi {first}, your workspace is ready; invites for {seats} users are out.",
    ),
}

# Account management after the sale (the churn story).
REP_ACCOUNT_EMAIL_BANK: dict[Signal, tuple[str, ...]] = {
    Signal.CHURN_RISK: (
        "Hi {first}, sorry about the open tickets; I have escalated them to our support lead.",
        "Hi {first}, I hear you are looking at {competitor}. Could we talk before you decide?",
        "Hi {first}, we noticed only a few users log in. Can we set up a refresher training?",
        "Hi {first}, understood about the budget cut. Happy to discuss a smaller plan.",
    ),
    Signal.EXPANSION: (
        "Hi {first}, here is the quote for {more} additional seats.",
        "Hi {first}, great to hear the {function} team wants in. Attached is the expansion proposal.",
        "Hi {first}, as discussed, the multi-year renewal terms are attached.",
    ),
    Signal.ACCOUNT: (
        "Hi {first}, here are this month's release notes for {product}.",
        "Hi {first}, just checking in. Anything we can help with?",
        "Hi {first}, sending the invite for our quarterly review.",
    ),
}
ACCOUNT_SUBJECTS = (
    "Account review",
    "Quarterly business review",
    "Support follow-up",
    "{product} usage",
    "Renewal",
    "Check-in",
)
# The accounts' own post-sale activities (the churn story): subjects by kind and direction, not by signal.
ACCOUNT_LIFE_SUBJECTS: dict[tuple[str, str], tuple[str, ...]] = {
    ("call", "outbound"): ("Monthly check-in", "Check-in call with {first}", "Account call"),
    ("call", "inbound"): ("Call from {first}", "Support call", "{first} called about {product}"),
    ("meeting", ""): ("Quarterly business review", "QBR with {company}", "Usage review", "Account review"),
    ("email", "inbound"): ("Support request", "Ticket update", "Question about {product}", "Our account"),
    ("email", "outbound"): ("Checking in", "{product} release notes", "Your support ticket", "Our next review"),
    ("note", ""): ("",),
}
ACCOUNT_TASK_SUBJECTS = {
    Signal.CHURN_RISK: ("Save call with {first}", "Escalate tickets for {company}", "Prepare retention offer"),
    Signal.EXPANSION: ("Send expansion quote to {first}", "Prepare upsell proposal for {company}"),
    Signal.ACCOUNT: ("Schedule QBR with {first}", "Send release notes to {first}"),
}

REP_SUBJECTS = ("Following up", "Quick question, {first}", "{product} for {company}", "Next steps", "Checking in")
PROSPECT_SUBJECTS = ("Question about {product}", "Pricing", "Our call", "{product}")
MEETING_SUBJECTS = ("Discovery call", "Product demo", "Pricing discussion", "Technical deep dive", "Intro meeting")
ONBOARDING_MEETING_SUBJECTS = ("Kickoff", "Onboarding session", "Admin training", "Quarterly business review")
CALL_SUBJECTS = ("Call with {first}", "Follow-up call", "Intro call")
TASK_SUBJECTS = (
    "Follow up with {first}",
    "Send deck to {first}",
    "Prepare proposal for {company}",
    "Update CRM notes",
    "Check in with {first} next month",
)
NOTE_OPENERS = ("", "", "Spoke with {first}. ", "Call with {first} and a colleague. ", "Met {first}. ")
NOTE_CLOSERS = ("", "", " Next step: follow-up call.", " Will send a recap.", " Reminder set.")

MONTHS = (
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
)


def text_details(
    *,
    rnd: random.Random,
    when: datetime,
    first_name: str,
    company: str,
    industry: str,
    seats: int,
    function: str,
    product: str,
) -> dict[str, str]:
    """The slot values a sentence may use, anchored on when the activity happened."""
    ahead = rnd.randrange(1, 4)
    month_index = (when.month - 1 + ahead) % 12
    next_quarter = (when.month - 1) // 3 + 1 + rnd.randrange(0, 2)
    quarter = f"Q{(next_quarter - 1) % 4 + 1}"
    return {
        "first": first_name or "there",
        "company": company or "your team",
        "industry": (industry or "your industry").lower(),
        "seats": str(seats),
        "function": function.lower() if function else "operations",
        "product": product,
        "month": MONTHS[month_index],
        "quarter": quarter,
        "year": str(when.year + rnd.randrange(1, 3)),
        "months": str(rnd.choice((3, 6, 9))),
        "competitor": rnd.choice(COMPETITORS),
    }


def pick(*, rnd: random.Random, options: tuple[str, ...], details: dict[str, str]) -> str:
    return rnd.choice(options).format(**details)


def note_text(*, rnd: random.Random, signals: list[Signal], details: dict[str, str]) -> str:
    """A rep's note: optional opener, one sentence per signal, optional closer."""
    sentences = " ".join(pick(rnd=rnd, options=NOTE_BANK[signal], details=details) for signal in signals)
    opener = pick(rnd=rnd, options=NOTE_OPENERS, details=details)
    closer = pick(rnd=rnd, options=NOTE_CLOSERS, details=details)
    return f"{opener}{sentences}{closer}"


def prospect_email_text(*, rnd: random.Random, signals: list[Signal], details: dict[str, str]) -> str:
    sentences = " ".join(pick(rnd=rnd, options=EMAIL_BANK[signal], details=details) for signal in signals)
    sign_off = rnd.choice(("Best,", "Thanks,", "Regards,", "Cheers,"))
    return f"Hi,\n\n{sentences}\n\n{sign_off}\n{details['first']}"


def rep_email_text(*, rnd: random.Random, signal: Signal, details: dict[str, str]) -> str:
    bank = REP_EMAIL_BANK.get(signal, REP_EMAIL_BANK[Signal.NEUTRAL])
    return pick(rnd=rnd, options=bank, details=details)


def account_details(*, rnd: random.Random, details: dict[str, str]) -> dict[str, str]:
    """The account-story slots on top of `text_details` (drawn from the caller's own stream)."""
    seats = int(details["seats"])
    return {
        **details,
        "few": str(max(1, seats // rnd.choice((5, 8, 10)))),
        "more": str(rnd.choice((5, 10, 20, 50))),
        "competitor": rnd.choice(COMPETITORS),
    }


def account_activity_text(
    *, rnd: random.Random, kind: str, direction: str, signal: Signal, details: dict[str, str], life: bool = False
) -> tuple[str, str]:
    """(subject, body) of one post-sale activity carrying `signal`, in the voice its kind and direction imply;
    `life` takes the subject from ACCOUNT_LIFE_SUBJECTS (the account's own activities)."""
    details = account_details(rnd=rnd, details=details)
    if kind == "task":
        return pick(rnd=rnd, options=ACCOUNT_TASK_SUBJECTS[signal], details=details), ""
    subjects = ACCOUNT_LIFE_SUBJECTS.get((kind, direction), ACCOUNT_SUBJECTS) if life else ACCOUNT_SUBJECTS
    subject = pick(rnd=rnd, options=subjects, details=details)
    if kind == "email" and direction == "inbound":
        return f"Re: {subject}", prospect_email_text(rnd=rnd, signals=[signal], details=details)
    if kind == "email":
        return subject, pick(rnd=rnd, options=REP_ACCOUNT_EMAIL_BANK[signal], details=details)
    body = note_text(rnd=rnd, signals=[signal], details=details)
    return ("" if kind == "note" else subject), body
