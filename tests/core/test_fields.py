"""Credentials at rest: newest key writes, every listed key reads, re-encryption moves values to the newest key."""

import pytest
from cryptography.fernet import Fernet
from django.core.exceptions import ImproperlyConfigured
from django.core.management import CommandError, call_command
from django.db import connection as db_connection

from crm_connectors.models import CRMConnection
from salesai.core.fields import fernet, secret_key_derived_key
from tests.factories import CRMConnectionFactory

OLD, NEW = Fernet.generate_key().decode(), Fernet.generate_key().decode()


def stored_token(connection: CRMConnection) -> str:
    with db_connection.cursor() as cursor:
        cursor.execute(f"SELECT credentials FROM {CRMConnection._meta.db_table} WHERE id = %s", [connection.pk])
        return cursor.fetchone()[0]


def opens_with(token: str, key: str) -> bool:
    try:
        Fernet(key).decrypt(token.encode())
    except Exception:  # noqa: BLE001 - InvalidToken: another key
        return False
    return True


@pytest.mark.django_db
def test_values_are_written_with_the_newest_key_and_read_with_any(settings):
    settings.FIELD_ENCRYPTION_KEYS = [OLD]
    connection = CRMConnectionFactory(credentials={"token": "t-1"})

    settings.FIELD_ENCRYPTION_KEYS = [NEW, OLD]
    assert CRMConnection.objects.get(pk=connection.pk).credentials == {"token": "t-1"}
    CRMConnection.objects.filter(pk=connection.pk).update(credentials={"token": "t-2"})

    assert opens_with(stored_token(connection), NEW) and not opens_with(stored_token(connection), OLD)


def test_a_deployment_never_derives_the_key_from_the_secret_key(settings):
    settings.LOCAL, settings.FIELD_ENCRYPTION_KEYS, settings.FIELD_ENCRYPTION_KEY = False, [], ""

    with pytest.raises(ImproperlyConfigured):
        fernet()


@pytest.mark.django_db
def test_credentials_reencrypt_moves_every_value_to_the_newest_key(settings):
    settings.FIELD_ENCRYPTION_KEYS = [OLD]
    first = CRMConnectionFactory(credentials={"token": "first"})
    second = CRMConnectionFactory(credentials={"token": "second"})
    CRMConnectionFactory(credentials={})  # empty credentials are not a value to move
    settings.FIELD_ENCRYPTION_KEYS = [NEW, OLD]
    CRMConnection.objects.filter(pk=second.pk).update(credentials={"token": "second"})  # already under NEW

    call_command("credentials_reencrypt")
    settings.FIELD_ENCRYPTION_KEYS = [NEW]  # the old key can go now

    assert CRMConnection.objects.get(pk=first.pk).credentials == {"token": "first"}
    assert CRMConnection.objects.get(pk=second.pk).credentials == {"token": "second"}
    assert opens_with(stored_token(first), NEW)


@pytest.mark.django_db
def test_credentials_reencrypt_reports_what_it_moved(settings, capsys):
    settings.FIELD_ENCRYPTION_KEYS = [OLD]
    CRMConnectionFactory(credentials={"token": "x"})
    settings.FIELD_ENCRYPTION_KEYS = [NEW, OLD]

    call_command("credentials_reencrypt")
    call_command("credentials_reencrypt")  # idempotent: nothing left to move

    first, second = capsys.readouterr().out.strip().splitlines()
    assert first.startswith("1 of 1 stored values re-encrypted") and "crm_connectors.CRMConnection.credentials" in first
    assert second.startswith("0 of 1 stored values")


@pytest.mark.django_db
def test_values_under_the_old_secret_key_derived_key_are_moved_with_from_secret_key(settings):
    settings.FIELD_ENCRYPTION_KEYS = [secret_key_derived_key(settings.SECRET_KEY).decode()]
    connection = CRMConnectionFactory(credentials={"token": "legacy"})
    settings.FIELD_ENCRYPTION_KEYS = [NEW]

    with pytest.raises(CommandError, match="opens with none of the keys"):
        call_command("credentials_reencrypt")
    call_command("credentials_reencrypt", "--from-secret-key")

    assert CRMConnection.objects.get(pk=connection.pk).credentials == {"token": "legacy"}
