"""The synthetic CRM: sizes, determinism, internal consistency, and outcomes that follow real-looking signals."""

import csv
import re
from collections import defaultdict
from datetime import UTC, date, datetime, timedelta

import numpy as np
import pytest
import yaml
from scipy.sparse import csr_matrix, hstack
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import StratifiedKFold, cross_val_predict

from crm_connectors.csv.mapping import mapping_load, mapping_parse
from salesai.core.models import Activity, Contact, Deal
from salesai.demo.generator import DemoCRM, demo_now, generate_demo_crm, write_demo_csvs

NOW = demo_now(day=date(2026, 3, 1))
SIZES = {"companies": 400, "contacts": 2000, "deals": 800, "activities": 8000}
POST_SALE_SIGNALS = {"onboarding", "churn-risk", "expansion", "account"}
EMAIL = re.compile(r"^[a-z0-9._-]+@[a-z0-9.-]+\.[a-z]{2,}$")


@pytest.fixture(scope="module")
def crm() -> DemoCRM:
    return generate_demo_crm(seed=7, now=NOW, **SIZES)


def _contact_index(crm: DemoCRM) -> dict[str, int]:
    return {c.external_id: i for i, c in enumerate(crm.contacts)}


def test_demo_now_is_midnight_utc():
    assert demo_now(day=date(2026, 3, 1)) == datetime(2026, 3, 1, tzinfo=UTC)


def test_sizes_are_exactly_as_asked(crm):
    assert len(crm.companies) == SIZES["companies"]
    assert len(crm.contacts) == SIZES["contacts"]
    assert len(crm.deals) == SIZES["deals"]
    # The customers' own post-sale activities (the churn story) come on top of the activities asked for.
    assert sum(not a.account_story for a in crm.activities) == SIZES["activities"]


def test_same_seed_and_day_write_identical_files_and_another_seed_does_not(tmp_path):
    small = {"companies": 50, "contacts": 250, "deals": 100, "activities": 1000}
    write_demo_csvs(crm=generate_demo_crm(seed=7, now=NOW, **small), folder=tmp_path / "a")
    write_demo_csvs(crm=generate_demo_crm(seed=7, now=NOW, **small), folder=tmp_path / "b")
    write_demo_csvs(crm=generate_demo_crm(seed=8, now=NOW, **small), folder=tmp_path / "c")
    for name in ("companies.csv", "contacts.csv", "deals.csv", "activities.csv", "mapping.yaml"):
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes(), name
    assert (tmp_path / "a" / "contacts.csv").read_bytes() != (tmp_path / "c" / "contacts.csv").read_bytes()


def test_rewriting_identical_data_leaves_the_files_untouched(tmp_path, crm):
    write_demo_csvs(crm=crm, folder=tmp_path)
    before = {p.name: p.stat().st_mtime_ns for p in tmp_path.iterdir()}
    write_demo_csvs(crm=crm, folder=tmp_path)
    assert {p.name: p.stat().st_mtime_ns for p in tmp_path.iterdir()} == before


def test_bad_arguments_are_rejected():
    with pytest.raises(ValueError, match="UTC"):
        generate_demo_crm(now=datetime(2026, 3, 1), **SIZES)
    with pytest.raises(ValueError, match="activities must be at least"):
        generate_demo_crm(now=NOW, companies=20, contacts=100, deals=10, activities=3)
    with pytest.raises(ValueError, match="deals must be at most"):
        generate_demo_crm(now=NOW, companies=20, contacts=100, deals=500, activities=400)


def test_conversion_rate_is_realistic(crm):
    rate = np.mean([c.converted_at is not None for c in crm.contacts])
    assert 0.15 <= rate <= 0.25


