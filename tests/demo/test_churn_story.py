"""The churn story of the synthetic CRM: who churns, when, what it leaves in the data, and that the lead
story is untouched by it."""

from collections import defaultdict
from datetime import date, timedelta

import numpy as np
import pytest
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import GroupKFold, cross_val_predict
from sklearn.preprocessing import StandardScaler

from salesai.demo import generator
from salesai.demo.generator import DemoCRM, demo_mapping, demo_now, generate_demo_crm

NOW = demo_now(day=date(2026, 3, 1))
SIZES = {"companies": 400, "contacts": 2000, "deals": 800, "activities": 8000}


@pytest.fixture(scope="module")
def crm() -> DemoCRM:
    return generate_demo_crm(seed=7, now=NOW, **SIZES)


def _customer_since(crm: DemoCRM) -> dict[str, object]:
    since: dict[str, object] = {}
    for contact in crm.contacts:
        if contact.converted_at and contact.company_external_id:
            key = contact.company_external_id
            since[key] = min(since.get(key, contact.converted_at), contact.converted_at)
    return since


def test_only_customers_have_health_and_only_they_churn(crm):
    since = _customer_since(crm)
    for company in crm.companies:
        assert (company.health is not None) == (company.external_id in since)
        if company.churn_date is not None:
            assert company.external_id in since
            assert since[company.external_id].date() < company.churn_date < NOW.date()


def test_about_a_quarter_of_tenured_customers_churned(crm):
    since = _customer_since(crm)
    tenured = [c for c in crm.companies if c.external_id in since and NOW - since[c.external_id] >= timedelta(days=60)]
    share = np.mean([c.churn_date is not None for c in tenured])
    assert len(tenured) > 100
    assert 0.18 <= share <= 0.32


def test_unhealthy_accounts_churn(crm):
    customers = [c for c in crm.companies if c.health is not None]
    churned = np.array([c.churn_date is not None for c in customers])
    health = np.array([c.health for c in customers])
    assert roc_auc_score(churned, -health) > 0.7


def test_churned_accounts_go_quiet_and_their_words_turn(crm):
    churn = {c.external_id: c.churn_date for c in crm.companies if c.churn_date}
    healthy = {c.external_id for c in crm.companies if c.health is not None and c.churn_date is None}
    risk_share = defaultdict(list)
    for activity in crm.activities:
        if not activity.after_conversion:
            continue
        company = activity.company_external_id
        if company in churn:
            assert activity.occurred_at.date() < churn[company]  # nothing of the account after it left
            risk_share["churned"].append(activity.signals == ("churn-risk",))
        elif company in healthy:
            risk_share["healthy"].append(activity.signals == ("churn-risk",))
    assert np.mean(risk_share["churned"]) > 0.4
    assert 0.03 < np.mean(risk_share["healthy"]) < 0.25  # noise: healthy accounts complain too
    texts = [a.body for a in crm.activities if a.signals == ("churn-risk",)]
    assert any("switching to" in t for t in texts)


def test_churn_date_is_exported_as_a_company_property(tmp_path, crm):
    mapping = demo_mapping()
    assert "churn_date" in mapping["objects"]["companies"]["properties"]
    generator.write_demo_csvs(crm=crm, folder=tmp_path)
    header, *rows = (tmp_path / "companies.csv").read_text().splitlines()
    position = header.split(",").index("churn_date")
    values = [row.split(",")[position] for row in rows if row.count(",") == header.count(",")]
    dates = [v for v in values if v]
    assert dates and all(date.fromisoformat(v) < NOW.date() for v in dates)


def test_the_churn_story_changes_nothing_of_the_lead_story(monkeypatch):
    small = {"companies": 60, "contacts": 300, "deals": 120, "activities": 1200}
    with_churn = generate_demo_crm(seed=5, now=NOW, **small)

    def no_churn(self) -> None:
        self.company_health = [None] * len(self.company_rows)
        self.company_churned_at = [None] * len(self.company_rows)

    monkeypatch.setattr(generator._Builder, "make_churn", no_churn)
    without = generate_demo_crm(seed=5, now=NOW, **small)

    def lead_view(crm: DemoCRM):
        pre = sorted(
            (a.contact_external_id, a.occurred_at, a.kind, a.direction, a.subject, a.body)
            for a in crm.activities
            if not a.after_conversion
        )
        return crm.contacts, crm.deals, [(c.name, c.created_at, c.industry) for c in crm.companies], pre

    assert lead_view(with_churn) == lead_view(without)
    assert any(c.churn_date for c in with_churn.companies)
    post = [(a.occurred_at, a.body) for a in with_churn.activities if a.after_conversion]
    assert post != [(a.occurred_at, a.body) for a in without.activities if a.after_conversion]


