"""The claim policy: the regression corpus of real bad drafts is rejected with the right claim class, good drafts
pass, in structured (cited) and free-text (auto-attributed) form alike."""

import json
from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest

from ml.engine.emailgen.guardrails import draft_check
from ml.engine.emailgen.types import DraftSentence
from tests.ml.emailgen.sheets import FOOTER, fact_sheet_make

CORPUS = json.loads((Path(__file__).parent / "fixtures" / "claim_corpus.json").read_text())


def sheet_from(spec: dict):
    kwargs = dict(spec)
    if kwargs.get("deal") is not None and "deal" in kwargs:
        name, amount, stage, close = kwargs["deal"]
        kwargs["deal"] = (name, Decimal(amount), stage, date.fromisoformat(close))
    if "meetings" in kwargs:
        kwargs["meetings"] = tuple((k, date.fromisoformat(d), s) for k, d, s in kwargs["meetings"])
    if "products" in kwargs:
        kwargs["products"] = tuple((n, Decimal(p)) for n, p in kwargs["products"])
    if "rates" in kwargs:
        kwargs["rates"] = tuple((a, b, Decimal(r)) for a, b, r in kwargs["rates"])
    return fact_sheet_make(**kwargs)


def verdict(case: dict, *, structured: bool):
    sheet = sheet_from(case["sheet"])
    sentences = tuple(DraftSentence(s["text"], tuple(s["facts"])) for s in case["sentences"])
    greeting = f"Hi {sheet.contact_first_name}," if sheet.contact_first_name else "Hello,"
    body = f"{greeting}\n\n{' '.join(s.text for s in sentences)}\n\nBest,\n{sheet.sender_name}\n\n{FOOTER.render()}"
    return draft_check(
        subject=case["subject"], body=body, fact_sheet=sheet, sentences=sentences if structured else None
    )


def modes(case: dict) -> list[bool]:
    return [True] if case.get("structured_only") else [True, False]


@pytest.mark.parametrize("case", CORPUS["bad"], ids=[c["name"] for c in CORPUS["bad"]])
def test_every_bad_draft_of_the_corpus_is_rejected_with_its_claim_class(case):
    for structured in modes(case):
        report = verdict(case, structured=structured)
        found = {v.code for v in report.violations}
        assert not report.passed
        expected = case["expect"] if structured else case.get("expect_free_text", case["expect"])
        assert set(expected) <= found, (structured, report.violations)


@pytest.mark.parametrize("case", CORPUS["good"], ids=[c["name"] for c in CORPUS["good"]])
def test_good_drafts_pass_and_cite_what_they_state(case):
    for structured in modes(case):
        report = verdict(case, structured=structured)
        assert report.passed, (structured, report.violations)
        cited = [c for c in report.citations if c.fact_ids and c.fact_ids != ["sender.name"]]
        assert len(cited) >= 2  # the greeting names the contact; the message states cited facts


def test_violations_say_in_plain_words_what_is_wrong_and_which_sentence():
    case = CORPUS["bad"][0]
    report = verdict(case, structured=True)
    role = next(v for v in report.violations if v.code == "role_confusion")
    assert role.sentence_index == 1 and "recipient" in role.message and "Onyx Care" in role.text


def test_a_structured_sentence_is_held_to_exactly_the_facts_it_cites():
    sheet = fact_sheet_make()
    body = f"Hi Anna,\n\nThe amount is EUR 12,500.\n\nBest,\nJane Doe\n\n{FOOTER.render()}"
    wrong = draft_check(
        subject="Hi",
        body=body,
        fact_sheet=sheet,
        sentences=(DraftSentence("The amount is EUR 12,500.", ("product.1.price",)),),
    )
    right = draft_check(
        subject="Hi",
        body=body,
        fact_sheet=sheet,
        sentences=(DraftSentence("The amount is EUR 12,500.", ("deal.9.amount",)),),
    )
    unknown = draft_check(
        subject="Hi",
        body=body,
        fact_sheet=sheet,
        sentences=(DraftSentence("The amount is EUR 12,500.", ("deal.1.amount",)),),
    )
    assert [v.code for v in wrong.violations] == ["uncited_claim"]
    assert right.passed and right.citations[1].fact_ids == ["deal.9.amount"]
    assert {v.code for v in unknown.violations} == {"unknown_fact", "uncited_claim"}


