"""Project-wide consistency: migrations match the models, .env.example documents every setting."""

import subprocess
import sys
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import call_command

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.django_db
def test_models_and_migrations_agree():
    out = StringIO()
    try:
        call_command("makemigrations", "--check", "--dry-run", stdout=out, stderr=out)
    except SystemExit as exc:  # --check exits non-zero when a migration is missing
        pytest.fail(f"models changed without a migration:\n{out.getvalue()}") if exc.code else None


def test_env_example_lists_every_setting():
    result = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "check_env_example.py")], capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr
