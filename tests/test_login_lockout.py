"""Login lockout on every login URL (django-axes) and the API's per-address, per-user and per-token rates."""

import pytest
from rest_framework.test import APIClient
from rest_framework.throttling import SimpleRateThrottle

from tests.factories import MembershipFactory, UserFactory

pytestmark = pytest.mark.django_db

PASSWORD = "pw-for-tests"  # tests.factories.UserFactory


def attempt(client, url: str, username: str, password: str):
    if url.startswith("/api/"):
        return client.post(url, {"username": username, "password": password}, format="json")
    return client.post(url, {"username": username, "password": password})


@pytest.mark.parametrize("url", ["/accounts/login/", "/admin/login/", "/api/v1/auth/token/"])
def test_repeated_wrong_passwords_lock_the_login_out_with_a_429(url, settings):
    user = UserFactory(is_staff=True)
    client = APIClient()

    limit = settings.AXES_FAILURE_LIMIT
    failures = [attempt(client, url, user.username, "wrong-guess").status_code for _ in range(limit)]
    locked = attempt(client, url, user.username, PASSWORD)  # even the right password, while locked out

    assert 429 not in failures[:-1] and failures[-1] == 429  # the limit-th failure locks
    assert locked.status_code == 429
    if url.startswith("/api/"):
        assert locked.json()["error"]["code"] == "locked_out"


def test_the_lockout_is_per_username_and_address(settings):
    victim, colleague = UserFactory(), UserFactory()
    attacker = APIClient(REMOTE_ADDR="198.51.100.7")
    for _ in range(settings.AXES_FAILURE_LIMIT):
        attempt(attacker, "/accounts/login/", victim.username, "wrong-guess")

    from_elsewhere = attempt(APIClient(REMOTE_ADDR="203.0.113.5"), "/accounts/login/", victim.username, PASSWORD)
    colleague_here = attempt(attacker, "/accounts/login/", colleague.username, PASSWORD)

    assert from_elsewhere.status_code == 302  # the real user still gets in
    assert colleague_here.status_code == 302


def test_the_token_endpoint_is_rate_limited_per_address(monkeypatch):
    monkeypatch.setitem(SimpleRateThrottle.THROTTLE_RATES, "anon", "3/minute")
    client = APIClient()

    statuses = [attempt(client, "/api/v1/auth/token/", f"nobody-{i}", "x").status_code for i in range(4)]

    assert statuses == [400, 400, 400, 429]


def test_a_token_has_its_own_rate_beside_its_users(monkeypatch):
    monkeypatch.setitem(SimpleRateThrottle.THROTTLE_RATES, "token", "3/minute")
    user = MembershipFactory().user
    token_client = APIClient()
    token = token_client.post(
        "/api/v1/auth/token/", {"username": user.username, "password": PASSWORD}, format="json"
    ).json()["token"]
    token_client.credentials(HTTP_AUTHORIZATION=f"Token {token}")
    session_client = APIClient()
    session_client.force_login(user)

    statuses = [token_client.get("/api/v1/contacts/").status_code for _ in range(4)]
    throttled = token_client.get("/api/v1/contacts/")

    assert statuses == [200, 200, 200, 429]
    assert throttled.json()["error"]["code"] == "throttled"
    assert session_client.get("/api/v1/contacts/").status_code == 200  # the user's other access is untouched
