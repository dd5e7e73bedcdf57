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


@pytest.fixture(autouse=True)
def fresh_throttle_counters() -> None:
    # API throttles count in the (per-process) cache: one test's requests must not use up the next one's rate.
    from django.core.cache import cache

    cache.clear()
