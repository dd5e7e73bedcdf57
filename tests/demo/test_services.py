"""demo_seed: the synthetic export goes through the real CSV connector and sync, with no row errors, idempotently."""

import re
from datetime import date, timedelta
from io import StringIO

import pytest
from django.contrib.auth import authenticate
from django.core.management import call_command
from django.test import RequestFactory

from crm_connectors.models import CRMConnection, SyncRun
from salesai.core.models import Activity, Company, Contact, Deal, DealHistory, Membership, Organization
from salesai.demo.services import DEMO_CONNECTION_NAME, demo_seed

# Logins go through django-axes, which needs the request a login came with.
LOGIN_REQUEST = RequestFactory().post("/accounts/login/")
SIZES = {"companies": 30, "contacts": 150, "deals": 60, "activities": 600}
DAY = date(2026, 3, 1)


@pytest.fixture
def var_dir(tmp_path, settings):
    settings.VAR_DIR = tmp_path
    settings.CSV_IMPORT_ROOTS = [str(tmp_path)]
    return tmp_path


def _row_counts(organization):
    return {
        "companies": Company.objects.filter(organization=organization).count(),
        "contacts": Contact.objects.filter(organization=organization).count(),
        "deals": Deal.objects.filter(organization=organization).count(),
        "activities": Activity.objects.filter(organization=organization).count(),
    }


@pytest.mark.django_db
def test_demo_seed_imports_everything_without_row_errors_and_reseeding_changes_nothing(var_dir):
    first = demo_seed(password="pw-demo-1", today=DAY, **SIZES)

    run = first.sync_run
    assert run.status == SyncRun.Status.SUCCEEDED, run.error_summary
    assert run.failed == 0 and run.errors == []
    # The churn story adds the customers' own post-sale activities on top of the activities asked for.
    generated = first.generated
    assert generated["activities"] > SIZES["activities"]
    # The deal story adds as many deals again, with ~30 months of field history (salesai/demo/deal_story.py).
    assert generated["deals"] == 2 * SIZES["deals"]
    assert {k: v for k, v in generated.items() if k not in ("activities", "deals")} == {
        k: v for k, v in SIZES.items() if k not in ("activities", "deals")
    }
    history = DealHistory.objects.filter(organization__slug="demo")
    assert history.count() == first.deal_history_rows > 0 and set(history.values_list("source", flat=True)) == {"demo"}
    assert run.created == sum(generated.values())
    # The export lands in the demo organisation's own import folder, the only place its connection may read.
    assert first.folder == var_dir / "demo" / "export" and (first.folder / "mapping.yaml").is_file()
    assert first.organization_created and first.organization.slug == "demo"
    assert _row_counts(first.organization) == generated
    assert Membership.objects.get(organization=first.organization, user__username="demo").role == "admin"
    assert authenticate(LOGIN_REQUEST, username="demo", password="pw-demo-1") is not None
    customers = Contact.objects.filter(organization=first.organization, converted_at__isnull=False)
    assert customers.exists() and all(c.lifecycle_stage == "customer" for c in customers)
    assert Activity.objects.filter(organization=first.organization, deal__isnull=False).exists()
    assert Contact.objects.filter(organization=first.organization).exclude(properties={}).exists()

    second = demo_seed(password="pw-demo-2", today=DAY, **SIZES)

    rerun = second.sync_run
    assert rerun.status == SyncRun.Status.SUCCEEDED
    assert (rerun.created, rerun.updated, rerun.deleted, rerun.failed) == (0, 0, 0, 0)
    assert rerun.unchanged == sum(generated.values()) and second.generated == generated
    assert not second.organization_created and second.organization == first.organization
    assert Organization.objects.filter(slug="demo").count() == 1
    assert CRMConnection.objects.filter(organization=first.organization, name=DEMO_CONNECTION_NAME).count() == 1
    assert _row_counts(first.organization) == generated
    assert history.count() == first.deal_history_rows
    assert (
        authenticate(LOGIN_REQUEST, username="demo", password="pw-demo-2") is not None
    )  # the password follows the argument


@pytest.mark.django_db
def test_reseeding_on_a_later_day_updates_rows_in_place(var_dir):
    tiny = {"companies": 10, "contacts": 50, "deals": 20, "activities": 200}
    demo_seed(password="pw-demo-later", today=DAY, **tiny)
    later = demo_seed(password="pw-demo-later", today=DAY + timedelta(days=1), **tiny)

    assert later.sync_run.status == SyncRun.Status.SUCCEEDED
    assert later.sync_run.created == 0 and later.sync_run.updated > 0 and later.sync_run.failed == 0
    assert _row_counts(later.organization) == later.generated


@pytest.mark.django_db
def test_demo_seed_command_prints_what_it_did_and_the_login(var_dir, settings):
    settings.DEMO_PASSWORD = "from-settings"
    out = StringIO()
    call_command(
        "demo_seed", "--companies", "20", "--contacts", "100", "--deals", "40", "--activities", "400", stdout=out
    )

    text = out.getvalue()
    # 40 deals asked for, as many again from the deal story.
    found = re.search(r"Generated 20 companies, 100 contacts, 80 deals, (\d+) activities", text)
    assert found and int(found[1]) > 400  # 400 asked for, plus the customers' own post-sale activities
    assert f"{200 + int(found[1])} created" in text and "0 failed" in text
    assert "http://127.0.0.1:8000/app/" in text and "'demo'" in text and "'from-settings'" in text
    assert authenticate(LOGIN_REQUEST, username="demo", password="from-settings") is not None


def test_the_default_demo_password_passes_the_validators_and_a_deployment_refuses_it(settings):
    from django.contrib.auth.password_validation import validate_password
    from django.core.exceptions import ValidationError

    validate_password(settings.DEMO_PASSWORD_DEFAULT)  # the local demo user keeps a password that is accepted
    settings.LOCAL = False

    with pytest.raises(ValidationError, match="DEMO_PASSWORD"):
        demo_seed(password=settings.DEMO_PASSWORD_DEFAULT, today=DAY, **SIZES)
