"""An organisation's OpenAI-compatible endpoint cannot make the server reach its private network (SSRF),
unless the operator lists the host in EMAIL_LLM_ALLOWED_HOSTS."""

from typing import Any

import pytest
from django.core.exceptions import ValidationError

from ml.models import EmailSettings
from ml.validators import llm_endpoint_check
from tests.factories import OrganizationFactory


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:8000/v1",
        "http://localhost/v1",
        "http://10.1.2.3/v1",
        "http://192.168.0.5:8080/v1",
        "http://169.254.169.254/latest",
        "http://[::1]:8000/v1",
        "http://0.0.0.0/v1",
    ],
)
def test_private_loopback_and_link_local_endpoints_are_refused(settings: Any, url: str):
    settings.EMAIL_LLM_ALLOWED_HOSTS = []
    with pytest.raises(ValidationError, match="EMAIL_LLM_ALLOWED_HOSTS"):
        llm_endpoint_check(url)


def test_an_allow_listed_host_and_a_public_address_pass(settings: Any):
    settings.EMAIL_LLM_ALLOWED_HOSTS = ["127.0.0.1"]
    llm_endpoint_check("http://127.0.0.1:8000/v1")
    llm_endpoint_check("https://8.8.8.8/v1")  # a public literal: no DNS needed


@pytest.mark.django_db
def test_saving_settings_with_an_internal_endpoint_is_a_field_error(settings: Any):
    settings.EMAIL_LLM_ALLOWED_HOSTS = []
    email_settings = EmailSettings(
        organization=OrganizationFactory(),
        backend=EmailSettings.Backend.OPENAI,
        openai_base_url="http://169.254.169.254/v1",
        openai_model="m",
    )
    with pytest.raises(ValidationError) as error:
        email_settings.full_clean()
    assert "openai_base_url" in error.value.message_dict
