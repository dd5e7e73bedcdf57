"""Email admin: the endpoint's API key is write-only, rows are organisation-scoped, suppressions are
stored lower-cased, drafts are read-only."""

import pytest

from ml.models import EmailSettings, EmailSuppression, GeneratedEmail, ProductCatalogueEntry
from tests.admin.conftest import staff_client

KEY = "sk-email-endpoint-5521"
NEW_KEY = "sk-rotated-7788"


@pytest.fixture
def settings_a(tenant_a):
    return EmailSettings.objects.create(
        organization=tenant_a.organization,
        backend="openai",
        openai_base_url="http://vllm:8000/v1",
        openai_model="qwen",
        openai_credentials={"api_key": KEY},
        sender_postal_address="1 Main St",
    )


@pytest.fixture
def rows_b(tenant_b):
    return {
        "emailsettings": EmailSettings.objects.create(organization=tenant_b.organization),
        "productcatalogueentry": ProductCatalogueEntry.objects.create(
            organization=tenant_b.organization, name="GlobexOnly"
        ),
        "emailsuppression": EmailSuppression.objects.create(organization=tenant_b.organization, email="b@globex.test"),
        "generatedemail": GeneratedEmail.objects.create(
            organization=tenant_b.organization, contact=tenant_b.contact, intent="renewal"
        ),
    }


def form_data(email_settings, **overrides):
    data = {
        "organization": email_settings.organization_id,
        "backend": email_settings.backend,
        "local_model": "",
        "openai_base_url": email_settings.openai_base_url,
        "openai_model": email_settings.openai_model,
        "new_api_key": "",
        "sender_postal_address": email_settings.sender_postal_address,
        "unsubscribe_text": email_settings.unsubscribe_text,
        "max_attempts": "3",
    }
    return data | overrides


def test_change_page_and_list_never_show_the_key(admin_client, settings_a):
    url = f"/admin/ml/emailsettings/{settings_a.id}/change/"

    page = admin_client.get(url).content.decode()
    listing = admin_client.get("/admin/ml/emailsettings/").content.decode()

    assert KEY not in page and KEY not in listing
    assert 'name="openai_credentials"' not in page
    assert 'name="new_api_key"' in page


def test_a_new_key_replaces_the_stored_one_and_blank_keeps_it(admin_client, settings_a):
    url = f"/admin/ml/emailsettings/{settings_a.id}/change/"

    kept = admin_client.post(url, form_data(settings_a, max_attempts="2"))
    settings_a.refresh_from_db()
    assert kept.status_code == 302, kept.content.decode()[:2000]
    assert (settings_a.openai_credentials, settings_a.max_attempts) == ({"api_key": KEY}, 2)

    replaced = admin_client.post(url, form_data(settings_a, new_api_key=NEW_KEY))
    settings_a.refresh_from_db()
    assert replaced.status_code == 302
    assert settings_a.openai_credentials == {"api_key": NEW_KEY}
    assert NEW_KEY not in admin_client.get(url).content.decode()

    admin_client.post(url, form_data(settings_a, clear_api_key="on"))
    settings_a.refresh_from_db()
    assert settings_a.openai_credentials == {}


def test_suppressions_are_stored_lower_cased(admin_client, tenant_a):
    response = admin_client.post(
        "/admin/ml/emailsuppression/add/",
        {
            "organization": tenant_a.organization.id,
            "email": "  Jane.Doe@Example.COM ",
            "reason": "complaint",
        },
    )

    assert response.status_code == 302, response.content.decode()[:2000]
    assert EmailSuppression.objects.get(organization=tenant_a.organization).email == "jane.doe@example.com"


@pytest.mark.parametrize("model", ["emailsettings", "productcatalogueentry", "emailsuppression", "generatedemail"])
def test_staff_see_only_their_organisations_rows(tenant_a, settings_a, rows_b, model):
    own = {
        "emailsettings": settings_a,
        "productcatalogueentry": ProductCatalogueEntry.objects.create(organization=tenant_a.organization, name="A1"),
        "emailsuppression": EmailSuppression.objects.create(organization=tenant_a.organization, email="a@acme.test"),
        "generatedemail": GeneratedEmail.objects.create(
            organization=tenant_a.organization, contact=tenant_a.contact, intent="renewal"
        ),
    }[model]
    client, _ = staff_client(tenant_a)

    listing = client.get(f"/admin/ml/{model}/")
    foreign_page = client.get(f"/admin/ml/{model}/{rows_b[model].id}/change/")

    html = listing.content.decode()
    assert listing.status_code == 200
    assert f"/admin/ml/{model}/{own.id}/change/" in html
    assert f"/admin/ml/{model}/{rows_b[model].id}/change/" not in html
    assert foreign_page.status_code == 302


def test_drafts_cannot_be_added_or_changed_in_the_admin(admin_client, tenant_a):
    email = GeneratedEmail.objects.create(
        organization=tenant_a.organization, contact=tenant_a.contact, intent="renewal", subject="Original"
    )

    add = admin_client.get("/admin/ml/generatedemail/add/")
    admin_client.post(f"/admin/ml/generatedemail/{email.id}/change/", {"subject": "Tampered"})

    assert add.status_code == 403
    email.refresh_from_db()
    assert email.subject == "Original"


def test_service_name_urls_are_accepted_and_non_http_ones_rejected(admin_client, settings_a, settings):
    url = f"/admin/ml/emailsettings/{settings_a.id}/change/"
    settings.EMAIL_LLM_ALLOWED_HOSTS = []

    bad = admin_client.post(url, form_data(settings_a, openai_base_url="ftp://files.example.com"))
    internal = admin_client.post(url, form_data(settings_a, openai_base_url="http://10.0.0.5:11434/v1"))
    settings.EMAIL_LLM_ALLOWED_HOSTS = ["10.0.0.5"]  # the operator's own inference server
    good = admin_client.post(url, form_data(settings_a, openai_base_url="http://10.0.0.5:11434/v1"))

    assert bad.status_code == 200 and "Enter an http(s) URL" in bad.content.decode()
    assert internal.status_code == 200 and "EMAIL_LLM_ALLOWED_HOSTS" in internal.content.decode()
    assert good.status_code == 302
    settings_a.refresh_from_db()
    assert settings_a.openai_base_url == "http://10.0.0.5:11434/v1"