def test_a_meeting_is_fine_when_the_sentence_cites_the_meeting():
    sheet = fact_sheet_make()
    text = "I enjoyed our meeting about the pricing review."
    body = f"Hi Anna,\n\n{text}\n\nBest,\nJane Doe\n\n{FOOTER.render()}"
    cited = draft_check(
        subject="Hi", body=body, fact_sheet=sheet, sentences=(DraftSentence(text, ("activity.30.subject",)),)
    )
    uncited = draft_check(subject="Hi", body=body, fact_sheet=sheet, sentences=(DraftSentence(text, ()),))
    assert cited.passed, cited.violations
    assert [v.code for v in uncited.violations] == ["invented_event"]


def test_the_organisations_courtesy_phrases_let_their_own_sign_off_lines_through():
    sheet = fact_sheet_make()
    text = "Warm greetings from all of us again."
    body = f"Hi Anna,\n\n{text}\n\nBest,\nJane Doe\n\n{FOOTER.render()}"
    assert not draft_check(subject="Hi", body=body, fact_sheet=sheet).passed  # "again": an invented earlier contact
    assert draft_check(
        subject="Hi", body=body, fact_sheet=sheet, courtesy_phrases=["Warm greetings from * again"]
    ).passed


def test_the_recipient_put_at_our_organisation_is_role_confusion():
    sheet = fact_sheet_make()
    body = f"Hi Anna,\n\nYou are the best contact at Seller Inc for this.\n\nBest,\nJane Doe\n\n{FOOTER.render()}"
    assert "role_confusion" in {v.code for v in draft_check(subject="Hi", body=body, fact_sheet=sheet).violations}


def test_an_invented_meeting_in_the_subject_is_caught():
    sheet = fact_sheet_make(meetings=())
    body = f"Hi Anna,\n\nI'm reaching out from Seller Inc.\n\nBest,\nJane Doe\n\n{FOOTER.render()}"
    report = draft_check(subject="Great to meet you", body=body, fact_sheet=sheet)
    assert [v.code for v in report.violations] == ["invented_event"]


def test_a_converted_figure_is_grounded_by_the_stored_rate_in_free_text_too():
    sheet = fact_sheet_make(rates=(("USD", "EUR", Decimal("0.92")),))
    text = "For reference, the list price of Pipeline Pro is EUR 4,416."
    body = f"Hi Anna,\n\nThe current amount is EUR 12,500. {text}\n\nBest,\nJane Doe\n\n{FOOTER.render()}"
    report = draft_check(subject="Hi", body=body, fact_sheet=sheet)
    assert report.passed, report.violations
    assert "fx.USD.EUR" in next(c.fact_ids for c in report.citations if c.sentence == text)
    wrong = draft_check(subject="Hi", body=body.replace("EUR 4,416", "USD 4,800"), fact_sheet=sheet)
    assert {v.code for v in wrong.violations} == {"mixed_currency"}  # the price as listed, beside EUR


def test_a_structured_sentence_keeps_its_citations_whatever_the_sentence_splitter_makes_of_it():
    sheet = fact_sheet_make(company="Lumen Health Inc.")
    text = "Our Pipeline Pro may be a good fit for Lumen Health Inc. and its team."
    body = f"Hi Anna,\n\n{text}\n\nBest,\nJane Doe\n\n{FOOTER.render()}"
    report = draft_check(
        subject="Hi", body=body, fact_sheet=sheet, sentences=(DraftSentence(text, ("product.1.name", "company.name")),)
    )
    assert report.passed, report.violations
    assert [c.fact_ids for c in report.citations if c.sentence == text] == [["product.1.name", "company.name"]]


def test_citing_a_crm_note_grounds_nothing():
    sheet = fact_sheet_make(notes=("They agreed to a 30% discount.",))
    text = "As agreed, you get a 30% discount."
    body = f"Hi Anna,\n\n{text}\n\nBest,\nJane Doe\n\n{FOOTER.render()}"
    report = draft_check(
        subject="Hi", body=body, fact_sheet=sheet, sentences=(DraftSentence(text, ("activity.60.body",)),)
    )
    assert {"unknown_fact", "ungrounded_percentage", "ungrounded_offer", "promise"} <= {
        v.code for v in report.violations
    }