def test_rows_are_valid_and_reference_each_other(crm):
    company_ids = {c.external_id for c in crm.companies}
    contact_ids = {c.external_id for c in crm.contacts}
    deal_ids = {d.external_id for d in crm.deals}
    assert len(company_ids) == len(crm.companies) and len(contact_ids) == len(crm.contacts)
    assert len(deal_ids) == len(crm.deals)
    assert len({a.external_id for a in crm.activities}) == len(crm.activities)
    assert len({c.email for c in crm.contacts}) == len(crm.contacts)
    assert len({c.name for c in crm.companies}) == len(crm.companies)

    for contact in crm.contacts:
        assert EMAIL.match(contact.email) and EMAIL.match(contact.owner_email)
        assert contact.company_external_id in company_ids or contact.company_external_id == ""
        assert contact.lifecycle_stage in Contact.LifecycleStage.values
        assert contact.created_at <= contact.updated_at <= NOW
        assert contact.converted_at is None or contact.created_at < contact.converted_at <= NOW
    for deal in crm.deals:
        assert deal.company_external_id in company_ids and deal.contact_external_id in contact_ids
        assert deal.status in Deal.Status.values and deal.amount >= 1000
        assert deal.created_at <= deal.updated_at <= NOW
        assert deal.created_at.date() <= deal.close_date
    contacts = {c.external_id: c for c in crm.contacts}
    for activity in crm.activities:
        assert activity.kind in Activity.Kind.values and activity.direction in Activity.Direction.values
        contact = contacts[activity.contact_external_id]
        assert contact.created_at <= activity.occurred_at <= NOW
        assert activity.company_external_id == contact.company_external_id
        assert activity.deal_external_id in deal_ids or activity.deal_external_id == ""
    deal_contact = {d.external_id: d.contact_external_id for d in crm.deals}
    linked = [a for a in crm.activities if a.deal_external_id]
    assert linked and all(deal_contact[a.deal_external_id] == a.contact_external_id for a in linked)


def test_some_realistic_gaps_exist(crm):
    assert 0.02 < np.mean([c.company_external_id == "" for c in crm.contacts]) < 0.1
    assert 0.02 < np.mean([c.job_title == "" for c in crm.contacts]) < 0.15
    assert any(c.email.split("@")[1] in {"gmail.com", "outlook.com", "yahoo.com"} for c in crm.contacts)
    assert 0.01 < np.mean([c.opted_out for c in crm.contacts]) < 0.1


def test_conversion_happens_after_the_signals_that_caused_it(crm):
    by_contact = defaultdict(list)
    for activity in crm.activities:
        by_contact[activity.contact_external_id].append(activity)
    converted = [c for c in crm.contacts if c.converted_at]
    continued = 0
    for contact in converted:
        activities = by_contact[contact.external_id]
        before = [a for a in activities if not a.after_conversion]
        after = [a for a in activities if a.after_conversion]
        assert before, "every customer has at least one activity before converting"
        assert all(a.occurred_at < contact.converted_at for a in before)
        # After the sale: onboarding, or the account story (tests/demo/test_churn_story.py).
        assert all(a.occurred_at >= contact.converted_at and a.signals[0] in POST_SALE_SIGNALS for a in after)
        continued += bool(after)
    assert continued > len(converted) / 4  # activity goes on after many conversions
    for contact in crm.contacts:
        if not contact.converted_at:
            assert not any(a.after_conversion for a in by_contact[contact.external_id])
        if contact.opted_out:  # the opt-out email is the last thing they sent
            last = max(by_contact[contact.external_id], key=lambda a: a.occurred_at)
            assert last.signals == ("opt-out",) and last.direction == "inbound"


def test_deals_and_lifecycle_follow_the_outcome(crm):
    contacts = {c.external_id: c for c in crm.contacts}
    won = [d for d in crm.deals if d.status == "won"]
    assert won and {d.status for d in crm.deals} == {"won", "lost", "open"}
    for deal in crm.deals:
        contact = contacts[deal.contact_external_id]
        assert deal.company_external_id == contact.company_external_id
        if deal.status == "won":
            assert contact.converted_at and deal.close_date == contact.converted_at.date()
            assert deal.stage == "Closed won"
        else:
            assert contact.converted_at is None
        if deal.status == "open":
            assert deal.close_date > NOW.date() and contact.lifecycle_stage == "opportunity"
    for contact in crm.contacts:
        assert (contact.lifecycle_stage == "customer") == (contact.converted_at is not None)
    # Won deals cover the customers that have a company.
    with_company = sum(1 for c in crm.contacts if c.converted_at and c.company_external_id)
    assert len(won) == with_company


