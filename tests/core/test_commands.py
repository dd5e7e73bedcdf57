"""org_create: the password validators' reasons, as a command error."""

import pytest
from django.contrib.auth import get_user_model
from django.core.management import CommandError, call_command

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize("weak", ["password", "12345678"])
def test_org_create_refuses_a_weak_password_with_the_reason(weak):
    with pytest.raises(CommandError, match="too common|entirely numeric"):
        call_command("org_create", "acme", "--admin", "alice", "--password", weak)

    assert not get_user_model().objects.filter(username="alice").exists()


def test_org_create_accepts_a_strong_password(capsys):
    call_command("org_create", "acme", "--admin", "alice", "--password", "correct-horse-battery-7")

    assert get_user_model().objects.get(username="alice").check_password("correct-horse-battery-7")
