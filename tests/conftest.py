import os
from typing import Any

import pytest

# Torch threads fight on small machines; one thread per test process.
os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")


@pytest.fixture(autouse=True)
def fast_password_hashing(settings: Any) -> None:
    # Factories hash a password per user; the default PBKDF2 costs about a second each on a small machine.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
