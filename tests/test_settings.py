"""Settings refuse to run a deployment on public secrets; local runs (make demo / make test / CI) say so."""

import os
import subprocess
import sys
from pathlib import Path

import pytest
from cryptography.fernet import Fernet

ROOT = Path(__file__).resolve().parent.parent
PROBE = "import django; django.setup(); from django.conf import settings; print(settings.SALESAI_ENV)"
STRONG_SECRET = "k3y-" + "x7Q9" * 14


def start(tmp_path: Path, **variables: str) -> subprocess.CompletedProcess:
    """Import the real settings in a fresh process with only `variables` set (no .env, no test settings)."""
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("DJANGO_", "SALESAI_", "FIELD_ENCRYPTION", "CRM_ALLOWED"))
    }
    env.update(DJANGO_SETTINGS_MODULE="salesai.settings", SALESAI_VAR_DIR=str(tmp_path), **variables)
    return subprocess.run(
        [sys.executable, "-c", PROBE],
        check=False,
        cwd=tmp_path,
        env={**env, "PYTHONPATH": str(ROOT)},
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_a_deployment_without_a_secret_key_refuses_to_start(tmp_path):
    result = start(tmp_path)

    assert result.returncode != 0
    assert "ImproperlyConfigured" in result.stderr and "DJANGO_SECRET_KEY" in result.stderr


def test_a_deployment_on_the_published_local_key_refuses_to_start(tmp_path):
    result = start(
        tmp_path, DJANGO_SECRET_KEY="insecure-local-only-change-me", FIELD_ENCRYPTION_KEY=Fernet.generate_key().decode()
    )

    assert result.returncode != 0 and "DJANGO_SECRET_KEY" in result.stderr


def test_a_deployment_needs_its_own_credentials_key_never_a_derived_one(tmp_path):
    result = start(tmp_path, DJANGO_SECRET_KEY=STRONG_SECRET)

    assert result.returncode != 0 and "FIELD_ENCRYPTION_KEYS" in result.stderr


def test_a_credentials_key_that_is_not_a_fernet_key_is_refused(tmp_path):
    result = start(tmp_path, DJANGO_SECRET_KEY=STRONG_SECRET, FIELD_ENCRYPTION_KEYS="not-a-key")

    assert result.returncode != 0 and "not a Fernet key" in result.stderr


def test_a_deployment_with_its_own_keys_starts(tmp_path):
    keys = f"{Fernet.generate_key().decode()},{Fernet.generate_key().decode()}"
    result = start(tmp_path, DJANGO_SECRET_KEY=STRONG_SECRET, FIELD_ENCRYPTION_KEYS=keys)

    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "production"


def test_a_local_run_starts_with_no_configuration(tmp_path):
    result = start(tmp_path, SALESAI_ENV="local")

    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "local"


def test_an_unknown_environment_name_is_refused(tmp_path):
    result = start(tmp_path, SALESAI_ENV="prod")

    assert result.returncode != 0 and "SALESAI_ENV" in result.stderr


@pytest.mark.parametrize("command", ["demo", "test"])
def test_make_demo_and_make_test_are_local_runs(command):
    script = (ROOT / "scripts" / f"{command}.sh").read_text()

    assert 'export SALESAI_ENV="${SALESAI_ENV:-local}"' in script


def production_block() -> dict[str, str]:
    """The production block of .env.example, placeholders filled with fresh values."""
    text = (ROOT / ".env.example").read_text().split("# --- Production", 1)[1]
    fills = {
        "DJANGO_SECRET_KEY": "q" + "".join(f"{i % 10}{chr(97 + i % 26)}" for i in range(40)),
        "FIELD_ENCRYPTION_KEYS": Fernet.generate_key().decode(),
        "DJANGO_ALLOWED_HOSTS": "sales.example.com,127.0.0.1",
        "DJANGO_CSRF_TRUSTED_ORIGINS": "https://sales.example.com",
        "DEMO_PASSWORD": "own-demo-password-1",
    }
    variables = {}
    for line in text.splitlines():
        if line.startswith("#") and "=" in line and line[1:2].isupper():
            name, value = line[1:].split("=", 1)
            variables[name] = fills.get(name, value) if "<" in value else value
    return variables


def test_check_deploy_is_clean_with_the_production_block_of_env_example(tmp_path):
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("DJANGO_", "SALESAI_", "FIELD_ENCRYPTION", "CRM_ALLOWED", "SECURE_"))
    }
    env.update(
        production_block(),
        DJANGO_SETTINGS_MODULE="salesai.settings",
        SALESAI_VAR_DIR=str(tmp_path),
        PYTHONPATH=str(ROOT),
    )

    command = [sys.executable, str(ROOT / "manage.py"), "check", "--deploy", "--fail-level", "WARNING"]
    result = subprocess.run(command, check=False, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=180)

    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


def test_a_deployment_sends_secure_cookies_hsts_and_redirects_to_https(tmp_path):
    probe = (
        "import django; django.setup(); from django.conf import settings as s; "
        "print(s.SESSION_COOKIE_SECURE, s.CSRF_COOKIE_SECURE, s.SECURE_SSL_REDIRECT, s.SECURE_HSTS_SECONDS > 0)"
    )
    env = {key: value for key, value in os.environ.items() if not key.startswith(("DJANGO_", "SALESAI_", "SECURE_"))}
    env.update(
        DJANGO_SETTINGS_MODULE="salesai.settings",
        SALESAI_VAR_DIR=str(tmp_path),
        PYTHONPATH=str(ROOT),
        DJANGO_SECRET_KEY=STRONG_SECRET,
        FIELD_ENCRYPTION_KEYS=Fernet.generate_key().decode(),
    )

    result = subprocess.run(
        [sys.executable, "-c", probe], check=False, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120
    )

    assert result.stdout.split() == ["True", "True", "True", "True"], result.stderr


@pytest.mark.django_db
def test_every_page_carries_a_content_security_policy_without_inline_scripts(client):
    response = client.get("/accounts/login/")

    policy = response.headers["Content-Security-Policy"]
    directives = dict(part.strip().split(" ", 1) for part in policy.split(";") if part.strip())
    assert directives["script-src"] == "'self'"  # no 'unsafe-inline', no CDN
    assert directives["default-src"] == "'self'" and directives["frame-ancestors"] == "'none'"
