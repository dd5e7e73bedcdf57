"""The Pipedrive connector.

Config (`CRMConnection.config`, all optional): `base_url` (default `settings.PIPEDRIVE_BASE_URL` or
https://api.pipedrive.com; with OAuth the token's `api_domain` when no base_url is set), `oauth_token_url`
(default `settings.PIPEDRIVE_OAUTH_TOKEN_URL` or https://oauth.pipedrive.com/oauth/token),
`page_size` (<= 500), `activity_kinds` ({Pipedrive activity type: our kind}, merged over the defaults),
`lookback_seconds` (re-read this much before the saved boundary), `token_rate_per_second`, `token_burst`,
`daily_token_budget` (Pipedrive's token-based limits; each call costs its `x-token-cost`).
Credentials: `token` (API token, header `x-api-token`) or OAuth `client_id` / `client_secret` /
`refresh_token` (+ `access_token` / `expires_at` once refreshed).

What each object type reads (in order), each list sorted by `update_time` ascending:

    companies   GET /api/v2/organizations                          deletes: /v1/recents items=organization
    contacts    GET /api/v2/persons                                deletes: /v1/recents items=person
    deals       GET /api/v2/deals, /api/v2/deals/archived          deletes: the same with status=deleted
    activities  GET /api/v2/activities, /v1/notes (as kind note)   deletes: /v1/recents items=activity,note

Cursor per object type: `{"streams": {<list>: {"since", "ids"}}, "deletes_since": "YYYY-MM-DD HH:MM:SS"}`,
saved after every committed page. `since`/`ids` is the inclusive-`updated_since` boundary (see
boundary.py), so a resumed or incremental run re-reads nothing it committed and misses nothing written in
the same second. A run that starts from an empty cursor (first or full sync) reads every list to the end
and then reports the complete id set, so rows deleted in Pipedrive before a full re-sync are soft-deleted.
A rejected record (a value of the wrong type) is reported in the run and read again once it changes.

Rotated OAuth tokens are handed to `on_credentials_change` (set by whoever runs the connector) to be saved.
"""

from __future__ import annotations

import copy
import datetime as dt
import hashlib
import logging
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar

from django.conf import settings

from crm_connectors.base import (
    ChangePage,
    Connector,
    ConnectorError,
    FieldValue,
    RecordError,
    ScoreUpdate,
    StageInfo,
    WriteResult,
)
from crm_connectors.http import CRMHttpClient, CRMHttpError, HeaderTokenAuth, OAuth2RefreshAuth, RateBudget
from crm_connectors.pipedrive import mapping
from crm_connectors.pipedrive import webhook as pipedrive_webhook
from crm_connectors.pipedrive import writeback as pipedrive_writeback
from crm_connectors.pipedrive.boundary import Boundary, rfc3339
from crm_connectors.pipedrive.client import MAX_PAGE_SIZE, PipedriveApi
from crm_connectors.registry import register

logger = logging.getLogger(__name__)
# x-token-cost in Pipedrive's OpenAPI files.
USERS_COST = 20  # GET /v1/users
CHANGELOG_COST = 20  # GET /v1/deals/{id}/changelog

DEFAULT_BASE_URL = "https://api.pipedrive.com"
DEFAULT_TOKEN_URL = "https://oauth.pipedrive.com/oauth/token"
# Our clock and Pipedrive's may differ; re-applying a delete is harmless, missing one is not.
DELETES_CLOCK_MARGIN = dt.timedelta(minutes=10)
RECENTS_TIME_FORMAT = "%Y-%m-%d %H:%M:%S"
# Token bucket defaults, in Pipedrive tokens (a list call costs 10-20).
DEFAULT_TOKENS_PER_SECOND = 40.0
DEFAULT_TOKEN_BURST = 80
FETCH_IDS_PER_CALL = 100  # the v2 lists' `ids` filter takes up to 100 ids


@dataclass(frozen=True)
class _Stream:
    name: str  # its key in the cursor
    path: str
    params: Mapping[str, Any] = field(default_factory=dict)
    deleted: bool = False  # records listed here were deleted in Pipedrive
    offset_paged: bool = False  # a v1 list (start/limit) instead of v2 (cursor)


@dataclass(frozen=True)
class _Plan:
    streams: tuple[_Stream, ...]
    recents: Mapping[str, str]  # /v1/recents item type -> prefix of our external id


