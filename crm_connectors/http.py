"""The one HTTP client every CRM connector talks through.

It owns what every vendor needs and no connector should re-implement: timeouts, retries with capped
exponential backoff and jitter on 5xx / timeouts / connection errors / 429 (honouring `Retry-After` in
seconds or as an HTTP date, and `x-ratelimit-reset`), one forced credential refresh after a 401, a shared
per-connection rate budget, errors that never carry credentials, and the outbound guard: a connection only
reaches its vendor's hosts (or hosts a deployment allow-lists in CRM_ALLOWED_HOSTS), and never a private,
loopback or link-local address unless CRM_ALLOWED_NETWORKS says so, checked on the address actually
connected to (after DNS resolution), so a stored token cannot be sent to an internal service.
"""

from __future__ import annotations

import ipaddress
import json
import logging
import random
import re
import socket
import threading
import time
from collections.abc import Callable, Collection, Mapping
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
from typing import Any, ClassVar, Protocol, Self, runtime_checkable
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import httpcore
import httpx
import orjson
from django.conf import settings

from crm_connectors.base import ConnectorError

# Query parameters and JSON keys whose values are secrets wherever they appear.
_SECRET_NAMES = frozenset(
    {
        "access_token",
        "api_key",
        "api_token",
        "apikey",
        "client_secret",
        "code",
        "hapikey",
        "key",
        "password",
        "refresh_token",
        "token",
    }
)
_SECRET_JSON = re.compile(
    r'("(?:access_token|refresh_token|client_secret|api_token|token|password|id_token)"\s*:\s*")[^"]*(")',
    re.IGNORECASE,
)
_ERROR_BODY_CHARS = 500
# A server may ask for a long pause (a daily quota): past this, stop the sync cleanly instead of sleeping.
DEFAULT_MAX_RETRY_AFTER = 300.0
BACKOFF_CAP = 60.0
# Refresh an OAuth access token this long before it expires.
EXPIRY_MARGIN = timedelta(seconds=60)


class CRMHttpError(ConnectorError):
    """A non-retryable HTTP failure (or retries exhausted). `.status` is None for network failures."""

    def __init__(
        self, message: str, *, status: int | None = None, body: Any = None, response: httpx.Response | None = None
    ):
        super().__init__(message)
        self.status = status
        self.body = body
        self.response = response


class RateLimited(CRMHttpError):
    """The CRM kept answering 429 after every retry."""


class AuthRefreshFailed(CRMHttpError):
    """The token endpoint refused the refresh: the connection needs re-authorisation, not a retry."""


class QuotaExhausted(ConnectorError):
    """The connection's quota is used up until `resume_after`; the sync stops cleanly and resumes later."""

    def __init__(self, message: str, *, resume_after: datetime | None = None):
        super().__init__(message)
        self.resume_after = resume_after


class HostNotAllowed(ConnectorError):
    """An outbound URL this connection may not call: not its vendor's host nor allow-listed, plain http to a
    vendor, or a host resolving to a private/loopback/link-local address outside CRM_ALLOWED_NETWORKS."""


def host_matches(host: str, patterns: Collection[str]) -> bool:
    """`host` equals a pattern, or a pattern starting with "." (or "*.") is a suffix of it."""
    host = host.lower().rstrip(".")
    for pattern in patterns:
        pattern = pattern.strip().lower().rstrip(".")
        if pattern.startswith("*."):
            pattern = pattern[1:]
        if pattern and (host == pattern or (pattern.startswith(".") and host.endswith(pattern))):
            return True
    return False


def address_allowed(address: str) -> bool:
    """Public unicast addresses are fine; anything else only inside CRM_ALLOWED_NETWORKS."""
    ip = ipaddress.ip_address(address.split("%", 1)[0])  # drop an IPv6 zone id
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    if ip.is_global and not ip.is_multicast:
        return True
    networks = getattr(settings, "CRM_ALLOWED_NETWORKS", ())
    return any(ip in ipaddress.ip_network(network, strict=False) for network in networks)


