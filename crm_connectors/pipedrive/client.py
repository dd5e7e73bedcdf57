"""Pipedrive's two paging styles over the shared CRMHttpClient, with each call's token cost.

- API v2 lists: `limit` (<= 500) and an opaque `cursor`; the next one is `additional_data.next_cursor`.
- API v1 lists (notes, recents): `start` / `limit`; `additional_data.pagination.more_items_in_collection`
  and `next_start`.
Every response carries `success`; `false` is an error even with HTTP 200.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from crm_connectors.base import ConnectorError
from crm_connectors.http import CRMHttpClient

MAX_PAGE_SIZE = 500
# Per-operation `x-token-cost` from Pipedrive's OpenAPI files (v1.yaml / v2.yaml).
TOKEN_COSTS: dict[str, int] = {
    "/api/v2/persons": 10,
    "/api/v2/organizations": 10,
    "/api/v2/deals": 10,
    "/api/v2/deals/archived": 20,
    "/api/v2/activities": 10,
    "/api/v2/personFields": 10,
    "/api/v2/organizationFields": 10,
    "/api/v2/dealFields": 10,
    "/api/v2/pipelines": 5,
    "/api/v2/stages": 5,
    "/v1/notes": 20,
    "/v1/recents": 20,
}
DEFAULT_TOKEN_COST = 10


@dataclass(frozen=True)
class OffsetPage:
    data: list[dict[str, Any]]
    more: bool
    next_start: int
    additional: dict[str, Any]


class PipedriveApi:
    def __init__(self, *, http: CRMHttpClient) -> None:
        self.http = http

    def v2_pages(self, path: str, params: Mapping[str, Any]) -> Iterator[list[dict[str, Any]]]:
        """The `data` of each page of a v2 list, following `next_cursor` to the end."""
        query = dict(params)
        while True:
            body = self._get(path, query)
            yield _data(body, path)
            next_cursor = (body.get("additional_data") or {}).get("next_cursor")
            if not next_cursor:
                return
            query["cursor"] = next_cursor

    def v2_all(self, path: str, params: Mapping[str, Any] | None = None) -> list[dict[str, Any]]:
        return [item for page in self.v2_pages(path, {"limit": MAX_PAGE_SIZE, **(params or {})}) for item in page]

    def v1_page(self, path: str, params: Mapping[str, Any]) -> OffsetPage:
        body = self._get(path, params)
        additional = body.get("additional_data") or {}
        pagination = additional.get("pagination") or {}
        data = _data(body, path)
        start = int(params.get("start", 0))
        return OffsetPage(
            data=data,
            more=bool(pagination.get("more_items_in_collection")),
            next_start=int(pagination.get("next_start") or start + len(data)),
            additional=additional,
        )

    def _get(self, path: str, params: Mapping[str, Any]) -> dict[str, Any]:
        body = self.http.get_json(path, params=params, cost=TOKEN_COSTS.get(path, DEFAULT_TOKEN_COST))
        if not isinstance(body, dict) or body.get("success") is False:
            error = body.get("error") if isinstance(body, dict) else None
            raise ConnectorError(f"Pipedrive GET {path} failed: {error or 'unexpected response'}")
        return body


def _data(body: Mapping[str, Any], path: str) -> list[dict[str, Any]]:
    data = body.get("data")
    if data is None:
        return []
    if not isinstance(data, list):
        raise ConnectorError(f"Pipedrive GET {path}: `data` is not a list")
    return [item for item in data if isinstance(item, dict)]
