"""CRMHttpClient against a scripted local HTTP server: retries, rate limits, auth refresh, redaction."""

from __future__ import annotations

import json
import logging
import threading
from collections import deque
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import pytest

from crm_connectors.http import (
    AuthRefreshFailed,
    BearerTokenAuth,
    CRMHttpClient,
    CRMHttpError,
    HeaderTokenAuth,
    OAuth2RefreshAuth,
    QuotaExhausted,
    RateBudget,
    RateLimited,
    redact_url,
    retry_after_seconds,
)

SECRET = "sk-live-very-secret-token"


class ScriptedServer:
    """Answers each path with queued (status, headers, body) tuples; the last one repeats."""

    def __init__(self) -> None:
        self.scripts: dict[str, deque] = {}
        self.requests: list[dict] = []
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):  # keep test output quiet
                pass

            def _answer(self):
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                path = self.path.split("?")[0]
                server.requests.append(
                    {"method": self.command, "path": self.path, "headers": dict(self.headers), "body": body}
                )
                script = server.scripts.get(path)
                if not script:
                    status, headers, payload = 404, {}, {"message": "no script"}
                elif len(script) > 1:
                    status, headers, payload = script.popleft()
                else:
                    status, headers, payload = script[0]
                if callable(payload):
                    payload = payload(self, body)
                raw = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
                self.send_response(status)
                for name, value in headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(raw)))
                self.end_headers()
                self.wfile.write(raw)

            do_GET = do_POST = do_PATCH = do_DELETE = _answer

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def script(self, path: str, *responses: tuple) -> None:
        self.scripts[path] = deque(responses)

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture(scope="module")
def shared_server():
    scripted = ScriptedServer()
    yield scripted
    scripted.close()


@pytest.fixture
def server(shared_server):
    shared_server.scripts.clear()
    shared_server.requests.clear()
    return shared_server


@pytest.fixture
def sleeps():
    return []


def make_client(server, sleeps, **kwargs):
    kwargs.setdefault("auth", BearerTokenAuth(SECRET))
    return CRMHttpClient(base_url=server.url, sleep=sleeps.append, **kwargs)


def test_get_json_sends_bearer_and_parses(server, sleeps):
    server.script("/things", (200, {}, {"ok": 1}))
    with make_client(server, sleeps) as client:
        assert client.get_json("/things", params={"limit": 2}) == {"ok": 1}
    assert server.requests[0]["headers"]["Authorization"] == f"Bearer {SECRET}"
    assert server.requests[0]["path"] == "/things?limit=2"
    assert sleeps == []


def test_absolute_url_is_used_as_is(server, sleeps):
    server.script("/next/page", (200, {}, {"page": 2}))
    with make_client(server, sleeps) as client:
        assert client.get_json(f"{server.url}/next/page?after=5") == {"page": 2}
    assert server.requests[0]["path"] == "/next/page?after=5"


def test_header_token_auth(server, sleeps):
    server.script("/x", (200, {}, {}))
    with make_client(server, sleeps, auth=HeaderTokenAuth("x-api-token", "abc123")) as client:
        client.get_json("/x")
    assert server.requests[0]["headers"]["x-api-token"] == "abc123"
    assert "Authorization" not in server.requests[0]["headers"]


def test_retries_5xx_with_capped_exponential_backoff(server, sleeps):
    server.script("/x", (500, {}, {}), (502, {}, {}), (503, {}, {}), (200, {}, {"done": True}))
    with make_client(server, sleeps, backoff_base=1.0) as client:
        assert client.get_json("/x") == {"done": True}
    assert len(sleeps) == 3
    # jittered within [ceiling/2, ceiling] for ceilings 1, 2, 4
    for delay, ceiling in zip(sleeps, (1, 2, 4), strict=True):
        assert ceiling / 2 <= delay <= ceiling


def test_5xx_retries_exhausted_raises_with_status(server, sleeps):
    server.script("/x", (503, {}, {"message": "down"}))
    with make_client(server, sleeps, max_retries=2) as client, pytest.raises(CRMHttpError) as info:
        client.get_json("/x")
    assert info.value.status == 503
    assert info.value.body == {"message": "down"}
    assert len(server.requests) == 3
    assert not isinstance(info.value, RateLimited)


