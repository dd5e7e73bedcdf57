"""Salesforce REST calls the connector needs, on top of the shared CRM HTTP client.

SOQL `query` / `queryAll` with `nextRecordsUrl` paging, `sobjects/<T>/describe`, the
`sobjects/<T>/deleted` feed, and the daily API quota read from every response's
`Sforce-Limit-Info: api-usage=N/M` header: once usage reaches `quota_stop_fraction` of the quota the next
call raises QuotaExhausted instead of being made, so a sync stops cleanly after its last committed page
and leaves the rest of the day's quota to the people using Salesforce.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable, Iterator
from email.utils import parsedate_to_datetime
from typing import Any

import httpx

from crm_connectors.http import CRMHttpClient, CRMHttpError, QuotaExhausted, redact_url

_API_USAGE = re.compile(r"api-usage=(\d+)/(\d+)")


def soql_datetime(value: dt.datetime) -> str:
    """A SOQL date-time literal (whole seconds, UTC): `2024-05-01T12:00:00Z`."""
    return value.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class SalesforceApi:
    def __init__(
        self,
        *,
        http: CRMHttpClient,
        instance_url: Callable[[], str],
        api_version: str,
        page_size: int | None = None,
        quota_stop_fraction: float = 0.9,
    ) -> None:
        self._http = http
        self._instance_url = instance_url  # read on every call: a token refresh may move the instance
        self.api_version = api_version
        self.page_size = page_size
        self.quota_stop_fraction = quota_stop_fraction
        self.api_usage: tuple[int, int] | None = None  # (used, daily quota) from the latest response
        self._server_now: dt.datetime | None = None

    # --- response bookkeeping (the CRMHttpClient's on_response hook) ------------------------------------

    def response_seen(self, response: httpx.Response) -> None:
        usage = _API_USAGE.search(response.headers.get("sforce-limit-info", ""))
        if usage:
            self.api_usage = (int(usage.group(1)), int(usage.group(2)))
        date = response.headers.get("date")
        if date:
            try:
                self._server_now = parsedate_to_datetime(date).astimezone(dt.UTC)
            except (TypeError, ValueError):
                pass

    def server_now(self) -> dt.datetime:
        """Salesforce's clock (the Date header of the latest response), so windows never depend on ours."""
        return self._server_now or dt.datetime.now(dt.UTC).replace(microsecond=0)

    # --- calls ------------------------------------------------------------------------------------------

    def describe(self, sobject: str) -> dict[str, Any]:
        return self._get(f"sobjects/{sobject}/describe")

    def query_pages(self, soql: str, *, include_deleted: bool) -> Iterator[list[dict[str, Any]]]:
        """Each batch of records of the query, following `nextRecordsUrl` to the end."""
        headers = {"Sforce-Query-Options": f"batchSize={self.page_size}"} if self.page_size else None
        body = self._get("queryAll" if include_deleted else "query", params={"q": soql}, headers=headers)
        while True:
            records = body.get("records")
            if not isinstance(records, list):
                raise CRMHttpError("Salesforce query answered without a records list", body=body)
            yield records
            next_url = body.get("nextRecordsUrl")
            if body.get("done", True) or not next_url:
                return
            body = self._get(self._instance_url().rstrip("/") + next_url, headers=headers)

    def deleted(self, sobject: str, *, start: dt.datetime, end: dt.datetime) -> dict[str, Any]:
        """`{"deletedRecords": [{"id", "deletedDate"}], "earliestDateAvailable", "latestDateCovered"}`."""
        params = {"start": _iso_offset(start), "end": _iso_offset(end)}
        return self._get(f"sobjects/{sobject}/deleted/", params=params)

    def patch(self, path: str, *, json: Any) -> Any:
        """A PATCH under `/services/data/vXX.X/` (sObject Collections writes), quota-checked like reads."""
        self._quota_check()
        url = f"{self._instance_url().rstrip('/')}/services/data/v{self.api_version}/{path}"
        response = self._http.request("PATCH", url, json=json)
        try:
            return response.json()
        except ValueError:
            raise CRMHttpError(
                f"Salesforce answered {redact_url(url)} with something that is not JSON", status=response.status_code
            ) from None

    def _get(
        self, path_or_url: str, *, params: dict[str, Any] | None = None, headers: dict[str, str] | None = None
    ) -> Any:
        self._quota_check()
        url = path_or_url
        if "://" not in url:
            url = f"{self._instance_url().rstrip('/')}/services/data/v{self.api_version}/{path_or_url}"
        try:
            response = self._http.request("GET", url, params=params, headers=headers)
        except CRMHttpError as exc:
            if exc.status == 403 and error_code(exc.body) == "REQUEST_LIMIT_EXCEEDED":
                raise QuotaExhausted(
                    f"Salesforce refused the call: {error_message(exc.body)} (REQUEST_LIMIT_EXCEEDED); "
                    "the sync resumes from its last committed page on the next run"
                ) from None
            raise
        try:
            return response.json()
        except ValueError:
            raise CRMHttpError(
                f"Salesforce answered {redact_url(url)} with something that is not JSON", status=response.status_code
            ) from None

    def _quota_check(self) -> None:
        if self.api_usage is None:
            return
        used, quota = self.api_usage
        if quota > 0 and used >= quota * self.quota_stop_fraction:
            raise QuotaExhausted(
                f"Salesforce daily API usage {used}/{quota} reached the stop threshold "
                f"({self.quota_stop_fraction:.0%}); the sync resumes from its last committed page on the next run"
            )


def error_code(body: Any) -> str | None:
    """Salesforce errors are `[{"message": ..., "errorCode": ...}]`."""
    if isinstance(body, list) and body and isinstance(body[0], dict):
        return body[0].get("errorCode")
    if isinstance(body, dict):
        return body.get("errorCode") or body.get("error")
    return None


def error_message(body: Any) -> str:
    if isinstance(body, list) and body and isinstance(body[0], dict):
        return str(body[0].get("message", ""))
    return str(body)[:200]


def _iso_offset(value: dt.datetime) -> str:
    return value.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S+00:00")
