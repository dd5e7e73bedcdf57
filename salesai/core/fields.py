"""A JSON field encrypted at rest with Fernet (AES-128-CBC + HMAC); credentials and API keys use it."""

import base64
import hashlib
import json
from typing import Any

from cryptography.fernet import Fernet, InvalidToken
from django.conf import settings
from django.db import models


def _fernet() -> Fernet:
    key = settings.FIELD_ENCRYPTION_KEY
    if not key:
        # Derived locally so a checkout works without configuration; production sets FIELD_ENCRYPTION_KEY.
        key = base64.urlsafe_b64encode(hashlib.sha256(f"salesai-fields:{settings.SECRET_KEY}".encode()).digest())
    return Fernet(key)


class EncryptedJSONField(models.TextField):
    """Stores a JSON object as a Fernet token; the database never sees the plaintext."""

    def from_db_value(self, value: str | None, expression: Any, connection: Any) -> dict | None:
        if value is None or value == "":
            return {}
        try:
            return json.loads(_fernet().decrypt(value.encode()).decode())
        except InvalidToken as exc:
            raise ValueError("stored credentials cannot be decrypted: FIELD_ENCRYPTION_KEY changed?") from exc

    def to_python(self, value: Any) -> dict:
        if isinstance(value, dict):
            return value
        if not value:
            return {}
        return json.loads(value)

    def get_prep_value(self, value: Any) -> str:
        return _fernet().encrypt(json.dumps(value or {}, sort_keys=True).encode()).decode()