def test_timeouts_and_connection_errors_are_retried(sleeps):
    calls = {"n": 0}

    def handler(request):
        calls["n"] += 1
        if calls["n"] == 1:
            raise httpx.ReadTimeout("slow", request=request)
        if calls["n"] == 2:
            raise httpx.ConnectError("refused", request=request)
        return httpx.Response(200, json={"fine": True})

    client = CRMHttpClient(
        base_url="http://crm.test",
        auth=BearerTokenAuth(SECRET),
        transport=httpx.MockTransport(handler),
        sleep=sleeps.append,
    )
    assert client.get_json("/x") == {"fine": True}
    assert calls["n"] == 3 and len(sleeps) == 2


def test_transport_failure_exhausted_is_crm_error_without_secret(sleeps):
    def handler(request):
        raise httpx.ConnectError(f"refused {SECRET}", request=request)

    client = CRMHttpClient(
        base_url="http://crm.test",
        auth=BearerTokenAuth(SECRET),
        transport=httpx.MockTransport(handler),
        sleep=sleeps.append,
        max_retries=1,
    )
    with pytest.raises(CRMHttpError) as info:
        client.get_json("/x?api_token=" + SECRET)
    assert info.value.status is None
    assert SECRET not in str(info.value)


def test_429_retry_after_seconds(server, sleeps):
    server.script("/x", (429, {"Retry-After": "7"}, {"policyName": "TEN_SECONDLY_ROLLING"}), (200, {}, {"ok": True}))
    with make_client(server, sleeps) as client:
        assert client.get_json("/x") == {"ok": True}
    assert sleeps == [7.0]


def test_429_retry_after_http_date(server, sleeps):
    when = datetime.now(UTC) + timedelta(seconds=30)
    server.script("/x", (429, {"Retry-After": format_datetime(when, usegmt=True)}, {}), (200, {}, {"ok": True}))
    with make_client(server, sleeps) as client:
        client.get_json("/x")
    assert len(sleeps) == 1 and 25 <= sleeps[0] <= 30


def test_429_x_ratelimit_reset(server, sleeps):
    server.script("/x", (429, {"X-RateLimit-Reset": "3"}, {}), (200, {}, {"ok": True}))
    with make_client(server, sleeps) as client:
        client.get_json("/x")
    assert sleeps == [3.0]


def test_retry_after_parsing_variants():
    now = datetime(2026, 1, 1, tzinfo=UTC)
    assert retry_after_seconds({"Retry-After": "12"}) == 12.0
    assert retry_after_seconds({"Retry-After": "Thu, 01 Jan 2026 00:01:00 GMT"}, now=now) == 60.0
    assert retry_after_seconds({"x-ratelimit-reset": str(int(now.timestamp()) + 45)}, now=now) == 45.0
    assert retry_after_seconds({"Retry-After": "garbage"}) is None
    assert retry_after_seconds({}) is None


def test_429_exhausted_raises_rate_limited(server, sleeps):
    server.script("/x", (429, {"Retry-After": "1"}, {"message": "slow down"}))
    with make_client(server, sleeps, max_retries=3) as client, pytest.raises(RateLimited) as info:
        client.get_json("/x")
    assert info.value.status == 429
    assert sleeps == [1.0, 1.0, 1.0]


def test_long_retry_after_stops_with_quota_exhausted(server, sleeps):
    server.script("/x", (429, {"Retry-After": "86400"}, {"policyName": "DAILY"}))
    budget = RateBudget(per_second=None)
    with make_client(server, sleeps, budget=budget) as client:
        with pytest.raises(QuotaExhausted) as info:
            client.get_json("/x")
        assert info.value.resume_after > datetime.now(UTC) + timedelta(hours=23)
        # The shared budget now refuses calls without asking the server again.
        with pytest.raises(QuotaExhausted):
            client.get_json("/x")
    assert len(server.requests) == 1 and sleeps == []


def test_other_4xx_not_retried_and_body_parsed(server, sleeps):
    server.script("/x", (400, {}, {"status": "error", "category": "VALIDATION_ERROR"}))
    with make_client(server, sleeps) as client, pytest.raises(CRMHttpError) as info:
        client.request("POST", "/x", json={"a": 1})
    assert info.value.status == 400
    assert info.value.body["category"] == "VALIDATION_ERROR"
    assert len(server.requests) == 1 and sleeps == []