def outbound_url_check(url: str | httpx.URL, *, vendor_hosts: Collection[str]) -> None:
    """Raise HostNotAllowed unless `url` may be called by a connection of a vendor with `vendor_hosts`.

    Names are checked here; an IP literal is checked here too, a name's addresses when connecting."""
    parsed = httpx.URL(str(url))
    host = parsed.host.lower().rstrip(".")
    if parsed.scheme not in ("http", "https") or not host:
        raise HostNotAllowed(f"{redact_url(str(url))}: only http(s) URLs with a host can be called")
    listed = host_matches(host, getattr(settings, "CRM_ALLOWED_HOSTS", ()))
    if not listed and not host_matches(host, vendor_hosts):
        raise HostNotAllowed(f"{host} is not one of this CRM's hosts; a deployment may allow it in CRM_ALLOWED_HOSTS")
    if parsed.scheme != "https" and not listed:
        raise HostNotAllowed(f"{host}: credentials only travel over https (or to a host in CRM_ALLOWED_HOSTS)")
    try:
        literal = ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return
    if not address_allowed(str(literal)):
        raise HostNotAllowed(f"{host} is a private, loopback or link-local address; see CRM_ALLOWED_NETWORKS")


class _AddressCheckedBackend(httpcore.SyncBackend):
    """Resolves the host itself, refuses if any address is not allowed, and connects to a checked address, so
    DNS answering differently between a check and the connection (rebinding) changes nothing. TLS still
    verifies the certificate against the host name."""

    def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Any = None,
    ) -> httpcore.NetworkStream:
        try:
            infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
        except OSError as exc:
            raise httpcore.ConnectError(f"cannot resolve {host}: {exc}") from None
        addresses = [info[4][0] for info in infos]
        refused = [address for address in addresses if not address_allowed(address)]
        if refused or not addresses:
            raise HostNotAllowed(
                f"{host} resolves to {refused[0] if refused else 'nothing'}, a private, loopback or link-local "
                "address; a deployment may allow its network in CRM_ALLOWED_NETWORKS"
            )
        return super().connect_tcp(
            addresses[0], port, timeout=timeout, local_address=local_address, socket_options=socket_options
        )


def response_json(response: httpx.Response) -> Any:
    """The body as JSON: orjson on the raw bytes (a sync decodes every page: several times faster than the
    standard library), httpx's own decoding for what orjson refuses (a non-UTF-8 charset, integers past 64
    bits, NaN). Raises ValueError when the body is not JSON at all."""
    try:
        return orjson.loads(response.content)
    except orjson.JSONDecodeError:
        return response.json()


def guarded_transport() -> httpx.HTTPTransport:
    """An httpx transport whose every TCP connection goes through the address check."""
    transport = httpx.HTTPTransport()
    # httpx has no public hook for the network backend: its pool is rebuilt with ours.
    transport._pool = httpcore.ConnectionPool(
        ssl_context=httpx.create_ssl_context(), network_backend=_AddressCheckedBackend()
    )
    return transport


@runtime_checkable
class AuthStrategy(Protocol):
    def apply(self, request: httpx.Request) -> None: ...

    def refresh(self) -> bool:
        """Obtain new credentials; True when the failed request is worth retrying once."""
        ...


class BearerTokenAuth:
    def __init__(self, token: str) -> None:
        self._token = token

    def apply(self, request: httpx.Request) -> None:
        request.headers["Authorization"] = f"Bearer {self._token}"

    def refresh(self) -> bool:
        return False

    def secret_values(self) -> tuple[str, ...]:
        return (self._token,)

    def __repr__(self) -> str:
        return "BearerTokenAuth(token=***)"


class HeaderTokenAuth:
    def __init__(self, header: str, token: str) -> None:
        self._header = header
        self._token = token

    def apply(self, request: httpx.Request) -> None:
        request.headers[self._header] = self._token

    def refresh(self) -> bool:
        return False

    def secret_values(self) -> tuple[str, ...]:
        return (self._token,)

    def __repr__(self) -> str:
        return f"HeaderTokenAuth(header={self._header!r}, token=***)"


