"""The HubSpot connector: CRM v3 contacts, companies, deals and engagements (emails, notes, calls, meetings,
tasks), with parents read through v4 associations. Wire facts: shared/crm-specs/hubspot/CONTRACT.md.

Config (`CRMConnection.config`, all optional):
    base_url                    https://api.hubapi.com
    token_url                   OAuth token endpoint (default `<base_url>/oauth/v1/token`)
    lookback_seconds            incremental windows start this far before the last high-water mark (default
                                600): HubSpot's search index lags behind writes
    requests_per_second         shared budget of this connection (default 10 = HubSpot's safe 100 per 10 s; 0 = off)
    search_requests_per_second  separate search budget (default 4, HubSpot's documented search limit; 0 = off)
Credentials: `token` (private app, Bearer) or `client_id` + `client_secret` + `refresh_token` (+ optional
`access_token` / `expires_at`): OAuth2 refresh; rotated tokens go to `on_credentials_change`.

Cursor of one of our object types: {hubspot type: state}, where a state is
    {"mode": "full", "started_at": ms, "after": list cursor}          while the first read lists everything;
    {"mode": "incremental", "since": ms, "window": {...}, "archived": {...}}   afterwards.
An incremental pass searches `<last-modified> GTE since - lookback` sorted by `hs_object_id`; each committed
page saves the last id, and a crashed pass resumes with `hs_object_id GT <that id>`. The same keyset restart
keeps every query under HubSpot's 10,000-result search cap. Children (contacts, deals, engagements) are
searched only up to the run's start, so a record never points at a parent created after the parents' pass.
After every pass the archived list (`archived=true`) turns records archived since the last check into soft
deletes; ids named in a survivor's `hs_merged_object_ids` are soft-deleted too (they no longer exist). A listing
that ran from start to end in one run ends with the complete id set, so purged records (GDPR deletes, records
archived more than 90 days ago) are soft-deleted by the engine's reconciliation.
"""

from __future__ import annotations

import copy
import hashlib
import logging
import time
from collections.abc import Callable, Iterator, Mapping
from typing import Any, ClassVar

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
from crm_connectors.http import BearerTokenAuth, CRMHttpClient, CRMHttpError, OAuth2RefreshAuth, RateBudget
from crm_connectors.hubspot import mapping
from crm_connectors.hubspot import webhook as hubspot_webhook
from crm_connectors.hubspot import writeback as hubspot_writeback
from crm_connectors.hubspot.client import SEARCH_CAP, SEARCH_PAGE_SIZE, HubSpotApi, rate_limit_watcher
from crm_connectors.registry import register

logger = logging.getLogger(__name__)

DEFAULT_BASE_URL = "https://api.hubapi.com"
DEFAULT_LOOKBACK_SECONDS = 600
DEFAULT_REQUESTS_PER_SECOND = 10
DEFAULT_SEARCH_REQUESTS_PER_SECOND = 4
CHILD_TYPES = frozenset({"contacts", "deals", *mapping.ENGAGEMENT_KINDS})
BATCH_READ_SIZE = 100  # batch/read's maximum inputs per call
HISTORY_BATCH_SIZE = 50  # propertiesWithHistory lowers the page size (CONTRACT.md 2.2)


