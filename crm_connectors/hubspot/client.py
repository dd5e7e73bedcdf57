"""HubSpot's CRM endpoints the connector reads, on top of the shared CRMHttpClient."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

from crm_connectors.base import ConnectorError
from crm_connectors.http import CRMHttpClient, CRMHttpError, QuotaExhausted, RateBudget, response_json

LIST_PAGE_SIZE = 100  # list endpoints' maximum
SEARCH_PAGE_SIZE = 200  # search's maximum
SEARCH_CAP = 10_000  # one search query never pages past this many results (400 past it)
ASSOCIATION_BATCH = 100


class HubSpotApi:
    def __init__(self, *, http: CRMHttpClient, search_budget: RateBudget | None = None) -> None:
        self.http = http
        self.search_budget = search_budget

    def list_page(
        self,
        hubspot_type: str,
        *,
        properties: list[str],
        after: str | None,
        archived: bool = False,
        limit: int = LIST_PAGE_SIZE,
        associations: tuple[str, ...] = (),
    ) -> tuple[list[Any], str | None]:
        """One list page. `associations` asks for associated ids inline (list and get only, never search)."""
        params: dict[str, Any] = {"limit": min(limit, LIST_PAGE_SIZE), "properties": ",".join(properties)}
        if after:
            params["after"] = after
        if archived:
            params["archived"] = "true"
        if associations:
            params["associations"] = ",".join(associations)
        body = self.http.get_json(f"/crm/v3/objects/{hubspot_type}", params=params)
        return _results(body, hubspot_type), _next_after(body)

    def search_page(
        self,
        hubspot_type: str,
        *,
        filters: list[dict[str, Any]],
        properties: list[str],
        after: str | None,
        limit: int = SEARCH_PAGE_SIZE,
    ) -> tuple[list[Any], str | None]:
        request: dict[str, Any] = {
            "filterGroups": [{"filters": filters}],
            # One unique sort key: stable paging and an exact keyset restart past the 10,000 cap.
            "sorts": [{"propertyName": "hs_object_id", "direction": "ASCENDING"}],
            "properties": properties,
            "limit": min(limit, SEARCH_PAGE_SIZE),
        }
        if after:
            request["after"] = after
        if self.search_budget is not None:
            self.search_budget.acquire()
        body = self.http.post_json(f"/crm/v3/objects/{hubspot_type}/search", json=request)
        return _results(body, hubspot_type), _next_after(body)

    def property_definitions(self, hubspot_type: str) -> list[Any]:
        body = self.http.get_json(f"/crm/v3/properties/{hubspot_type}", params={"archived": "false"})
        return _results(body, f"{hubspot_type} properties")

    def access_token_info(self, access_token: str) -> Mapping[str, Any]:
        """OAuth token introspection: `hub_id`, `app_id`, `scopes`... of an access token."""
        body = self.http.get_json(f"/oauth/v1/access-tokens/{access_token}")
        if not isinstance(body, Mapping):
            raise ConnectorError("HubSpot token introspection answered with something that is not an object")
        return body

    def associations(self, from_type: str, to_type: str, ids: list[str]) -> dict[str, list[tuple[str, set[int]]]]:
        """{from id: [(to id, association typeIds)]} for every id, following each id's own paging."""
        links: dict[str, list[tuple[str, set[int]]]] = {record_id: [] for record_id in ids}
        pending: list[dict[str, str]] = [{"id": record_id} for record_id in ids]
        while pending:
            batch, pending = pending[:ASSOCIATION_BATCH], pending[ASSOCIATION_BATCH:]
            response = self.http.request(
                "POST", f"/crm/v4/associations/{from_type}/{to_type}/batch/read", json={"inputs": batch}
            )
            body = _json(response)
            # A 207 lists inputs without associations among its errors: they simply have none.
            for result in _results(body, f"{from_type}->{to_type} associations"):
                source = str((result.get("from") or {}).get("id", ""))
                if source not in links:
                    continue
                for target in result.get("to") or []:
                    type_ids = {int(t["typeId"]) for t in target.get("associationTypes") or [] if "typeId" in t}
                    links[source].append((str(target.get("toObjectId")), type_ids))
                after = _next_after(result)
                if after:
                    pending.append({"id": source, "after": after})
        return links


def _json(response: httpx.Response) -> Any:
    try:
        return response_json(response)
    except ValueError:
        raise CRMHttpError("HubSpot answered with something that is not JSON", status=response.status_code) from None


def _results(body: Any, what: str) -> list[Any]:
    results = body.get("results") if isinstance(body, Mapping) else None
    if not isinstance(results, list):
        raise ConnectorError(f"HubSpot {what}: answer without a results list")
    return results


def _next_after(body: Any) -> str | None:
    paging = body.get("paging") if isinstance(body, Mapping) else None
    after = ((paging or {}).get("next") or {}).get("after") if isinstance(paging, Mapping) else None
    return str(after) if after not in (None, "") else None


def rate_limit_watcher(budget: RateBudget | None) -> Callable[[httpx.Response], None]:
    """Reads HubSpot's rate-limit signals off every response (CONTRACT.md §6.2-6.3).

    A 429 under the DAILY policy will not clear with retries: the sync stops until the reset. The
    `X-HubSpot-RateLimit-*` headers let the shared budget wait before HubSpot has to answer 429 at all.
    """

    def watch(response: httpx.Response) -> None:
        headers = response.headers
        if headers.get("x-hubspot-ratelimit-daily-remaining", "").strip() == "0" and budget is not None:
            budget.exhaust_until(_daily_reset())
        if headers.get("x-hubspot-ratelimit-remaining", "").strip() == "0" and budget is not None:
            try:
                interval = float(headers.get("x-hubspot-ratelimit-interval-milliseconds", "10000")) / 1000
            except ValueError:
                interval = 10.0
            budget.pause(interval)
        if response.status_code != 429:
            return
        try:
            body = response.json()
        except ValueError:
            return
        if isinstance(body, Mapping) and str(body.get("policyName", "")).upper() == "DAILY":
            raise QuotaExhausted("HubSpot daily API limit reached", resume_after=_daily_reset())

    return watch


def _daily_reset() -> datetime:
    # The reset is midnight in the portal's time zone, which we do not know: wait for the latest midnight on
    # Earth (UTC-12, i.e. 12:00 UTC after the next UTC midnight).
    now = datetime.now(UTC)
    return datetime.combine(now.date() + timedelta(days=1), datetime.min.time(), tzinfo=UTC) + timedelta(hours=12)
