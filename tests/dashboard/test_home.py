"""/app/: scored open leads with reasons, recent syncs and the champion, for the user's organisation."""

from django.test import Client
from django.utils import timezone

from crm_connectors.models import SyncRun
from ml.models import ModelVersion
from salesai.core.models import Membership
from tests.factories import (
    ContactFactory,
    MembershipFactory,
    OrganizationFactory,
    PredictionFactory,
    SyncRunFactory,
    UserFactory,
)


def test_anonymous_is_sent_to_login(db):
    response = Client().get("/app/")

    assert response.status_code == 302
    assert response.headers["Location"] == "/accounts/login/?next=/app/"


def test_member_sees_scored_leads_with_reasons(client_a, tenant_a, tenant_b):
    contact = tenant_a.contact

    response = client_a.get("/app/")

    html = response.content.decode()
    assert response.status_code == 200
    assert contact.full_name in html
    assert f'<span class="score" title="0.500">{tenant_a.prediction.score}</span>' in html
    assert tenant_a.company.name in html and contact.lead_source in html
    assert "Lead source = Referral" in html and "No activity for 30 days" in html
    assert '<span class="sign" aria-label="raises the score">+</span>Lead source = Referral' in html
    assert '<span class="sign" aria-label="lowers the score">−</span>No activity for 30 days' in html
    assert f"/app/contacts/{contact.id}/" in html
    assert tenant_b.contact.full_name not in html


def test_leads_are_open_scored_and_best_first(client_a, tenant_a):
    org, model_version = tenant_a.organization, tenant_a.model_version
    best = PredictionFactory(organization=org, model_version=model_version, probability=0.93).contact
    converted = PredictionFactory(
        organization=org,
        model_version=model_version,
        probability=0.99,
        contact=ContactFactory(organization=org, converted_at=timezone.now()),
    ).contact
    deleted = PredictionFactory(
        organization=org,
        model_version=model_version,
        probability=0.98,
        contact=ContactFactory(organization=org, deleted_at=timezone.now()),
    ).contact
    unscored = ContactFactory(organization=org)

    html = client_a.get("/app/").content.decode()

    assert html.index(best.full_name) < html.index(tenant_a.contact.full_name)
    for hidden in (converted, deleted, unscored):
        assert f"/app/contacts/{hidden.id}/" not in html


def test_champion_and_sync_runs_are_shown(client_a, tenant_a):
    ModelVersion.objects.filter(id=tenant_a.model_version.id).update(
        status=ModelVersion.Status.CHAMPION, trained_rows=4321
    )
    SyncRunFactory(
        connection=tenant_a.connection,
        status=SyncRun.Status.PARTIAL,
        created=7,
        errors=[{"reason": "bad email"}, {"reason": "bad date"}],
    )

    html = client_a.get("/app/").content.decode()

    assert f"Lead conversion v{tenant_a.model_version.version}" in html
    for label, value in (("ROC-AUC", "0.810"), ("PR-AUC", "0.420"), ("Brier", "0.110"), ("ECE", "0.020")):
        assert f'<tr><td>{label}</td><td class="num">{value}</td></tr>' in html
    assert "4321" in html
    assert "Finished with row errors" in html
    assert '<td class="num">2</td>' in html  # the partial run's error count
    assert "No model yet" not in html and "No syncs yet" not in html


def test_empty_states_read_well(db):
    organization = OrganizationFactory(slug="fresh", name="Fresh Start")
    user = MembershipFactory(organization=organization, role=Membership.Role.MANAGER).user
    client = Client()
    client.force_login(user)

    html = client.get("/app/").content.decode()

    assert "Fresh Start" in html
    assert "No scored leads yet" in html
    assert "No model yet" in html
    assert "No syncs yet" in html


def test_user_without_organisation_gets_a_clear_page(db):
    client = Client()
    client.force_login(UserFactory())

    response = client.get("/app/")

    assert response.status_code == 200
    assert "not a member of any organisation" in response.content.decode()


def test_org_selector_switches_and_refuses_foreign_orgs(client_a, rep_a, tenant_a, tenant_b):
    second = OrganizationFactory(slug="second", name="Second Org")
    Membership.objects.create(user=rep_a, organization=second, role=Membership.Role.REP)
    lead = PredictionFactory(organization=second).contact

    default = client_a.get("/app/").content.decode()
    switched = client_a.get("/app/", {"org": "second"}).content.decode()
    foreign = client_a.get("/app/", {"org": tenant_b.organization.slug})

    assert tenant_a.contact.full_name in default and lead.full_name not in default
    assert lead.full_name in switched and tenant_a.contact.full_name not in switched
    assert '<option value="second" selected>' in switched
    assert foreign.status_code == 404
