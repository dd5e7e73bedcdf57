"""`ml_score` survives a dropped database connection mid-run: it reconnects and scores, a bounded number of times."""

import pytest
from django.core.management import call_command
from django.db import OperationalError, connection

from ml import scoring_services, training_services
from ml.models import Prediction
from salesai.core.models import Contact
from tests.core.test_db_retry import backend_pid, backend_terminate
from tests.ml.crm_data import synthetic_org_create

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(connection.vendor != "postgresql", reason="terminates a PostgreSQL backend"),
]

TINY = {"d_token": 16, "n_heads": 2, "n_layers": 1, "epochs": 2, "batch_size": 64, "test_fraction": 0.3}


@pytest.fixture
def trained_org(settings):
    settings.ML_MIN_TRAINING_ROWS = 100
    settings.ML_GATE_REQUIRE_BEATS_BASELINE = False
    organization = synthetic_org_create(contacts=240, seed=5)
    training_services.model_train(organization_id=organization.id, params=TINY)
    return organization


def drop_connection_before_writes(monkeypatch, *, times: int) -> list[int]:
    """The first `times` scoring runs lose their connection after scoring, as they start writing."""
    dropped: list[int] = []
    original = scoring_services._predictions_write

    def write(**kwargs):
        if len(dropped) < times:
            pid = backend_pid()
            dropped.append(pid)
            backend_terminate(pid)
        return original(**kwargs)

    monkeypatch.setattr(scoring_services, "_predictions_write", write)
    monkeypatch.setattr("salesai.core.db_retry.time.sleep", lambda seconds: None)
    return dropped


def test_ml_score_retries_on_a_fresh_connection(trained_org, monkeypatch, capsys):
    dropped = drop_connection_before_writes(monkeypatch, times=1)
    call_command("ml_score", "--org", trained_org.slug)
    assert len(dropped) == 1 and backend_pid() != dropped[0]
    open_leads = Contact.objects.filter(organization=trained_org, converted_at__isnull=True, deleted_at__isnull=True)
    assert f"scored {open_leads.count()} contacts" in capsys.readouterr().out
    assert Prediction.objects.filter(organization=trained_org, is_current=True).count() == open_leads.count()


def test_ml_score_gives_up_after_the_configured_attempts(trained_org, monkeypatch, settings):
    settings.ML_SCORING_DB_ATTEMPTS = 2
    dropped = drop_connection_before_writes(monkeypatch, times=5)
    with pytest.raises(OperationalError):
        call_command("ml_score", "--org", trained_org.slug)
    assert len(dropped) == 2
    connection.close()