def test_401_without_refreshable_auth_raises(server, sleeps):
    server.script("/x", (401, {}, {"message": "bad token"}))
    with make_client(server, sleeps) as client, pytest.raises(CRMHttpError) as info:
        client.get_json("/x")
    assert info.value.status == 401
    assert len(server.requests) == 1


def test_errors_never_contain_credentials(server, sleeps):
    echo = {"message": f"token {SECRET} rejected", "refresh_token": "r-secret-value"}
    server.script("/x", (403, {}, echo))
    with make_client(server, sleeps) as client, pytest.raises(CRMHttpError) as info:
        client.get_json(f"/x?api_token={SECRET}&limit=3")
    text = str(info.value)
    assert SECRET not in text and "r-secret-value" not in text
    assert "limit=3" in text and "403" in text


def test_redact_url():
    assert redact_url("https://a.test/x?api_token=abc&limit=1") == "https://a.test/x?api_token=***&limit=1"
    assert redact_url("https://a.test/x") == "https://a.test/x"


# ---- OAuth2 ---------------------------------------------------------------------------------------------


def token_endpoint(issued: list, *, rotate: bool = True, expires_in: int = 1800, extra: dict | None = None):
    def answer(handler, body):
        form = dict(pair.split("=", 1) for pair in body.decode().split("&"))
        issued.append(form)
        n = len(issued)
        payload = {"access_token": f"access-{n}", "expires_in": expires_in, "token_type": "bearer", **(extra or {})}
        if rotate:
            payload["refresh_token"] = f"refresh-{n}"
        return payload

    return answer


def protected_endpoint(valid: set):
    def answer(handler, body):
        token = handler.headers.get("Authorization", "").removeprefix("Bearer ")
        return {"token": token, "valid": token in valid}

    return answer


def test_oauth_401_refreshes_once_retries_and_reports_rotated_tokens(server, sleeps):
    issued: list = []
    saved: list = []
    server.script("/oauth/v1/token", (200, {}, token_endpoint(issued, extra={"hub_id": 62515})))
    server.script("/data", (401, {}, {"message": "expired"}), (200, {}, {"ok": True}))
    auth = OAuth2RefreshAuth(
        token_url=f"{server.url}/oauth/v1/token",
        client_id="cid",
        client_secret="csecret",
        refresh_token="refresh-0",
        access_token="access-0",
        expires_at=datetime.now(UTC) + timedelta(hours=1),
        on_tokens=saved.append,
    )
    with make_client(server, sleeps, auth=auth) as client:
        assert client.get_json("/data") == {"ok": True}
    data_calls = [r for r in server.requests if r["path"] == "/data"]
    assert [c["headers"]["Authorization"] for c in data_calls] == ["Bearer access-0", "Bearer access-1"]
    assert issued == [
        {"grant_type": "refresh_token", "client_id": "cid", "client_secret": "csecret", "refresh_token": "refresh-0"}
    ]
    assert len(saved) == 1
    assert saved[0]["access_token"] == "access-1" and saved[0]["refresh_token"] == "refresh-1"
    assert saved[0]["hub_id"] == 62515
    assert datetime.fromisoformat(saved[0]["expires_at"]) > datetime.now(UTC) + timedelta(minutes=29)
    assert auth.refresh_token == "refresh-1"


def test_oauth_second_401_is_an_error_not_a_loop(server, sleeps):
    issued: list = []
    server.script("/oauth/v1/token", (200, {}, token_endpoint(issued)))
    server.script("/data", (401, {}, {"message": "nope"}))
    auth = OAuth2RefreshAuth(
        token_url=f"{server.url}/oauth/v1/token",
        client_id="c",
        client_secret="s",
        refresh_token="r0",
        access_token="a0",
    )
    with make_client(server, sleeps, auth=auth) as client, pytest.raises(CRMHttpError) as info:
        client.get_json("/data")
    assert info.value.status == 401
    assert len(issued) == 1
    assert len([r for r in server.requests if r["path"] == "/data"]) == 2


