"""EmailSettings.courtesy_phrases: the organisation's own courtesy phrases are validated on save (admin) and
used by the verifier for the organisation's drafts."""

import pytest
from django.core.exceptions import ValidationError

from ml.models import EmailSettings
from tests.factories import OrganizationFactory

pytestmark = pytest.mark.django_db


def test_valid_phrases_pass_and_bad_ones_are_refused_with_the_reason():
    settings = EmailSettings(organization=OrganizationFactory(), courtesy_phrases=["Warm greetings from the * team"])
    settings.clean()  # no error

    for phrases, reason in (
        (["*"], "only wildcards"),
        (["Save 20 percent today"], "numbers are claims"),
        ("Have a good day", "A list of phrases"),
    ):
        settings.courtesy_phrases = phrases
        with pytest.raises(ValidationError) as caught:
            settings.clean()
        assert reason in str(caught.value.message_dict["courtesy_phrases"])
