"""No log line carries the Salesforce webhook URL secret or a token: django.request, the console, gunicorn."""

import io
import logging
from datetime import timedelta
from pathlib import Path
from types import SimpleNamespace

import pytest
from gunicorn.config import Config

from salesai.gunicorn_logging import RedactingLogger
from salesai.log_redaction import SecretsRedactingFilter, redact

ROOT = Path(__file__).resolve().parent.parent
SECRET = "Zs9-very-secret-webhook-path-4711"


def test_redact_masks_the_webhook_secret_segment_query_secrets_and_tokens():
    assert redact(f"Not Found: /webhooks/salesforce/12/{SECRET}/") == "Not Found: /webhooks/salesforce/12/***/"
    assert redact("GET /v1/deals?api_token=abc123&limit=5") == "GET /v1/deals?api_token=***&limit=5"
    assert redact("api_token=abc123&limit=5") == "api_token=***&limit=5"  # gunicorn's bare query atom
    assert redact("Authorization: Bearer pat-na1-abcdef123456") == "Authorization: Bearer ***"
    assert redact("GET /api/v1/contacts/?page=2") == "GET /api/v1/contacts/?page=2"


@pytest.fixture
def console():
    """The root logger's configured console handler, writing into a buffer for the test."""
    handler = next(
        h for h in logging.getLogger().handlers if any(isinstance(f, SecretsRedactingFilter) for f in h.filters)
    )
    buffer = io.StringIO()
    old = handler.setStream(buffer)
    yield buffer
    handler.setStream(old)


@pytest.mark.django_db
def test_django_request_lines_never_show_the_webhook_secret(client, console):
    response = client.post(f"/webhooks/salesforce/999999/{SECRET}/", data="<x/>", content_type="text/xml")

    assert response.status_code in (403, 404)
    logged = console.getvalue()
    assert "django.request" in logged and "/webhooks/salesforce/999999/***/" in logged
    assert SECRET not in logged


def test_gunicorn_access_lines_never_show_the_webhook_secret_or_a_token():
    logger = RedactingLogger(Config())
    environ = {
        "REQUEST_METHOD": "POST",
        "RAW_URI": f"/webhooks/salesforce/7/{SECRET}/?api_token=tok-123456",
        "PATH_INFO": f"/webhooks/salesforce/7/{SECRET}/",
        "QUERY_STRING": "api_token=tok-123456",
        "SERVER_PROTOCOL": "HTTP/1.1",
        "REMOTE_ADDR": "203.0.113.9",
        "HTTP_REFERER": f"https://x.example/webhooks/salesforce/7/{SECRET}/",
    }
    request = SimpleNamespace(headers=[("AUTHORIZATION", "Bearer pat-na1-abcdef123456")])
    response = SimpleNamespace(status="200 OK", sent=2, headers=[])

    atoms = logger.atoms(response, request, environ, timedelta(milliseconds=5))

    text = " ".join(str(value) for value in atoms.values())
    assert SECRET not in text and "tok-123456" not in text and "abcdef123456" not in text
    assert atoms["r"] == "POST /webhooks/salesforce/7/***/?api_token=*** HTTP/1.1"


def test_gunicorn_uses_the_redacting_logger():
    namespace: dict = {}
    exec((ROOT / "gunicorn.conf.py").read_text(), namespace)  # noqa: S102 - our own config file

    assert namespace["logger_class"] == "salesai.gunicorn_logging.RedactingLogger"