def test_oauth_refreshes_before_expiry_without_a_401(server, sleeps):
    issued: list = []
    server.script("/oauth/v1/token", (200, {}, token_endpoint(issued)))
    server.script("/data", (200, {}, protected_endpoint({"access-1"})))
    auth = OAuth2RefreshAuth(
        token_url=f"{server.url}/oauth/v1/token",
        client_id="c",
        client_secret="s",
        refresh_token="r0",
        access_token="old",
        expires_at=(datetime.now(UTC) + timedelta(seconds=30)).isoformat(),  # inside the 60 s margin
    )
    with make_client(server, sleeps, auth=auth) as client:
        assert client.get_json("/data") == {"token": "access-1", "valid": True}
    assert len(issued) == 1


def test_oauth_without_access_token_fetches_one_first(server, sleeps):
    issued: list = []
    server.script("/oauth/v1/token", (200, {}, token_endpoint(issued, rotate=False)))
    server.script("/data", (200, {}, protected_endpoint({"access-1"})))
    saved: list = []
    auth = OAuth2RefreshAuth(
        token_url=f"{server.url}/oauth/v1/token",
        client_id="c",
        client_secret="s",
        refresh_token="keep-me",
        on_tokens=saved.append,
    )
    with make_client(server, sleeps, auth=auth) as client:
        assert client.get_json("/data")["valid"] is True
    # No rotated refresh token in the answer: the old one is kept.
    assert saved[0]["refresh_token"] == "keep-me"


def test_oauth_not_expired_uses_stored_token(server, sleeps):
    issued: list = []
    server.script("/oauth/v1/token", (200, {}, token_endpoint(issued)))
    server.script("/data", (200, {}, protected_endpoint({"stored"})))
    auth = OAuth2RefreshAuth(
        token_url=f"{server.url}/oauth/v1/token",
        client_id="c",
        client_secret="s",
        refresh_token="r",
        access_token="stored",
        expires_at=datetime.now(UTC) + timedelta(minutes=20),
    )
    with make_client(server, sleeps, auth=auth) as client:
        assert client.get_json("/data")["valid"] is True
    assert issued == []


def test_oauth_refused_refresh_raises_auth_refresh_failed_without_secrets(server, sleeps):
    server.script(
        "/oauth/v1/token",
        (
            400,
            {},
            {"status": "BAD_REFRESH_TOKEN", "message": "refresh token r-topsecret is invalid", "refresh_token": "x"},
        ),
    )
    server.script("/data", (401, {}, {}))
    auth = OAuth2RefreshAuth(
        token_url=f"{server.url}/oauth/v1/token",
        client_id="c",
        client_secret="client-secret-xyz",
        refresh_token="r-topsecret",
        access_token="a",
    )
    with make_client(server, sleeps, auth=auth) as client, pytest.raises(AuthRefreshFailed) as info:
        client.get_json("/data")
    text = str(info.value)
    assert info.value.status == 400 and "BAD_REFRESH_TOKEN" in text
    assert "r-topsecret" not in text and "client-secret-xyz" not in text
    assert "client-secret-xyz" not in repr(auth) and "r-topsecret" not in repr(auth)


def test_oauth_concurrent_401s_refresh_once():
    auth = OAuth2RefreshAuth(
        token_url="http://t.test/token",
        client_id="c",
        client_secret="s",
        refresh_token="r",
        access_token="a0",
        http=httpx.Client(transport=httpx.MockTransport(lambda r: httpx.Response(200, json={"access_token": "a1"}))),
    )
    first, second = httpx.Request("GET", "http://x.test"), httpx.Request("GET", "http://x.test")
    auth.apply(first)
    auth.apply(second)
    assert auth.refresh(seen_generation=first.extensions["auth_generation"]) is True
    # The second request was signed before the refresh: it just retries with the new token.
    assert auth.refresh(seen_generation=second.extensions["auth_generation"]) is True
    assert auth.access_token == "a1"
    third = httpx.Request("GET", "http://x.test")
    auth.apply(third)
    assert third.headers["Authorization"] == "Bearer a1"


# ---- budget ---------------------------------------------------------------------------------------------


class FakeClock:
    def __init__(self) -> None:
        self.t = 0.0
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.t

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.t += seconds