_PLANS: dict[str, _Plan] = {
    "companies": _Plan((_Stream("organizations", "/api/v2/organizations"),), {"organization": ""}),
    "contacts": _Plan((_Stream("persons", "/api/v2/persons"),), {"person": ""}),
    "deals": _Plan(
        (
            _Stream("deals", "/api/v2/deals"),
            _Stream("archived_deals", "/api/v2/deals/archived"),
            _Stream("deleted_deals", "/api/v2/deals", {"status": "deleted"}, deleted=True),
            _Stream("deleted_archived_deals", "/api/v2/deals/archived", {"status": "deleted"}, deleted=True),
        ),
        {},
    ),
    "activities": _Plan(
        (_Stream("activities", "/api/v2/activities"), _Stream("notes", "/v1/notes", offset_paged=True)),
        {"activity": "", "note": mapping.NOTE_ID_PREFIX},
    ),
}
_FIELDS_PATHS = {
    "companies": "/api/v2/organizationFields",
    "contacts": "/api/v2/personFields",
    "deals": "/api/v2/dealFields",
}
_ACTIVITY_KINDS = ["call", "meeting", "email", "task", "note"]


@register
class PipedriveConnector(Connector):
    name = "pipedrive"
    label = "Pipedrive"
    features = frozenset(
        {"writeback", "webhooks", "records_fetch", "records_map", "reconcile", "deal_pipelines", "deal_history"}
    )
    webhook = pipedrive_webhook
    # Hosts called without CRM_ALLOWED_HOSTS: API, OAuth server, company domains (<company>.pipedrive.com).
    api_hosts = ("api.pipedrive.com", "oauth.pipedrive.com", ".pipedrive.com")
    settings_schema: ClassVar[dict[str, Any]] = {
        "type": "object",
        "properties": {
            "base_url": {"type": "string", "minLength": 1},
            "oauth_token_url": {"type": "string", "minLength": 1},
            "page_size": {"type": "integer", "minimum": 1, "maximum": MAX_PAGE_SIZE},
            "activity_kinds": {"type": "object", "additionalProperties": {"enum": _ACTIVITY_KINDS}},
            "lookback_seconds": {"type": "integer", "minimum": 0},
            "token_rate_per_second": {"type": "number", "exclusiveMinimum": 0},
            "token_burst": {"type": "integer", "minimum": 1},
            "daily_token_budget": {"type": "integer", "minimum": 1},
            "score_property": {"type": "string", "minLength": 1},
            "score_field_name": {"type": "string", "minLength": 1},
            "create_score_property": {"type": "boolean"},  # also governs the churn field
            "churn_property": {"type": "string", "minLength": 1},  # an organization field key
            "churn_field_name": {"type": "string", "minLength": 1},
            "win_probability_property": {"type": "string", "minLength": 1},  # deal field keys and names
            "win_probability_field_name": {"type": "string", "minLength": 1},
            "expected_close_property": {"type": "string", "minLength": 1},
            "expected_close_field_name": {"type": "string", "minLength": 1},
        },
        "additionalProperties": False,
    }
    # How the HTTP client and rate budget wait and tell time; tests swap in a fake clock.
    sleep: ClassVar[Callable[[float], None]] = staticmethod(time.sleep)
    clock: ClassVar[Callable[[], float]] = staticmethod(time.monotonic)

    def __init__(self, *, config: Mapping[str, Any], credentials: Mapping[str, Any]) -> None:
        super().__init__(config=config, credentials=credentials)
        self._api: PipedriveApi | None = None
        self._schemas: dict[str, mapping.FieldSchema] = {}
        self._owners: dict[str, str] | None = None
        self._pipelines: dict[str, str] | None = None
        self._stages: dict[str, str] | None = None

    def check_credentials(self) -> None:
        """Credentials must be an API token or a complete OAuth set (checked without spending tokens)."""
        self._auth()

    def close(self) -> None:
        if self._api is not None:
            self._api.http.close()
            self._api = None

    # --- writeback ------------------------------------------------------------------------------------

    def write_scores(self, *, updates: list[ScoreUpdate]) -> list[WriteResult]:
        """Lead scores into the person custom field, churn risk into the organization custom field (each
        found or created; a new key is kept in `self.config`)."""
        api = self._api_get()
        results: list[WriteResult] = []
        for object_type, value_key, target in (
            ("contacts", "lead_score", pipedrive_writeback.PERSON_SCORE),
            ("companies", "churn_risk", pipedrive_writeback.ORGANIZATION_CHURN),
        ):
            batch = [update for update in updates if update.object_type == object_type]
            if not batch:
                continue
            key = pipedrive_writeback.score_field_key(api, config=self.config, target=target)
            results.extend(
                pipedrive_writeback.scores_write(api, updates=batch, value_key=value_key, key=key, entity=target.entity)
            )
        deals = [update for update in updates if update.object_type == "deals"]
        if deals:
            win_key = pipedrive_writeback.score_field_key(api, config=self.config, target=pipedrive_writeback.DEAL_WIN)
            close_key = pipedrive_writeback.score_field_key(
                api, config=self.config, target=pipedrive_writeback.DEAL_CLOSE
            )
            results.extend(
                pipedrive_writeback.deal_scores_write(api, updates=deals, win_key=win_key, close_key=close_key)
            )
        return results

    # --- sync -----------------------------------------------------------------------------------------

    def iter_changes(self, *, object_type: str, cursor: Mapping[str, Any], full: bool) -> Iterator[ChangePage]:
        plan = _PLANS.get(object_type)
        if plan is None:
            return
        state: dict[str, Any] = copy.deepcopy(dict(cursor))
        fresh = not state.get("streams")
        state.setdefault("streams", {})
        if plan.recents and not state.get("deletes_since"):
            # Deletes older than this are covered by the full read that starts now.
            state["deletes_since"] = (dt.datetime.now(dt.UTC) - DELETES_CLOCK_MARGIN).strftime(RECENTS_TIME_FORMAT)
            run_deletes = False
        else:
            run_deletes = bool(plan.recents)
        for stream in plan.streams:
            pages = self._offset_pages(stream, state) if stream.offset_paged else self._cursor_pages(stream, state)
            for raw_records in pages:
                page = self._page(object_type, stream, raw_records, state)
                if fresh and not stream.deleted:  # a listing from the start: its ids reconcile (streamed)
                    page.listed_external_ids = _ids_of(raw_records, stream)
                yield page
        if fresh:
            yield ChangePage(object_type, cursor=copy.deepcopy(state), listing_complete=True)
        if run_deletes:
            yield from self._recent_deletes(object_type, plan, state)

    def _page(
        self, object_type: str, stream: _Stream, raw_records: list[dict[str, Any]], state: dict[str, Any]
    ) -> ChangePage:
        """Map one list page, skipping records taken at the boundary already, and move the boundary."""
        boundary = Boundary.load(state["streams"].get(stream.name))
        page = ChangePage(object_type)
        for raw in raw_records:
            record_id = str(raw.get("id", ""))
            external_id = _external_id(stream, record_id)
            try:
                updated_at = mapping.parse_time(raw.get("update_time"), "update_time")
            except mapping.MappingError as exc:
                page.errors.append(RecordError(object_type, exc.reason, column=exc.field, external_id=external_id))
                continue
            if updated_at is not None:
                if boundary.seen(updated_at, record_id):
                    continue
                boundary.advance(updated_at, record_id)
            if stream.deleted:
                page.deleted_external_ids.append(external_id)
                continue
            try:
                page.records.append(self._map(object_type, stream, raw))
            except mapping.MappingError as exc:
                page.errors.append(RecordError(object_type, exc.reason, column=exc.field, external_id=external_id))
        state["streams"][stream.name] = boundary.dump()
        page.cursor = copy.deepcopy(state)
        return page

    def _map(self, object_type: str, stream: _Stream, raw: dict[str, Any]) -> dict[str, Any]:
        if object_type == "companies":
            return mapping.organization_to_company(raw, self._schema(object_type))
        if object_type == "contacts":
            return mapping.person_to_contact(raw, self._schema(object_type))
        if object_type == "deals":
            pipelines, stages = self._pipeline_names()
            return mapping.deal_to_deal(
                raw, self._schema(object_type), pipelines=pipelines, stages=stages, owners=self._owner_emails()
            )
        if stream.name == "notes":
            return mapping.note_to_activity(raw)
        kinds = {**mapping.ACTIVITY_KINDS, **(self.config.get("activity_kinds") or {})}
        return mapping.activity_to_activity(raw, kinds=kinds)

    def _cursor_pages(self, stream: _Stream, state: dict[str, Any]) -> Iterator[list[dict[str, Any]]]:
        params = {
            **stream.params,
            "sort_by": "update_time",
            "sort_direction": "asc",
            "limit": self._page_size(),
        }
        since = self._since_param(state, stream)
        if since:
            params["updated_since"] = since
        yield from self._api_get().v2_pages(stream.path, params)

    def _offset_pages(self, stream: _Stream, state: dict[str, Any]) -> Iterator[list[dict[str, Any]]]:
        """v1 offset paging, restarted from the boundary after every page.

        A plain offset walk over a list sorted by update_time skips a record whenever an earlier one is
        edited mid-walk (everything shifts left); asking again from the boundary cannot. The offset only
        grows while a whole page sits on the boundary instant (more records in one second than a page).
        """
        api = self._api_get()
        offset = 0
        while True:
            since_before = state["streams"].get(stream.name, {}).get("since")
            params = {**stream.params, "sort": "update_time ASC, id ASC", "start": offset, "limit": self._page_size()}
            since = self._since_param(state, stream)
            if since:
                params["updated_since"] = since
            page = api.v1_page(stream.path, params)
            yield page.data
            if not page.more or not page.data:
                return
            since_after = state["streams"].get(stream.name, {}).get("since")
            offset = offset + len(page.data) if since_after == since_before else 0

    def _since_param(self, state: dict[str, Any], stream: _Stream) -> str | None:
        boundary = Boundary.load(state["streams"].get(stream.name))
        if boundary.since is None:
            return None
        return rfc3339(boundary.since - dt.timedelta(seconds=int(self.config.get("lookback_seconds") or 0)))

    def _recent_deletes(self, object_type: str, plan: _Plan, state: dict[str, Any]) -> Iterator[ChangePage]:
        """Deleted persons/organizations/activities/notes: v2 lists leave them out, /v1/recents has them."""
        api = self._api_get()
        since = state["deletes_since"]  # fixed while paging; the cursor keeps the newest time seen
        start = 0
        while True:
            params = {
                "since_timestamp": since,
                "items": ",".join(plan.recents),
                "start": start,
                "limit": self._page_size(),
            }
            page = api.v1_page("/v1/recents", params)
            deleted = [
                plan.recents[item["item"]] + str(item.get("id") or (item.get("data") or {}).get("id"))
                for item in page.data
                if item.get("item") in plan.recents and _is_deleted(item.get("data"))
            ]
            if page.additional.get("last_timestamp_on_page"):
                state["deletes_since"] = str(page.additional["last_timestamp_on_page"])
            yield ChangePage(object_type, deleted_external_ids=deleted, cursor=copy.deepcopy(state))
            if not page.more or not page.data:
                return
            start = page.next_start

    # --- lookups --------------------------------------------------------------------------------------

    def _schema(self, object_type: str) -> mapping.FieldSchema:
        if object_type not in self._schemas:
            self._schemas[object_type] = mapping.fields_parse(self._api_get().v2_all(_FIELDS_PATHS[object_type]))
        return self._schemas[object_type]

    def _pipeline_names(self) -> tuple[dict[str, str], dict[str, str]]:
        if self._pipelines is None or self._stages is None:
            api = self._api_get()
            self._pipelines = {str(p.get("id")): str(p.get("name", "")) for p in api.v2_all("/api/v2/pipelines")}
            self._stages = {str(s.get("id")): str(s.get("name", "")) for s in api.v2_all("/api/v2/stages")}
        return self._pipelines, self._stages

    def _owner_emails(self) -> dict[str, str]:
        """user id -> email (GET /v1/users); empty when the token may not list users (deals sync without owners)."""
        if self._owners is None:
            try:
                body = self._api_get().http.get_json("/v1/users", cost=USERS_COST)
            except CRMHttpError as exc:
                if exc.status not in (401, 403, 404):
                    raise
                logger.warning("Pipedrive users not readable (%s): deals sync without owner emails", exc.status)
                body = {}
            users = body.get("data") if isinstance(body, dict) else None
            self._owners = {
                str(user["id"]): user["email"].strip().lower()
                for user in users or []
                if isinstance(user, dict) and user.get("id") is not None and isinstance(user.get("email"), str)
            }
        return self._owners

    # --- deals: stages and history --------------------------------------------------------------------

    def pipeline_stages(self) -> list[StageInfo]:
        """Every pipeline's stages with `deal_probability` (a percent); won and lost are deal statuses in
        Pipedrive, not stages, so every stage is open."""
        pipelines, _ = self._pipeline_names()
        stages = []
        for raw in self._api_get().v2_all("/api/v2/stages"):
            probability = raw.get("deal_probability")
            pipeline_id = str(raw.get("pipeline_id", ""))
            stages.append(
                StageInfo(
                    pipeline=pipelines.get(pipeline_id, pipeline_id),
                    stage=str(raw.get("name", "")),
                    display_order=int(raw.get("order_nr") or 0),
                    probability=probability / 100 if isinstance(probability, int | float) else None,
                    is_closed=False,
                    is_won=False,
                )
            )
        return [stage for stage in stages if stage.stage]

    def deal_history_fetch(self, *, external_ids: list[str]) -> dict[str, list[FieldValue]]:
        """GET /v1/deals/{id}/changelog (cursor pages, x-token-cost 20 each); a field's first old value stands
        from the deal's creation (changed_at None)."""
        pipelines, stages = self._pipeline_names()
        names = {"stage": stages, "pipeline": pipelines, "owner_email": self._owner_emails()}
        found: dict[str, list[FieldValue]] = {}
        for external_id in external_ids:
            if not external_id.isdigit():
                continue
            entries: list[dict[str, Any]] = []
            cursor = None
            try:
                while True:
                    params = {"limit": 500, **({"cursor": cursor} if cursor else {})}
                    body = self._api_get().http.get_json(
                        f"/v1/deals/{external_id}/changelog", params=params, cost=CHANGELOG_COST
                    )
                    entries.extend(item for item in body.get("data") or [] if isinstance(item, dict))
                    cursor = (body.get("additional_data") or {}).get("next_cursor")
                    if not cursor:
                        break
            except CRMHttpError as exc:
                if exc.status not in (404, 410):
                    raise
                continue  # the deal is gone
            found[external_id] = _changelog_values(entries, names)
        return found

    def _page_size(self) -> int:
        return int(self.config.get("page_size") or MAX_PAGE_SIZE)

    # --- HTTP -----------------------------------------------------------------------------------------

    def _api_get(self) -> PipedriveApi:
        if self._api is None:
            auth = self._auth()
            budget = RateBudget.for_connection(
                self._budget_key(),
                per_second=float(self.config.get("token_rate_per_second") or DEFAULT_TOKENS_PER_SECOND),
                burst=int(self.config.get("token_burst") or DEFAULT_TOKEN_BURST),
                per_day=self.config.get("daily_token_budget"),
                sleep=type(self).sleep,
                clock=type(self).clock,
            )
            http = CRMHttpClient(
                base_url=self._base_url(), auth=auth, budget=budget, sleep=type(self).sleep, vendor_hosts=self.api_hosts
            )
            self._api = PipedriveApi(http=http)
        return self._api

    def _base_url(self) -> str:
        return str(
            self.config.get("base_url")
            or self.credentials.get("api_domain")
            or getattr(settings, "PIPEDRIVE_BASE_URL", "")
            or DEFAULT_BASE_URL
        ).rstrip("/")

    def _auth(self) -> HeaderTokenAuth | OAuth2RefreshAuth:
        credentials = self.credentials
        if credentials.get("token"):
            return HeaderTokenAuth("x-api-token", str(credentials["token"]))
        oauth = [credentials.get(key) for key in ("client_id", "client_secret", "refresh_token")]
        if all(oauth):
            client_id, client_secret, refresh_token = (str(value) for value in oauth)
            return OAuth2RefreshAuth(
                vendor_hosts=self.api_hosts,
                token_url=str(
                    self.config.get("oauth_token_url")
                    or getattr(settings, "PIPEDRIVE_OAUTH_TOKEN_URL", "")
                    or DEFAULT_TOKEN_URL
                ),
                client_id=client_id,
                client_secret=client_secret,
                refresh_token=refresh_token,
                access_token=credentials.get("access_token"),
                expires_at=credentials.get("expires_at"),
                on_tokens=self._tokens_store,
            )
        raise ConnectorError("Pipedrive needs an API token or OAuth client_id, client_secret and refresh_token")

    def _tokens_store(self, tokens: dict[str, Any]) -> None:
        self.credentials.update({key: value for key, value in tokens.items() if key != "token_type"})
        if self.on_credentials_change is not None:
            self.on_credentials_change(dict(self.credentials))

    def _budget_key(self) -> tuple[str, str, str]:
        # One budget per Pipedrive account and credential, without keeping the secret itself as a key.
        identity = str(self.credentials.get("token") or self.credentials.get("client_id") or "")
        return ("pipedrive", self._base_url(), hashlib.sha256(identity.encode()).hexdigest()[:16])

    # --- webhook records --------------------------------------------------------------------------------

    def records_fetch(self, *, object_type: str, external_ids: list[str]) -> ChangePage:
        """Re-read records by id through the v2 lists' `ids` filter (v1 webhooks carry v1-shaped records).

        Ids no list returns any more (deals: neither the open nor the archived list) were deleted. Notes
        are never re-read: their webhook carries the v1 record the notes sync maps anyway.
        """
        plan = _PLANS.get(object_type)
        if plan is None:
            raise ConnectorError(f"Pipedrive has no {object_type}")
        notes = [i for i in external_ids if i.startswith(mapping.NOTE_ID_PREFIX)]
        if notes:
            raise ConnectorError(f"Pipedrive notes are not re-read by id ({notes[0]})")
        page = ChangePage(object_type)
        remaining = list(dict.fromkeys(external_ids))
        for stream in plan.streams:
            if stream.deleted or stream.offset_paged or not remaining:
                continue
            found: set[str] = set()
            for start in range(0, len(remaining), FETCH_IDS_PER_CALL):
                batch = remaining[start : start + FETCH_IDS_PER_CALL]
                for raw in self._api_get().v2_all(stream.path, {**stream.params, "ids": ",".join(batch)}):
                    external_id = _external_id(stream, str(raw.get("id", "")))
                    found.add(external_id)
                    try:
                        page.records.append(self._map(object_type, stream, raw))
                    except mapping.MappingError as exc:
                        page.errors.append(
                            RecordError(object_type, exc.reason, column=exc.field, external_id=external_id)
                        )
            remaining = [record_id for record_id in remaining if record_id not in found]
        page.deleted_external_ids.extend(remaining)
        return page

    def records_map(
        self, *, object_type: str, raw_records: list[dict[str, Any]], kind: str | None = None
    ) -> ChangePage:
        """Map complete records (a webhook's `data`) as a list page would; `kind="note"` for notes."""
        plan = _PLANS.get(object_type)
        if plan is None:
            raise ConnectorError(f"Pipedrive has no {object_type}")
        page = ChangePage(object_type)
        for raw in raw_records:
            stream = plan.streams[-1] if object_type == "activities" and kind == "note" else plan.streams[0]
            external_id = _external_id(stream, str(raw.get("id", "")))
            try:
                page.records.append(self._map(object_type, stream, raw))
            except mapping.MappingError as exc:
                page.errors.append(RecordError(object_type, exc.reason, column=exc.field, external_id=external_id))
        return page