def test_company_size_drives_deal_size(crm):
    employees = {c.external_id: c.employee_count for c in crm.companies}
    pairs = [(employees[d.company_external_id], d.amount) for d in crm.deals if employees[d.company_external_id]]
    sizes, amounts = np.log([p[0] for p in pairs]), np.log([p[1] for p in pairs])
    assert np.corrcoef(sizes, amounts)[0, 1] > 0.5


def _pre_conversion_features(crm: DemoCRM):
    """Per contact: activity counts by kind/direction and text, using only what happened before converting."""
    index = _contact_index(crm)
    kinds = ["email/outbound", "email/inbound", "call/outbound", "call/inbound", "meeting/", "note/", "task/"]
    counts = np.zeros((len(index), len(kinds)))
    texts: list[list[str]] = [[] for _ in index]
    notes: list[list[str]] = [[] for _ in index]
    for activity in crm.activities:
        if activity.after_conversion:
            continue
        i = index[activity.contact_external_id]
        counts[i, kinds.index(f"{activity.kind}/{activity.direction}")] += 1
        texts[i].append(f"{activity.subject} {activity.body}")
        if activity.kind in ("note", "call", "meeting"):
            notes[i].append(activity.body)
    y = np.array([c.converted_at is not None for c in crm.contacts])
    return np.log1p(counts), [" ".join(t) for t in texts], [" ".join(n) for n in notes], y


def _cv_auc(X, y) -> float:
    folds = StratifiedKFold(5, shuffle=True, random_state=0)
    model = LogisticRegression(max_iter=2000)
    return roc_auc_score(y, cross_val_predict(model, X, y, cv=folds, method="predict_proba")[:, 1])


def test_text_carries_signal_that_counts_do_not(crm):
    counts, texts, notes, y = _pre_conversion_features(crm)
    notes_only = TfidfVectorizer(ngram_range=(1, 2), min_df=2).fit_transform(notes)
    text = TfidfVectorizer(ngram_range=(1, 2), min_df=2).fit_transform(texts)
    auc_notes = _cv_auc(notes_only, y)
    auc_counts = _cv_auc(counts, y)
    auc_both = _cv_auc(hstack([csr_matrix(counts), text]).tocsr(), y)
    assert auc_notes > 0.6
    assert auc_both > auc_counts + 0.03


def test_budget_factor_moves_the_outcome_but_not_the_counts(crm):
    index = _contact_index(crm)
    lead_story = [a for a in crm.activities if not a.account_story]  # not what customers do after buying
    total = np.bincount([index[a.contact_external_id] for a in lead_story], minlength=len(index))
    budget = np.array([c.budget_urgency for c in crm.contacts])
    engagement = np.array([c.engagement for c in crm.contacts])
    y = np.array([c.converted_at is not None for c in crm.contacts])
    assert abs(np.corrcoef(budget, total)[0, 1]) < 0.1
    assert np.corrcoef(engagement, total)[0, 1] > 0.3
    assert roc_auc_score(y, budget) > 0.65


def test_csvs_carry_every_header_the_mapping_names(tmp_path, crm):
    mapping_path = write_demo_csvs(crm=crm, folder=tmp_path)
    raw = mapping_load(mapping_path)
    mapping = mapping_parse(raw)  # the CSV connector accepts it
    assert set(mapping.objects) == {"companies", "contacts", "deals", "activities"}
    for object_type, spec in raw["objects"].items():
        with (tmp_path / spec["file"]).open(encoding="utf-8", newline="") as handle:
            rows = list(csv.DictReader(handle))
        headers = set(rows[0])
        assert set(spec["columns"].values()) <= headers
        assert set(spec.get("properties", [])) <= headers
        # The deal story's deals and notes are exported after the lead story's.
        extra = {"deals": crm.history_deals, "activities": crm.deal_notes}.get(object_type, [])
        assert len(rows) == len(getattr(crm, object_type)) + len(extra)
    assert raw["objects"]["contacts"]["columns"]["email"] == "Email"
    assert raw["objects"]["companies"]["columns"]["name"] == "Company name"
    with (tmp_path / "contacts.csv").open(encoding="utf-8", newline="") as handle:
        first = next(csv.DictReader(handle))
    assert datetime.fromisoformat(first["Create Date"]).utcoffset() == timedelta(0)
    assert first["Unsubscribed from all email"] in ("true", "false")
    assert yaml.safe_load(mapping_path.read_text())["encoding"] == "utf-8"