def test_budget_throttles_to_rate_after_burst():
    clock = FakeClock()
    budget = RateBudget(per_second=10, burst=5, clock=clock, sleep=clock.sleep)
    for _ in range(25):
        budget.acquire()
    # 5 free from the burst, 20 more at 10/s = 2 s of waiting.
    assert clock.t == pytest.approx(2.0)


def test_budget_cost_counts_and_pause_is_shared():
    clock = FakeClock()
    budget = RateBudget(per_second=1, burst=10, clock=clock, sleep=clock.sleep)
    budget.acquire(cost=10)
    assert clock.t == 0
    budget.pause(5)
    budget.acquire()
    assert clock.t >= 5


def test_budget_daily_quota():
    now = datetime(2026, 3, 1, 15, tzinfo=UTC)
    budget = RateBudget(per_second=None, per_day=3, now=lambda: now)
    for _ in range(3):
        budget.acquire()
    with pytest.raises(QuotaExhausted) as info:
        budget.acquire()
    assert info.value.resume_after == datetime(2026, 3, 2, tzinfo=UTC)


def test_budget_shared_per_connection():
    try:
        a = RateBudget.for_connection("conn-test-1", per_second=5, burst=5)
        b = RateBudget.for_connection("conn-test-1", per_second=99, burst=99)
        c = RateBudget.for_connection("conn-test-2", per_second=5, burst=5)
        assert a is b and a is not c and b.per_second == 5
    finally:
        RateBudget.forget("conn-test-1")
        RateBudget.forget("conn-test-2")


def test_client_draws_from_budget(server):
    clock = FakeClock()
    server.script("/x", (200, {}, {}))
    budget = RateBudget(per_second=2, burst=1, clock=clock, sleep=clock.sleep)
    with CRMHttpClient(base_url=server.url, auth=None, budget=budget, sleep=clock.sleep) as client:
        for _ in range(5):
            client.get_json("/x")
    assert clock.t == pytest.approx(2.0)


def test_on_response_sees_every_response(server, sleeps):
    seen = []
    server.script("/x", (500, {}, {}), (200, {"X-HubSpot-RateLimit-Remaining": "42"}, {}))
    with make_client(
        server,
        sleeps,
        on_response=lambda r: seen.append((r.status_code, r.headers.get("x-hubspot-ratelimit-remaining"))),
    ) as client:
        client.get_json("/x")
    assert seen == [(500, None), (200, "42")]


def test_non_json_body(server, sleeps):
    server.script("/x", (200, {}, b"<html>"))
    with make_client(server, sleeps) as client, pytest.raises(CRMHttpError, match="not JSON"):
        client.get_json("/x")


def test_httpx_request_log_hides_secret_query_values(server, sleeps, caplog):
    server.script("/x", (200, {}, {}))
    with caplog.at_level(logging.INFO, logger="httpx"), make_client(server, sleeps) as client:
        client.get_json("/x", params={"api_token": SECRET, "limit": 1})
    logged = " ".join(record.getMessage() for record in caplog.records)
    assert "/x?" in logged and "limit=1" in logged
    assert SECRET not in logged


# ---- outbound guard (SSRF) ------------------------------------------------------------------------------

HUBSPOT_HOSTS = ("api.hubapi.com", ".hubapi.com")


def recording_transport(calls: list):
    def handler(request):
        calls.append(request)
        return httpx.Response(200, json={})

    return httpx.MockTransport(handler)


@pytest.fixture
def no_allow_list(settings):
    settings.CRM_ALLOWED_HOSTS, settings.CRM_ALLOWED_NETWORKS = [], []


def test_vendor_hosts_and_their_subdomains_match_lookalikes_do_not():
    from crm_connectors.http import host_matches

    assert host_matches("api.hubapi.com", HUBSPOT_HOSTS) and host_matches("api-eu1.hubapi.com", HUBSPOT_HOSTS)
    assert not host_matches("api.hubapi.com.evil.example", HUBSPOT_HOSTS)
    assert not host_matches("evilhubapi.com", HUBSPOT_HOSTS)