def _changelog_values(entries: list[dict[str, Any]], names: dict[str, dict[str, str]]) -> list[FieldValue]:
    values: list[FieldValue] = []
    first_seen: set[str] = set()
    timed = []
    for entry in entries:
        field = mapping.CHANGELOG_FIELDS.get(str(entry.get("field_key")))
        try:
            when = mapping.parse_time(entry.get("time"), "time")
        except mapping.MappingError:
            continue
        if field is not None and when is not None:
            timed.append((when, field, entry))
    for when, field, entry in sorted(timed, key=lambda item: item[0]):
        if field not in first_seen:  # what the field held before its first change: since creation
            first_seen.add(field)
            old = mapping.changelog_value(field, entry.get("old_value"), names=names)
            if old is not None:
                values.append(FieldValue(field, old, None))
        new = mapping.changelog_value(field, entry.get("new_value"), names=names)
        if new is not None:
            values.append(FieldValue(field, new, when))
    return values


def _external_id(stream: _Stream, record_id: str) -> str:
    return mapping.NOTE_ID_PREFIX + record_id if stream.name == "notes" else record_id


def _ids_of(raw_records: list[dict[str, Any]], stream: _Stream) -> list[str]:
    return [_external_id(stream, str(raw["id"])) for raw in raw_records if raw.get("id") is not None]


def _is_deleted(data: Any) -> bool:
    """A /v1/recents item's data says deleted: `active_flag: false` (v1) or `is_deleted`/`deleted: true`."""
    if not isinstance(data, Mapping):
        return False
    return data.get("active_flag") is False or data.get("is_deleted") is True or data.get("deleted") is True