@register
class HubSpotConnector(Connector):
    name = "hubspot"
    label = "HubSpot"
    features = frozenset({"writeback", "webhooks", "records_fetch", "reconcile", "deal_pipelines", "deal_history"})
    webhook = hubspot_webhook
    # Hosts called without CRM_ALLOWED_HOSTS: API and OAuth, regional ones (api-eu1.hubapi.com) included.
    api_hosts = ("api.hubapi.com", ".hubapi.com", ".hubspot.com")
    settings_schema: ClassVar[dict[str, Any]] = {
        "type": "object",
        "properties": {
            "base_url": {"type": "string", "minLength": 1},
            "token_url": {"type": "string", "minLength": 1},
            "lookback_seconds": {"type": "integer", "minimum": 0},
            "requests_per_second": {"type": "number", "minimum": 0},
            "search_requests_per_second": {"type": "number", "minimum": 0},
            "score_property": {"type": "string", "minLength": 1},
            "create_score_property": {"type": "boolean"},  # also governs the churn property
            "churn_property": {"type": "string", "minLength": 1},
            "win_probability_property": {"type": "string", "minLength": 1},
            "expected_close_property": {"type": "string", "minLength": 1},
            # The public app whose one webhook URL (/webhooks/hubspot/app/<app_id>/) serves this portal.
            "app_id": {"type": ["integer", "string"], "pattern": "^[0-9]+$", "minimum": 1},
        },
        "additionalProperties": False,
    }
    # How the HTTP client waits between retries; tests swap it for a no-op.
    sleep: ClassVar[Callable[[float], None]] = staticmethod(time.sleep)
    # Wall clock in epoch milliseconds (tests may pin it).
    now_ms: ClassVar[Callable[[], int]] = staticmethod(lambda: int(time.time() * 1000))

    def __init__(self, *, config: Mapping[str, Any], credentials: Mapping[str, Any]) -> None:
        super().__init__(config=config, credentials=credentials)
        self._http: CRMHttpClient | None = None
        self._api: HubSpotApi | None = None
        self._custom: dict[str, dict[str, mapping.PropertyDefinition]] = {}
        self._run_started_ms: int | None = None
        self._owners: dict[str, str] | None = None  # owner id -> email, read once per connector
        self._stages: list[StageInfo] | None = None

    # --- connection -------------------------------------------------------------------------------------

    def check_credentials(self) -> None:
        """One cheap authenticated call (a one-contact page); an OAuth connection also learns its portal id."""
        self._api_get().list_page("contacts", properties=["hs_object_id"], after=None, limit=1)
        self._portal_id_ensure()

    def _portal_id_ensure(self) -> None:
        """App-level webhooks route events by `portalId`: an OAuth connection keeps its portal as `hub_id`.
        A token refresh brings it; a still-valid token is introspected once instead. Private-app tokens
        belong to one portal and get webhooks at the connection's own URL, so they need none."""
        if self.credentials.get("hub_id") or self.credentials.get("token"):
            return
        api = self._api_get()
        auth = api.http.auth
        access_token = getattr(auth, "access_token", None)
        if not access_token or self.credentials.get("hub_id"):  # the call above may have refreshed
            return
        try:
            info = api.access_token_info(str(access_token))
        except CRMHttpError as exc:  # only webhook routing needs it: never fail a check or a sync over it
            logger.warning("HubSpot token introspection failed: %s", exc)
            return
        hub_id = info.get("hub_id") or info.get("hubId")
        if hub_id:
            self._tokens_store({"hub_id": hub_id})

    def close(self) -> None:
        if self._http is not None:
            self._http.close()
            self._http = self._api = None

    # --- writeback --------------------------------------------------------------------------------------

    def write_scores(self, *, updates: list[ScoreUpdate]) -> list[WriteResult]:
        """Lead scores into the contact property `score_property`, churn risk into the company property
        `churn_property`, deal win probability and expected close into the deal properties
        `win_probability_property` and `expected_close_property` (each created when missing unless turned off)."""
        http = self._api_get().http
        create = self.config.get("create_score_property", True)
        results: list[WriteResult] = []
        deals = [update for update in updates if update.object_type == "deals"]
        if deals:
            names = hubspot_writeback.DealProperties(
                win_probability=str(
                    self.config.get("win_probability_property") or hubspot_writeback.DEFAULT_WIN_PROPERTY
                ),
                expected_close=str(
                    self.config.get("expected_close_property") or hubspot_writeback.DEFAULT_CLOSE_PROPERTY
                ),
            )
            hubspot_writeback.deal_properties_ensure(http, names=names, create=create)
            results.extend(hubspot_writeback.deal_scores_write(http, updates=deals, names=names))
        for object_type, value_key, name in (
            ("contacts", "lead_score", self.config.get("score_property") or hubspot_writeback.DEFAULT_SCORE_PROPERTY),
            ("companies", "churn_risk", self.config.get("churn_property") or hubspot_writeback.DEFAULT_CHURN_PROPERTY),
        ):
            batch = [update for update in updates if update.object_type == object_type]
            if not batch:
                continue
            hubspot_writeback.score_property_ensure(http, name=str(name), create=create, object_type=object_type)
            results.extend(
                hubspot_writeback.scores_write(
                    http, updates=batch, value_key=value_key, name=str(name), object_type=object_type
                )
            )
        return results

    def _base_url(self) -> str:
        return str(self.config.get("base_url") or DEFAULT_BASE_URL).rstrip("/")

    def _auth(self) -> BearerTokenAuth | OAuth2RefreshAuth:
        credentials = self.credentials
        oauth = [credentials.get(key) for key in ("client_id", "client_secret", "refresh_token")]
        if credentials.get("token"):
            return BearerTokenAuth(str(credentials["token"]))
        if all(oauth):
            client_id, client_secret, refresh_token = (str(value) for value in oauth)
            return OAuth2RefreshAuth(
                vendor_hosts=self.api_hosts,
                token_url=str(self.config.get("token_url") or f"{self._base_url()}/oauth/v1/token"),
                client_id=client_id,
                client_secret=client_secret,
                refresh_token=refresh_token,
                access_token=credentials.get("access_token"),
                expires_at=credentials.get("expires_at"),
                on_tokens=self._tokens_store,
            )
        raise ConnectorError("HubSpot needs a private-app token, or OAuth client_id, client_secret and refresh_token")

    def _tokens_store(self, tokens: dict[str, Any]) -> None:
        if tokens.get("hub_id") is None and tokens.get("hubId") is not None:  # newer docs spell it camelCase
            tokens = {**tokens, "hub_id": tokens["hubId"]}
        kept = ("access_token", "refresh_token", "expires_at", "hub_id")
        self.credentials.update({key: tokens[key] for key in kept if tokens.get(key) is not None})
        if self.on_credentials_change is not None:
            self.on_credentials_change(dict(self.credentials))

    def _budget_key(self) -> str:
        # One budget per portal credential in this process; hashed so no secret sits in the registry key.
        secret = str(self.credentials.get("token") or self.credentials.get("client_id") or "")
        return hashlib.sha256(f"{self._base_url()}|{secret}".encode()).hexdigest()

    def _api_get(self) -> HubSpotApi:
        if self._api is None:
            key = self._budget_key()
            rate = float(self.config.get("requests_per_second", DEFAULT_REQUESTS_PER_SECOND))
            search_rate = float(self.config.get("search_requests_per_second", DEFAULT_SEARCH_REQUESTS_PER_SECOND))
            budget = (
                RateBudget.for_connection(f"hubspot:{key}", per_second=rate, burst=max(1, int(rate))) if rate else None
            )
            search_budget = (
                RateBudget.for_connection(
                    f"hubspot-search:{key}", per_second=search_rate, burst=max(1, int(search_rate))
                )
                if search_rate
                else None
            )
            self._http = CRMHttpClient(
                vendor_hosts=self.api_hosts,
                base_url=self._base_url(),
                auth=self._auth(),
                budget=budget,
                sleep=type(self).sleep,
                on_response=rate_limit_watcher(budget),
            )
            self._api = HubSpotApi(http=self._http, search_budget=search_budget)
        return self._api

    # --- sync -------------------------------------------------------------------------------------------

    def iter_changes(self, *, object_type: str, cursor: Mapping[str, Any], full: bool) -> Iterator[ChangePage]:
        hubspot_types = mapping.HUBSPOT_TYPES.get(object_type)
        if not hubspot_types:
            return
        if self._run_started_ms is None:
            self._run_started_ms = type(self).now_ms()
            self._portal_id_ensure()
        state: dict[str, Any] = {} if full else copy.deepcopy(dict(cursor))
        # True while this call has listed every HubSpot type of the object type from the start: its pages then
        # name their ids for the engine's reconciliation (streamed, never held here).
        listing = [True]
        for hubspot_type in hubspot_types:
            sub = state.get(hubspot_type)
            if not isinstance(sub, dict):
                sub = state[hubspot_type] = {}
            if sub.get("mode") == "incremental":
                listing[0] = False
                yield from self._incremental_pass(object_type, hubspot_type, state)
            else:
                if sub.get("mode") == "full":  # resumed after a crash: earlier pages were listed by another run
                    listing[0] = False
                yield from self._full_pass(object_type, hubspot_type, state, listing)
            yield from self._archived_pass(object_type, hubspot_type, state)
        if listing[0]:
            # Purged records (GDPR deletes, archived > 90 days) appear in no list: reconcile against the ids.
            yield ChangePage(object_type, cursor=copy.deepcopy(state), listing_complete=True)

    def _full_pass(
        self, object_type: str, hubspot_type: str, state: dict[str, Any], listing: list[bool]
    ) -> Iterator[ChangePage]:
        api = self._api_get()
        sub = state[hubspot_type]
        if sub.get("mode") != "full":
            sub.clear()
            sub.update(mode="full", started_at=type(self).now_ms(), after=None)
        properties = self._properties(hubspot_type)
        parent_types = tuple(to_type for to_type, _ in mapping.PARENTS[hubspot_type])
        while True:
            results, after = api.list_page(
                hubspot_type, properties=properties, after=sub.get("after"), associations=parent_types
            )
            page = self._page(object_type, hubspot_type, results, inline_associations=bool(parent_types))
            if listing[0]:
                page.listed_external_ids = _ids(results)
            if after:
                sub["after"] = after
            else:
                # Everything listed: from now on, search for what changed since this read began.
                state[hubspot_type] = {"mode": "incremental", "since": sub["started_at"]}
            page.cursor = copy.deepcopy(state)
            yield page
            if not after:
                return

    def _incremental_pass(self, object_type: str, hubspot_type: str, state: dict[str, Any]) -> Iterator[ChangePage]:
        api = self._api_get()
        sub = state[hubspot_type]
        lookback = int(self.config.get("lookback_seconds", DEFAULT_LOOKBACK_SECONDS)) * 1000
        window = sub.get("window")
        if not isinstance(window, dict):
            window = sub["window"] = {
                "from": int(sub.get("since") or 0) - lookback,
                "until": self._run_started_ms or type(self).now_ms(),
                "last_id": "0",
            }
        prop = mapping.modified_property(hubspot_type)
        properties = self._properties(hubspot_type)
        after: str | None = None
        segment_start = str(window["last_id"])  # one query = one segment; `after` pages within it
        while True:
            filters = [
                {"propertyName": prop, "operator": "GTE", "value": str(window["from"])},
                {"propertyName": "hs_object_id", "operator": "GT", "value": segment_start},
            ]
            if hubspot_type in CHILD_TYPES:
                filters.append({"propertyName": prop, "operator": "LTE", "value": str(window["until"])})
            results, next_after = api.search_page(hubspot_type, filters=filters, properties=properties, after=after)
            page = self._page(object_type, hubspot_type, results)
            last_id = _max_id(results)
            if last_id is not None:
                window["last_id"] = last_id
            if next_after is None:
                # Window done: the next one starts at this run's start (minus the lookback, applied then).
                state[hubspot_type] = {key: value for key, value in sub.items() if key not in ("window", "since")} | {
                    "mode": "incremental",
                    "since": window["until"],
                }
                sub = state[hubspot_type]
            page.cursor = copy.deepcopy(state)
            yield page
            if next_after is None:
                return
            if _offset(next_after) + SEARCH_PAGE_SIZE <= SEARCH_CAP:
                after = next_after
            else:
                # Past the cap HubSpot answers 400: start a new query after the last id instead of paging on.
                after, segment_start = None, str(window["last_id"])

    def _archived_pass(self, object_type: str, hubspot_type: str, state: dict[str, Any]) -> Iterator[ChangePage]:
        api = self._api_get()
        sub = state[hubspot_type]
        if sub.get("mode") != "incremental":
            return
        check = sub.get("archived")
        if not isinstance(check, dict) or "started_at" not in check:
            previous = check.get("checked_at") if isinstance(check, dict) else None
            check = sub["archived"] = {"started_at": type(self).now_ms(), "after": None, "newer_than": previous}
        lookback = int(self.config.get("lookback_seconds", DEFAULT_LOOKBACK_SECONDS)) * 1000
        threshold = check["newer_than"] - lookback if check.get("newer_than") is not None else None
        while True:
            results, after = api.list_page(
                hubspot_type, properties=["hs_object_id"], after=check.get("after"), archived=True
            )
            page = ChangePage(object_type)
            for raw in results:
                try:
                    record_id = mapping.record_id(raw)
                    archived_at = mapping.parse_time(raw.get("archivedAt"), field="archivedAt")
                except mapping.MappingError as exc:
                    page.errors.append(_record_error(object_type, raw, exc))
                    continue
                if threshold is None or archived_at is None or mapping.ms_of(archived_at) >= threshold:
                    page.deleted_external_ids.append(record_id)
            if after:
                check["after"] = after
            else:
                sub["archived"] = {"checked_at": check["started_at"]}
            page.cursor = copy.deepcopy(state)
            yield page
            if not after:
                return

    # --- records ----------------------------------------------------------------------------------------

    def _properties(self, hubspot_type: str) -> list[str]:
        return ["hs_object_id", *mapping.MAPPED_PROPERTIES[hubspot_type], *self._custom_of(hubspot_type)]

    def _custom_of(self, hubspot_type: str) -> dict[str, mapping.PropertyDefinition]:
        if hubspot_type not in self._custom:
            definitions = self._api_get().property_definitions(hubspot_type)
            self._custom[hubspot_type] = mapping.custom_properties(definitions)
        return self._custom[hubspot_type]

    def _page(
        self, object_type: str, hubspot_type: str, results: list[Any], *, inline_associations: bool = False
    ) -> ChangePage:
        page = ChangePage(object_type)
        custom = self._custom_of(hubspot_type)
        unique: dict[str, Any] = {}
        for raw in results:
            try:
                unique[mapping.record_id(raw)] = raw  # a repeated id keeps its latest copy
            except mapping.MappingError as exc:
                page.errors.append(_record_error(object_type, raw, exc))
        parents = self._parents(hubspot_type, unique, inline_associations=inline_associations)
        merged: list[str] = []
        for record_id, raw in unique.items():
            try:
                record = mapping.map_record(hubspot_type, raw, custom=custom, parents=parents.get(record_id, {}))
                if mapping.OWNER_ID_KEY in record:
                    owner_id = record.pop(mapping.OWNER_ID_KEY)
                    record["owner_email"] = self._owner_emails().get(owner_id, "") if owner_id else ""
                page.records.append(record)
            except mapping.MappingError as exc:
                page.errors.append(_record_error(object_type, raw, exc))
                continue
            merged.extend(mapping.merged_ids(raw))
        page.deleted_external_ids = [record_id for record_id in dict.fromkeys(merged) if record_id not in unique]
        return page

    def _parents(
        self, hubspot_type: str, records: dict[str, Any], *, inline_associations: bool = False
    ) -> dict[str, dict[str, str | None]]:
        """Each record's parent ids. Inline associations (list pages) settle every record with at most one
        target and no further paging: one target is the parent whatever its label. The rest (several
        targets, whose primary only v4 type ids tell, or paged ones) are read with v4 batch read."""
        ids = list(records)
        parents: dict[str, dict[str, str | None]] = {record_id: {} for record_id in ids}
        if not ids:
            return parents
        api = self._api_get()
        for to_type, key in mapping.PARENTS[hubspot_type]:
            unresolved = ids
            if inline_associations:
                unresolved = []
                for record_id in ids:
                    target = mapping.inline_single_target(records[record_id], to_type)
                    if target is mapping.UNRESOLVED:
                        unresolved.append(record_id)
                    else:
                        parents[record_id][key] = target
            if not unresolved:
                continue
            links = api.associations(hubspot_type, to_type, unresolved)
            for record_id in unresolved:
                parents[record_id][key] = mapping.choose_parent(hubspot_type, to_type, links.get(record_id, []))
        return parents

    # --- deals: owners, pipelines, history ------------------------------------------------------------

    def _owner_emails(self) -> dict[str, str]:
        if self._owners is None:
            owners: dict[str, str] = {}
            after = None
            while True:
                params = {"limit": 100, **({"after": after} if after else {})}
                try:
                    body = self._api_get().http.get_json("/crm/v3/owners", params=params)
                except CRMHttpError as exc:
                    if exc.status not in (403, 404):
                        raise
                    # A token without the owners scope: deals keep syncing, without owners.
                    logger.warning("HubSpot owners not readable (%s): deals sync without owner emails", exc.status)
                    break
                owners.update(mapping.owners_by_id(body.get("results") or []))
                after = ((body.get("paging") or {}).get("next") or {}).get("after")
                if not after:
                    break
            self._owners = owners
        return self._owners

    def pipeline_stages(self) -> list[StageInfo]:
        if self._stages is None:
            body = self._api_get().http.get_json("/crm/v3/pipelines/deals")
            self._stages = [StageInfo(*row) for row in mapping.pipeline_stages(body.get("results") or [])]
        return self._stages

    def deal_history_fetch(self, *, external_ids: list[str]) -> dict[str, list[FieldValue]]:
        """batch/read with `propertiesWithHistory`; stage history also gives the status history (closed / won
        stages from the pipelines), owner ids become emails."""
        closed = {
            stage.stage: ("won" if stage.is_won else "lost") for stage in self.pipeline_stages() if stage.is_closed
        }
        owners = self._owner_emails()
        found: dict[str, list[FieldValue]] = {}
        for start in range(0, len(external_ids), HISTORY_BATCH_SIZE):
            batch = external_ids[start : start + HISTORY_BATCH_SIZE]
            body = self._api_get().http.post_json(
                "/crm/v3/objects/deals/batch/read",
                json={
                    "properties": ["hs_object_id"],
                    "propertiesWithHistory": list(mapping.HISTORY_PROPERTIES),
                    "inputs": [{"id": i} for i in batch],
                },
            )
            for raw in body.get("results") or []:
                try:
                    record_id = mapping.record_id(raw)
                except mapping.MappingError:
                    continue
                values: list[FieldValue] = []
                for field, value, when in mapping.history_values(raw):
                    if field == "owner_email":
                        value = owners.get(value, "") if value else ""
                    values.append(FieldValue(field, value, when))
                    if field == "stage":
                        values.append(FieldValue("status", closed.get(value, "open") if value else "", when))
                found[record_id] = values
        return found

    # --- webhook follow-up reads ------------------------------------------------------------------------

    def records_fetch(self, *, object_type: str, external_ids: list[str]) -> ChangePage:
        """Re-read records by id (webhook events carry ids only) with batch/read; ids HubSpot no longer
        has (archived, merged away, purged) come back as deleted."""
        page = ChangePage(object_type)
        remaining = list(dict.fromkeys(external_ids))
        for hubspot_type in mapping.HUBSPOT_TYPES.get(object_type, ()):
            if not remaining:
                break
            for start in range(0, len(remaining), BATCH_READ_SIZE):
                batch = remaining[start : start + BATCH_READ_SIZE]
                body = self._api_get().http.post_json(
                    f"/crm/v3/objects/{hubspot_type}/batch/read",
                    json={"properties": self._properties(hubspot_type), "inputs": [{"id": i} for i in batch]},
                )
                results = body.get("results") if isinstance(body, Mapping) else None
                if not isinstance(results, list):
                    raise ConnectorError(f"HubSpot {hubspot_type} batch/read answered without results")
                found = self._page(object_type, hubspot_type, results)
                page.records.extend(found.records)
                page.errors.extend(found.errors)
                page.deleted_external_ids.extend(found.deleted_external_ids)
            read = {str(record["external_id"]) for record in page.records} | {
                str(error.external_id) for error in page.errors if error.external_id
            }
            remaining = [record_id for record_id in remaining if record_id not in read]
        page.deleted_external_ids.extend(
            record_id for record_id in remaining if record_id not in page.deleted_external_ids
        )
        return page


def _record_error(object_type: str, raw: Any, exc: mapping.MappingError) -> RecordError:
    record_id = raw.get("id") if isinstance(raw, Mapping) else None
    return RecordError(
        object_type,
        str(exc),
        column=exc.field,
        external_id=str(record_id) if isinstance(record_id, str | int) and not isinstance(record_id, bool) else None,
    )


def _ids(results: list[Any]) -> list[str]:
    return [str(raw["id"]) for raw in results if isinstance(raw, Mapping) and isinstance(raw.get("id"), str | int)]


def _max_id(results: list[Any]) -> str | None:
    ids = [int(raw["id"]) for raw in results if isinstance(raw, Mapping) and str(raw.get("id", "")).isdigit()]
    return str(max(ids)) if ids else None


def _offset(after: str) -> int:
    try:
        return int(after)
    except ValueError:
        return SEARCH_CAP  # an opaque cursor: restart rather than risk paging past the cap