def test_a_base_url_outside_the_vendor_hosts_is_refused_before_any_request(no_allow_list):
    from crm_connectors.http import HostNotAllowed

    calls = []
    with pytest.raises(HostNotAllowed, match="CRM_ALLOWED_HOSTS"):
        CRMHttpClient(
            base_url="https://metadata.internal.example",
            auth=BearerTokenAuth(SECRET),
            vendor_hosts=HUBSPOT_HOSTS,
            transport=recording_transport(calls),
        )
    assert calls == []


def test_an_absolute_url_to_another_host_never_gets_the_credentials(no_allow_list, sleeps):
    from crm_connectors.http import HostNotAllowed

    calls = []
    client = CRMHttpClient(
        base_url="https://api.hubapi.com",
        auth=BearerTokenAuth(SECRET),
        vendor_hosts=HUBSPOT_HOSTS,
        transport=recording_transport(calls),
        sleep=sleeps.append,
    )
    with pytest.raises(HostNotAllowed):
        client.get_json("http://169.254.169.254/latest/meta-data/")
    client.get_json("/crm/v3/objects/contacts")

    assert [str(call.url) for call in calls] == ["https://api.hubapi.com/crm/v3/objects/contacts"]


def test_plain_http_to_a_vendor_host_is_refused(no_allow_list):
    from crm_connectors.http import HostNotAllowed

    with pytest.raises(HostNotAllowed, match="https"):
        CRMHttpClient(base_url="http://api.hubapi.com", auth=None, vendor_hosts=HUBSPOT_HOSTS)


def test_an_allow_listed_private_ip_still_needs_its_network(settings):
    from crm_connectors.http import HostNotAllowed

    settings.CRM_ALLOWED_HOSTS, settings.CRM_ALLOWED_NETWORKS = ["10.1.2.3"], []
    with pytest.raises(HostNotAllowed, match="CRM_ALLOWED_NETWORKS"):
        CRMHttpClient(base_url="http://10.1.2.3", auth=None, vendor_hosts=HUBSPOT_HOSTS)

    settings.CRM_ALLOWED_NETWORKS = ["10.1.0.0/16"]
    CRMHttpClient(base_url="http://10.1.2.3", auth=None, vendor_hosts=HUBSPOT_HOSTS).close()


@pytest.mark.parametrize(
    "address",
    [
        "127.0.0.1",
        "10.0.0.1",
        "172.16.0.1",
        "192.168.1.1",
        "169.254.169.254",
        "100.64.0.1",
        "0.0.0.0",
        "::1",
        "fe80::1",
        "fd00::1",
        "::ffff:127.0.0.1",
        "224.0.0.1",
    ],
)
def test_private_loopback_link_local_and_mapped_addresses_are_refused(no_allow_list, address):
    from crm_connectors.http import address_allowed

    assert not address_allowed(address)


def test_public_addresses_are_allowed(no_allow_list):
    from crm_connectors.http import address_allowed

    assert address_allowed("104.16.0.1") and address_allowed("2606:4700::1")


def test_a_name_resolving_to_loopback_is_refused_when_connecting(server, sleeps, settings):
    # The name is allow-listed, its address is not: the check runs on what DNS answers, at connect time.
    from crm_connectors.http import HostNotAllowed

    settings.CRM_ALLOWED_HOSTS, settings.CRM_ALLOWED_NETWORKS = ["localhost"], []
    port = server.url.rsplit(":", 1)[1]
    server.script("/x", (200, {}, {"ok": 1}))
    with CRMHttpClient(
        base_url=f"http://localhost:{port}", auth=BearerTokenAuth(SECRET), sleep=sleeps.append
    ) as client:
        with pytest.raises(HostNotAllowed, match="resolves to"):
            client.get_json("/x")

    assert server.requests == [] and sleeps == []  # refused, not retried


def test_oauth_refresh_never_sends_the_refresh_token_to_a_foreign_host(no_allow_list):
    from crm_connectors.http import HostNotAllowed

    calls = []
    auth = OAuth2RefreshAuth(
        token_url="http://169.254.169.254/token",
        client_id="c",
        client_secret="s",
        refresh_token="r-secret",
        vendor_hosts=HUBSPOT_HOSTS,
        http=httpx.Client(transport=recording_transport(calls)),
    )
    with pytest.raises(HostNotAllowed):
        auth.refresh()
    assert calls == []
