"""A JSON field encrypted at rest with Fernet (AES-128-CBC + HMAC); credentials and API keys use it.

Keys come from settings.FIELD_ENCRYPTION_KEYS, newest first (MultiFernet): values are written with the newest
key and read with any listed key, so a key can be rotated without downtime (`manage.py credentials_reencrypt`).
"""

import base64
import hashlib
import json
from collections.abc import Iterable
from typing import Any

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.db import models


def secret_key_derived_key(secret_key: str) -> bytes:
    """The key older releases derived from SECRET_KEY; local runs still use it (their demo data stays readable),
    and `credentials_reencrypt --from-secret-key` reads values written with it."""
    return base64.urlsafe_b64encode(hashlib.sha256(f"salesai-fields:{secret_key}".encode()).digest())


def field_keys() -> list[bytes | str]:
    """The configured keys, newest first. Only a local run may fall back to the SECRET_KEY-derived key."""
    keys = list(getattr(settings, "FIELD_ENCRYPTION_KEYS", None) or [])
    if not keys and getattr(settings, "FIELD_ENCRYPTION_KEY", ""):
        keys = [settings.FIELD_ENCRYPTION_KEY]
    if keys:
        return keys
    if getattr(settings, "LOCAL", False):
        return [secret_key_derived_key(settings.SECRET_KEY)]
    raise ImproperlyConfigured("FIELD_ENCRYPTION_KEYS must be set outside local runs")


def fernet(extra_keys: Iterable[bytes | str] = ()) -> MultiFernet:
    """Encrypts with the newest key; decrypts with any configured key (and `extra_keys`, for migrations)."""
    return MultiFernet([Fernet(key) for key in (*field_keys(), *extra_keys)])


class EncryptedJSONField(models.TextField):
    """Stores a JSON object as a Fernet token; the database never sees the plaintext."""

    def from_db_value(self, value: str | None, expression: Any, connection: Any) -> dict | None:
        if value is None or value == "":
            return {}
        try:
            return json.loads(fernet().decrypt(value.encode()).decode())
        except InvalidToken as exc:
            raise ValueError("stored credentials cannot be decrypted: FIELD_ENCRYPTION_KEYS changed?") from exc

    def to_python(self, value: Any) -> dict:
        if isinstance(value, dict):
            return value
        if not value:
            return {}
        return json.loads(value)

    def get_prep_value(self, value: Any) -> str:
        return fernet().encrypt(json.dumps(value or {}, sort_keys=True).encode()).decode()