def _own_activities(crm: DemoCRM) -> dict[str, list]:
    own = defaultdict(list)
    for activity in crm.activities:
        if activity.account_story:
            own[activity.company_external_id].append(activity)
    return own


def test_every_customer_has_a_post_sale_life_of_its_own(crm):
    since = _customer_since(crm)
    churn = {c.external_id: c.churn_date for c in crm.companies if c.churn_date}
    converted = {c.external_id: c.converted_at for c in crm.contacts}
    own = _own_activities(crm)
    assert set(own) <= set(since)
    tenured = [c for c in since if (churn.get(c) or NOW.date()) - since[c].date() >= timedelta(days=120)]
    assert len(tenured) > 100
    assert all(8 <= len(own[c]) <= 20 for c in tenured)
    added = sum(len(v) for v in own.values())
    assert 0.15 * SIZES["activities"] < added <= 0.4 * SIZES["activities"]
    for company, activities in own.items():
        for activity in activities:
            assert activity.after_conversion and activity.occurred_at >= converted[activity.contact_external_id]
            assert company not in churn or activity.occurred_at.date() < churn[company]
    kinds = {(a.kind, a.direction) for v in own.values() for a in v}
    assert {("meeting", ""), ("email", "inbound"), ("call", "outbound"), ("note", "")} <= kinds


def test_as_churn_nears_reviews_thin_out_and_inbound_grows(crm):
    churn = {c.external_id: c.churn_date for c in crm.companies if c.churn_date}
    late, healthy = [], []
    for company, activities in _own_activities(crm).items():
        if company in churn:
            late += [a for a in activities if (churn[company] - a.occurred_at.date()).days <= 45]
        else:
            healthy += activities
    assert len(late) > 50

    def share(rows, test):
        return np.mean([test(a) for a in rows])

    assert share(late, lambda a: a.kind == "meeting") < share(healthy, lambda a: a.kind == "meeting") - 0.08
    assert share(late, lambda a: a.direction == "inbound") > share(healthy, lambda a: a.direction == "inbound") + 0.1


def test_words_carry_churn_signal_that_counts_do_not_and_neither_is_an_oracle(crm):
    """Half-monthly snapshots of each customer as the churn model sees them (the last 16 activities before
    the snapshot; label: churns within 90 days): the words tell far more than the counts, but not all."""
    since = _customer_since(crm)
    churn = {c.external_id: c.churn_date for c in crm.companies if c.churn_date}
    history = defaultdict(list)
    for activity in sorted(crm.activities, key=lambda a: a.occurred_at):
        if activity.company_external_id in since:
            history[activity.company_external_id].append(activity)
    kinds = ["email/inbound", "email/outbound", "call/inbound", "call/outbound", "meeting/", "note/", "task/"]
    counts, texts, labels, groups = [], [], [], []
    for company, start in since.items():
        snapshot, churned = start + timedelta(days=15), churn.get(company)
        while snapshot + timedelta(days=90) <= NOW and (churned is None or snapshot.date() < churned):
            recent = [a for a in history[company] if a.occurred_at < snapshot][-16:]
            counts.append(
                [
                    sum(
                        a.occurred_at >= snapshot - timedelta(days=days) and f"{a.kind}/{a.direction}" == k
                        for a in recent
                    )
                    for days in (30, 90)
                    for k in kinds
                ]
            )
            texts.append(" ".join(f"{a.subject} {a.body}" for a in recent))
            labels.append(churned is not None and churned <= (snapshot + timedelta(days=90)).date())
            groups.append(company)
            snapshot += timedelta(days=15)
    y = np.array(labels)
    assert 0.05 < y.mean() < 0.25

    def cv_auc(X) -> float:
        predicted = cross_val_predict(
            LogisticRegression(max_iter=3000), X, y, cv=GroupKFold(5), groups=groups, method="predict_proba"
        )[:, 1]
        return roc_auc_score(y, predicted)

    auc_counts = cv_auc(StandardScaler().fit_transform(np.log1p(np.array(counts, dtype=float))))
    auc_text = cv_auc(TfidfVectorizer(ngram_range=(1, 2), min_df=3, sublinear_tf=True).fit_transform(texts))
    assert 0.65 < auc_text < 0.95  # polite churners and healthy accounts' rough patches: noise both ways
    assert auc_text > auc_counts + 0.08