def parse_expires_at(value: Any) -> datetime | None:
    """An expiry stored as a datetime, an ISO string or epoch seconds -> aware UTC datetime."""
    if value in (None, ""):
        return None
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    if isinstance(value, int | float):
        return datetime.fromtimestamp(float(value), tz=UTC)
    try:
        parsed = datetime.fromisoformat(str(value))  # 3.11 reads a trailing "Z"
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


class OAuth2RefreshAuth:
    """Bearer access token kept fresh with the refresh-token grant.

    Refreshes proactively `EXPIRY_MARGIN` before `expires_at`, and once more when the CRM answers 401.
    Every refresh hands the new tokens to `on_tokens` (the refresh token may rotate) so the connection
    stores them; a refused refresh raises AuthRefreshFailed (re-authorisation needed).
    """

    def __init__(
        self,
        *,
        token_url: str,
        client_id: str,
        client_secret: str,
        refresh_token: str,
        access_token: str | None = None,
        expires_at: datetime | str | float | None = None,
        on_tokens: Callable[[dict[str, Any]], None] | None = None,
        http: httpx.Client | None = None,
        now: Callable[[], datetime] = lambda: datetime.now(UTC),
        vendor_hosts: Collection[str] = (),
    ) -> None:
        self.token_url = token_url
        self.vendor_hosts = tuple(vendor_hosts)
        self._client_id = client_id
        self._client_secret = client_secret
        self._refresh_token = refresh_token
        self._access_token = access_token or None
        self._expires_at = parse_expires_at(expires_at)
        self._on_tokens = on_tokens
        self._http = http
        self._now = now
        self._lock = threading.Lock()
        self._generation = 0  # bumped on every refresh, so concurrent 401s refresh only once

    @property
    def access_token(self) -> str | None:
        return self._access_token

    @property
    def refresh_token(self) -> str:
        return self._refresh_token

    @property
    def expires_at(self) -> datetime | None:
        return self._expires_at

    def _needs_refresh(self) -> bool:
        if not self._access_token:
            return True
        return self._expires_at is not None and self._now() >= self._expires_at - EXPIRY_MARGIN

    def apply(self, request: httpx.Request) -> None:
        with self._lock:
            if self._needs_refresh():
                self._refresh_locked()
            token, generation = self._access_token, self._generation
        request.headers["Authorization"] = f"Bearer {token}"
        request.extensions["auth_generation"] = generation

    def refresh(self, *, seen_generation: int | None = None) -> bool:
        with self._lock:
            if seen_generation is not None and seen_generation != self._generation:
                return True  # another caller already refreshed after this request was signed
            self._refresh_locked()
            return True

    def secret_values(self) -> tuple[str, ...]:
        return tuple(v for v in (self._access_token, self._refresh_token, self._client_secret) if v)

    def _refresh_locked(self) -> None:
        form = {
            "grant_type": "refresh_token",
            "client_id": self._client_id,
            "client_secret": self._client_secret,
            "refresh_token": self._refresh_token,
        }
        outbound_url_check(self.token_url, vendor_hosts=self.vendor_hosts)  # the refresh token goes there
        http = self._http or httpx.Client(timeout=30.0, transport=guarded_transport())
        try:
            response = http.post(self.token_url, data=form, headers={"Accept": "application/json"})
        except httpx.HTTPError as exc:
            raise CRMHttpError(f"token refresh at {redact_url(self.token_url)} failed: {type(exc).__name__}") from None
        finally:
            if self._http is None:
                http.close()
        body = _parse_body(response)
        if response.status_code >= 400 or not isinstance(body, dict):
            message = f"token refresh at {redact_url(self.token_url)} -> HTTP {response.status_code}: {_snippet(body)}"
            cls = AuthRefreshFailed if 400 <= response.status_code < 500 else CRMHttpError
            raise cls(
                redact_text(message, self.secret_values()), status=response.status_code, body=body, response=response
            )
        access = body.get("access_token") or body.get("accessToken")
        if not access:
            raise AuthRefreshFailed("token endpoint answered without an access token", status=response.status_code)
        self._access_token = str(access)
        rotated = body.get("refresh_token") or body.get("refreshToken")
        if rotated:
            self._refresh_token = str(rotated)
        expires_in = body.get("expires_in", body.get("expiresIn"))
        try:
            self._expires_at = self._now() + timedelta(seconds=float(expires_in)) if expires_in is not None else None
        except (TypeError, ValueError):
            self._expires_at = None
        self._generation += 1
        if self._on_tokens is not None:
            extra = {
                k: v
                for k, v in body.items()
                if k not in {"access_token", "accessToken", "refresh_token", "refreshToken", "expires_in", "expiresIn"}
            }
            self._on_tokens(
                {
                    **extra,
                    "access_token": self._access_token,
                    "refresh_token": self._refresh_token,
                    "expires_at": self._expires_at.isoformat() if self._expires_at else None,
                }
            )

    def __repr__(self) -> str:
        return f"OAuth2RefreshAuth(token_url={self.token_url!r}, client_id=***, tokens=***)"


class RateBudget:
    """Token bucket (`per_second` refill, `burst` capacity) plus an optional daily quota.

    One instance per connection is shared by every client of that connection in this process
    (`RateBudget.for_connection`), so sync, writeback and webhook hydration draw from one budget.
    """

    _shared: ClassVar[dict[Any, RateBudget]] = {}
    _shared_lock = threading.Lock()

    def __init__(
        self,
        *,
        per_second: float | None,
        burst: int = 1,
        per_day: int | None = None,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
        now: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        if per_second is not None and per_second <= 0:
            raise ValueError("per_second must be positive or None")
        self.per_second = per_second
        self.burst = max(1, int(burst))
        self.per_day = per_day
        self._clock = clock
        self._sleep = sleep
        self._now = now
        self._lock = threading.Lock()
        self._tokens = float(self.burst)
        self._last = clock()
        self._paused_until = 0.0
        self._day = None
        self._day_used = 0
        self._exhausted_until: datetime | None = None

    @classmethod
    def for_connection(cls, key: Any, **kwargs: Any) -> RateBudget:
        """The process-wide budget of connection `key`, created with `kwargs` on first use."""
        with cls._shared_lock:
            budget = cls._shared.get(key)
            if budget is None:
                budget = cls._shared[key] = cls(**kwargs)
            return budget

    @classmethod
    def forget(cls, key: Any) -> None:
        with cls._shared_lock:
            cls._shared.pop(key, None)

    def acquire(self, cost: int = 1) -> None:
        """Block until `cost` calls may be made; QuotaExhausted when the daily quota is spent."""
        while True:
            with self._lock:
                self._check_quota(cost)
                now = self._clock()
                wait = self._paused_until - now
                if wait <= 0:
                    if self.per_second is None:
                        self._day_used += cost
                        return
                    self._tokens = min(float(self.burst), self._tokens + (now - self._last) * self.per_second)
                    self._last = now
                    needed = min(cost, self.burst)
                    if self._tokens >= needed - 1e-9:  # tolerance: float refill must not spin forever
                        self._tokens -= cost  # may go negative for cost > burst: later callers wait it off
                        self._day_used += cost
                        return
                    wait = (needed - self._tokens) / self.per_second
            self._sleep(wait)

    def pause(self, seconds: float) -> None:
        """Everyone sharing this budget waits `seconds` (the CRM said so in a 429)."""
        with self._lock:
            self._paused_until = max(self._paused_until, self._clock() + seconds)

    def exhaust_until(self, resume_after: datetime | None) -> None:
        """The CRM reports the daily quota spent: refuse calls until `resume_after`."""
        with self._lock:
            self._exhausted_until = resume_after or _next_utc_midnight(self._now())

    def _check_quota(self, cost: int) -> None:
        now = self._now()
        if self._exhausted_until is not None:
            if now < self._exhausted_until:
                raise QuotaExhausted("daily API quota exhausted", resume_after=self._exhausted_until)
            self._exhausted_until = None
        if self.per_day is None:
            return
        if self._day != now.date():
            self._day, self._day_used = now.date(), 0
        if self._day_used + cost > self.per_day:
            raise QuotaExhausted("daily API budget used up", resume_after=_next_utc_midnight(now))


def _next_utc_midnight(now: datetime) -> datetime:
    return datetime.combine(now.date() + timedelta(days=1), datetime.min.time(), tzinfo=UTC)


class CRMHttpClient:
    def __init__(
        self,
        *,
        base_url: str,
        auth: AuthStrategy | None,
        budget: RateBudget | None = None,
        timeout: float = 30.0,
        max_retries: int = 5,
        backoff_base: float = 0.5,
        transport: httpx.BaseTransport | None = None,
        sleep: Callable[[float], None] = time.sleep,
        on_response: Callable[[httpx.Response], None] | None = None,
        max_retry_after: float = DEFAULT_MAX_RETRY_AFTER,
        headers: Mapping[str, str] | None = None,
        vendor_hosts: Collection[str] = (),
    ) -> None:
        self.base_url = base_url.rstrip("/")
        # Hosts this vendor's API lives on ("api.example.com", ".example.com" for subdomains); anything else
        # needs CRM_ALLOWED_HOSTS. Checked on every request: pages may link to absolute URLs.
        self.vendor_hosts = tuple(vendor_hosts)
        outbound_url_check(self.base_url, vendor_hosts=self.vendor_hosts)
        self.auth = auth
        self.budget = budget
        self.max_retries = max_retries
        self.backoff_base = backoff_base
        self.max_retry_after = max_retry_after
        self._sleep = sleep
        self._on_response = on_response
        self._client = httpx.Client(
            base_url=self.base_url,
            timeout=timeout,
            transport=transport or guarded_transport(),
            headers={"Accept": "application/json", **(headers or {})},
        )

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._client.close()

    def get_json(self, url: str, *, params: Mapping[str, Any] | None = None, cost: int = 1) -> Any:
        return self._json(self.request("GET", url, params=params, cost=cost))

    def post_json(self, url: str, *, json: Any, params: Mapping[str, Any] | None = None, cost: int = 1) -> Any:
        return self._json(self.request("POST", url, params=params, json=json, cost=cost))

    def request(
        self,
        method: str,
        url: str,
        *,
        params: Mapping[str, Any] | None = None,
        json: Any = None,
        content: bytes | str | None = None,
        headers: Mapping[str, str] | None = None,
        cost: int = 1,
    ) -> httpx.Response:
        refreshed = False
        attempt = 0
        while True:
            if self.budget is not None:
                self.budget.acquire(cost)
            request = self._client.build_request(
                method, url, params=params, json=json, content=content, headers=headers
            )
            outbound_url_check(request.url, vendor_hosts=self.vendor_hosts)  # before credentials are applied
            if self.auth is not None:
                self.auth.apply(request)
            try:
                response = self._client.send(request)
            except (httpx.TimeoutException, httpx.TransportError) as exc:
                if attempt >= self.max_retries:
                    raise CRMHttpError(
                        self._redact(
                            f"{method} {redact_url(str(request.url))} failed after {attempt + 1} attempts: "
                            f"{type(exc).__name__}"
                        )
                    ) from None
                self._sleep(self._backoff(attempt))
                attempt += 1
                continue
            response.read()
            if self._on_response is not None:
                self._on_response(response)
            status = response.status_code
            if status == 401 and self.auth is not None and not refreshed:
                refreshed = True
                if self._refresh_auth(request):
                    continue
            if status == 429 or status >= 500:
                wait = retry_after_seconds(response.headers)
                if wait is not None and wait > self.max_retry_after:
                    resume = datetime.now(UTC) + timedelta(seconds=wait)
                    if self.budget is not None:
                        self.budget.exhaust_until(resume)
                    raise QuotaExhausted(
                        f"{method} {redact_url(str(request.url))}: CRM asks to wait {wait:.0f}s", resume_after=resume
                    )
                if attempt >= self.max_retries:
                    raise self._error(response, RateLimited if status == 429 else CRMHttpError)
                delay = wait if wait is not None else self._backoff(attempt)
                if status == 429 and self.budget is not None:
                    self.budget.pause(delay)
                self._sleep(delay)
                attempt += 1
                continue
            if status >= 400:
                raise self._error(response, CRMHttpError)
            return response

    def _refresh_auth(self, request: httpx.Request) -> bool:
        generation = request.extensions.get("auth_generation")
        if generation is not None and isinstance(self.auth, OAuth2RefreshAuth):
            return self.auth.refresh(seen_generation=generation)
        return self.auth.refresh()

    def _backoff(self, attempt: int) -> float:
        ceiling = min(BACKOFF_CAP, self.backoff_base * (2**attempt))
        return ceiling / 2 + random.uniform(0, ceiling / 2)  # jitter, not crypto

    def _json(self, response: httpx.Response) -> Any:
        try:
            return response_json(response)
        except ValueError:
            raise CRMHttpError(
                f"{response.request.method} {redact_url(str(response.request.url))}: response is not JSON",
                status=response.status_code,
                body=response.text[:_ERROR_BODY_CHARS],
                response=response,
            ) from None

    def _error(self, response: httpx.Response, cls: type[CRMHttpError]) -> CRMHttpError:
        body = _parse_body(response)
        message = (
            f"{response.request.method} {redact_url(str(response.request.url))} -> HTTP {response.status_code}: "
            f"{_snippet(body)}"
        )
        return cls(self._redact(message), status=response.status_code, body=body, response=response)

    def _redact(self, text: str) -> str:
        secrets = getattr(self.auth, "secret_values", lambda: ())()
        return redact_text(text, secrets)


def retry_after_seconds(headers: httpx.Headers | Mapping[str, str], *, now: datetime | None = None) -> float | None:
    """Seconds the server asks us to wait: Retry-After (seconds or HTTP date), else x-ratelimit-reset."""
    headers = httpx.Headers(headers)
    value = headers.get("retry-after")
    if value:
        value = value.strip()
        try:
            return max(0.0, float(value))
        except ValueError:
            try:
                when = parsedate_to_datetime(value)
            except (TypeError, ValueError):
                when = None
            if when is not None:
                if when.tzinfo is None:
                    when = when.replace(tzinfo=UTC)
                return max(0.0, (when - (now or datetime.now(UTC))).total_seconds())
    reset = headers.get("x-ratelimit-reset")
    if reset:
        try:
            number = float(reset.strip())
        except ValueError:
            return None
        # Large values are an epoch timestamp (seconds), small ones a delay.
        if number > 1_000_000_000:
            return max(0.0, number - (now or datetime.now(UTC)).timestamp())
        return max(0.0, number)
    return None


def redact_url(url: str) -> str:
    """The URL with secret-looking query values replaced by ***."""
    parts = urlsplit(url)
    if not parts.query:
        return url
    query = [(k, "***" if k.lower() in _SECRET_NAMES else v) for k, v in parse_qsl(parts.query, keep_blank_values=True)]
    return urlunsplit(parts._replace(query=urlencode(query, safe="*,")))


def redact_text(text: str, secrets: tuple[str, ...] | list[str] = ()) -> str:
    text = _SECRET_JSON.sub(r"\1***\2", text)
    for secret in secrets:
        if secret and len(secret) >= 4:
            text = text.replace(secret, "***")
    return text


class _RedactUrlsFilter(logging.Filter):
    """httpx logs every request URL at INFO: hide secret query values (a Pipedrive `api_token`) there too."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple) and any(isinstance(arg, httpx.URL) for arg in record.args):
            record.args = tuple(redact_url(str(arg)) if isinstance(arg, httpx.URL) else arg for arg in record.args)
        return True


logging.getLogger("httpx").addFilter(_RedactUrlsFilter())


def _parse_body(response: httpx.Response) -> Any:
    try:
        return response.json()
    except ValueError:
        return response.text


def _snippet(body: Any) -> str:
    text = body if isinstance(body, str) else json.dumps(body, default=str)
    return redact_text(text[:_ERROR_BODY_CHARS])
