"""The Salesforce connector: SOQL incremental sync of accounts, contacts and leads, opportunities, tasks and events.

Config (`CRMConnection.config`, all optional):
    base_url            the login server: https://login.salesforce.com (default; settings.SALESFORCE_LOGIN_URL
                        when set), https://test.salesforce.com for a sandbox, or a My Domain URL. Tokens come
                        from `<base_url>/services/oauth2/token`; API calls go to the `instance_url` the token
                        endpoint returns (with a plain access token and no saved instance_url, to base_url)
    api_version         "61.0"
    page_size           records per query batch (`Sforce-Query-Options: batchSize`, 200..2000; Salesforce's
                        default is 2000)
    lookback_seconds    each incremental pass starts this far before the last watermark (default 300), for rows
                        committed late with an older SystemModstamp; re-read rows are counted unchanged
    quota_stop_fraction stop cleanly (QuotaExhausted) once `Sforce-Limit-Info` api-usage reaches this share of the
                        daily quota (default 0.9)
Credentials: client_id + client_secret + refresh_token (OAuth refresh-token flow; the access token and
instance_url are saved through `on_credentials_change`), or `token` / `access_token` (+ `instance_url`).

How one SObject is synced (its cursor lives under its name in the object type's cursor):
- A pass reads `SELECT ... FROM T WHERE SystemModstamp > <watermark - lookback> ORDER BY SystemModstamp, Id`
  through `queryAll`, so rows deleted since (IsDeleted = true) come in the same pages and become soft deletes.
  The first pass (no watermark) reads live rows only (`query`; `queryAll ... IsDeleted = false` for Task and
  Event so archived activities are kept). Each committed page saves the (SystemModstamp, Id) of its last row;
  a crashed pass resumes with `SystemModstamp >= <that second>` and skips what it already committed. An
  expired query cursor (INVALID_QUERY_LOCATOR) is replaced the same way, within the run.
- Contacts, deals and activities passes read only rows stamped up to the server time at which the run
  began (companies are read to the end): a contact created during the run waits for the next run, together
  with the account it may point at, instead of being rejected for an unknown parent.
- After an incremental pass the `sobjects/T/deleted` feed (<= 15 days back) reports hard deletes. When the
  last check is older than that, the feed says its data starts later, or the run is a full sync, a full
  `SELECT Id` of every SObject of the type gives the engine a complete id set to reconcile against.
"""

from __future__ import annotations

import copy
import datetime as dt
import re
import time
from collections.abc import Callable, Iterator, Mapping
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
from crm_connectors.http import BearerTokenAuth, CRMHttpClient, CRMHttpError, OAuth2RefreshAuth
from crm_connectors.registry import register
from crm_connectors.salesforce import mapping
from crm_connectors.salesforce import webhook as salesforce_webhook
from crm_connectors.salesforce import writeback as salesforce_writeback
from crm_connectors.salesforce.client import SalesforceApi, error_code, soql_datetime

DEFAULT_LOGIN_URL = "https://login.salesforce.com"
DEFAULT_API_VERSION = "61.0"
DEFAULT_LOOKBACK_SECONDS = 300
DEFAULT_QUOTA_STOP_FRACTION = 0.9
# The deleted feed keeps 15 days; a check this far back or more is replaced by an id reconciliation.
DELETED_FEED_WINDOW = dt.timedelta(days=15) - dt.timedelta(hours=1)
# Task and Event rows are archived after a year; only queryAll returns archived rows.
ARCHIVABLE = frozenset({"Task", "Event"})
MAX_QUERY_RESTARTS = 3  # per pass, after INVALID_QUERY_LOCATOR
HISTORY_IDS_PER_QUERY = 200  # opportunity ids per OpportunityHistory query (keeps the SOQL short)
RECONCILE = "reconcile"  # cursor flag: a complete id set is owed for this object type
_SALESFORCE_ID = re.compile(r"[a-zA-Z0-9]{15}([a-zA-Z0-9]{3})?")  # also keeps ids safe to quote in SOQL


@register
class SalesforceConnector(Connector):
    name = "salesforce"
    label = "Salesforce"
    features = frozenset({"writeback", "webhooks", "records_fetch", "reconcile", "deal_pipelines", "deal_history"})
    webhook = salesforce_webhook
    # Hosts called without CRM_ALLOWED_HOSTS: login servers and org instances (<org>.my.salesforce.com).
    api_hosts = ("login.salesforce.com", "test.salesforce.com", ".salesforce.com", ".force.com", ".cloudforce.com")
    settings_schema: ClassVar[dict[str, Any]] = {
        "type": "object",
        "properties": {
            "base_url": {"type": "string", "minLength": 1},
            "api_version": {"type": "string", "pattern": r"^\d+\.\d$"},
            "page_size": {"type": "integer", "minimum": 200, "maximum": 2000},
            "lookback_seconds": {"type": "integer", "minimum": 0},
            "quota_stop_fraction": {"type": "number", "exclusiveMinimum": 0, "maximum": 1},
            "score_property": {"type": "string", "pattern": r"^\w+$"},
            "churn_property": {"type": "string", "pattern": r"^\w+$"},  # an Account field
            "win_probability_property": {"type": "string", "pattern": r"^\w+$"},  # Opportunity fields
            "expected_close_property": {"type": "string", "pattern": r"^\w+$"},
            "organization_id": {"type": "string", "pattern": r"^00D\w{12}(\w{3})?$"},  # checked on Outbound Messages
        },
        "additionalProperties": False,
    }
    # How the HTTP client waits between retries; tests swap it for a no-op.
    sleep: ClassVar[Callable[[float], None]] = staticmethod(time.sleep)

    def __init__(self, *, config: Mapping[str, Any], credentials: Mapping[str, Any]) -> None:
        super().__init__(config=config, credentials=credentials)
        self._api: SalesforceApi | None = None
        self._http: CRMHttpClient | None = None
        self._instance_url = ""
        self._shapes: dict[str, mapping.SObjectShape] = {}
        self._run_started: dt.datetime | None = None  # server time when this run's first pass began

    def check_credentials(self) -> None:
        """OAuth client id + secret + refresh token, or an access token (checked without calling Salesforce)."""
        self._auth()

    def close(self) -> None:
        if self._http is not None:
            self._http.close()
            self._http = self._api = None

    # --- writeback --------------------------------------------------------------------------------------

    def write_scores(self, *, updates: list[ScoreUpdate]) -> list[WriteResult]:
        """Lead scores into `score_property` of Lead (00Q) and Contact (003) records, churn risk into
        `churn_property` of Accounts (001); the fields must exist."""
        api = self._api_get()
        results: list[WriteResult] = []
        for object_type, value_key, field, sobjects in (
            (
                "contacts",
                "lead_score",
                self.config.get("score_property") or salesforce_writeback.DEFAULT_SCORE_FIELD,
                salesforce_writeback.SOBJECT_BY_PREFIX,
            ),
            (
                "companies",
                "churn_risk",
                self.config.get("churn_property") or salesforce_writeback.DEFAULT_CHURN_FIELD,
                salesforce_writeback.ACCOUNT_BY_PREFIX,
            ),
        ):
            batch = [update for update in updates if update.object_type == object_type]
            if batch:
                results.extend(
                    salesforce_writeback.scores_write(
                        api,
                        updates=batch,
                        value_key=value_key,
                        field=str(field),
                        describe=api.describe,
                        sobject_by_prefix=sobjects,
                    )
                )
        deals = [update for update in updates if update.object_type == "deals"]
        if deals:
            results.extend(
                salesforce_writeback.deal_scores_write(
                    api,
                    updates=deals,
                    win_field=str(
                        self.config.get("win_probability_property") or salesforce_writeback.DEFAULT_WIN_FIELD
                    ),
                    close_field=str(
                        self.config.get("expected_close_property") or salesforce_writeback.DEFAULT_CLOSE_FIELD
                    ),
                    describe=api.describe,
                )
            )
        return results

    # --- deals: stages and history --------------------------------------------------------------------------

    def pipeline_stages(self) -> list[StageInfo]:
        rows = [row for page in self._api_get().query_pages(mapping.STAGE_SOQL, include_deleted=False) for row in page]
        return [StageInfo(*stage) for stage in mapping.opportunity_stages(rows)]

    def deal_history_fetch(self, *, external_ids: list[str]) -> dict[str, list[FieldValue]]:
        """OpportunityHistory rows of these opportunities (SOQL, 200 ids per query); the stage gives the status."""
        closed = {s.stage: ("won" if s.is_won else "lost") for s in self.pipeline_stages() if s.is_closed}
        ids = [i for i in external_ids if _SALESFORCE_ID.fullmatch(i)]
        found: dict[str, list[FieldValue]] = {}
        for start in range(0, len(ids), HISTORY_IDS_PER_QUERY):
            quoted = ", ".join(f"'{i}'" for i in ids[start : start + HISTORY_IDS_PER_QUERY])
            soql = (
                f"SELECT {mapping.HISTORY_FIELDS} FROM OpportunityHistory "
                f"WHERE OpportunityId IN ({quoted}) ORDER BY OpportunityId, CreatedDate"
            )
            for page in self._api_get().query_pages(soql, include_deleted=False):
                for row in page:
                    opportunity = row.get("OpportunityId")
                    if not isinstance(opportunity, str):
                        continue
                    values = found.setdefault(opportunity, [])
                    for field, value, when in mapping.history_values(row):
                        values.append(FieldValue(field, value, when))
                        if field == "stage":
                            values.append(FieldValue("status", closed.get(value, "open") if value else "", when))
        return found

    # --- sync -------------------------------------------------------------------------------------------

    def iter_changes(self, *, object_type: str, cursor: Mapping[str, Any], full: bool) -> Iterator[ChangePage]:
        sobjects = mapping.SOBJECTS.get(object_type)
        if not sobjects:
            return
        state: dict[str, Any] = {RECONCILE: True} if full else copy.deepcopy(dict(cursor))
        api = self._api_get()
        shapes = [self._shape(sobject) for sobject in sobjects]
        if self._run_started is None:
            self._run_started = api.server_now()
        # Parents (companies) are read to the end; children up to the run's start (see the module docstring).
        bound = None if object_type == "companies" else self._run_started
        for shape in shapes:
            yield from self._sobject_pass(object_type, shape, state, bound)
        if state.get(RECONCILE):
            yield from self._reconcile(object_type, shapes, state)

    def _sobject_pass(
        self, object_type: str, shape: mapping.SObjectShape, state: dict[str, Any], bound: dt.datetime | None
    ) -> Iterator[ChangePage]:
        api = self._api_get()
        sub = state.setdefault(shape.sobject, {})
        current = sub.get("pass")
        if current is None:
            watermark = _parse(sub.get("watermark"))
            lookback = dt.timedelta(seconds=int(self.config.get("lookback_seconds", DEFAULT_LOOKBACK_SECONDS)))
            current = sub["pass"] = {
                "from": _iso(watermark - lookback) if watermark else None,
                "started": _iso(api.server_now()),
            }
        incremental = current["from"] is not None
        last_key = _key_of(current.get("at"))

        restarts = 0
        while True:
            soql, include_deleted = _pass_query(
                shape, incremental=incremental, current=current, after=last_key, bound=bound
            )
            try:
                for batch in api.query_pages(soql, include_deleted=include_deleted):
                    page, last_key = _batch_page(object_type, shape, batch, after=last_key)
                    if last_key is not None:
                        current["at"] = [_iso(last_key[0]), last_key[1]]
                    page.cursor = copy.deepcopy(state)
                    yield page
            except CRMHttpError as exc:
                # A query cursor expires when idle too long or when the user opens too many: query again
                # from the last committed position instead of failing the run.
                if error_code(exc.body) != "INVALID_QUERY_LOCATOR" or restarts >= MAX_QUERY_RESTARTS:
                    raise
                restarts += 1
                continue
            break

        # The pass is complete: everything up to the bound (or to the pass start, read to the end) is in.
        started = _parse(current["started"])
        reached = _key_of(current.get("at"))
        if bound is not None:
            watermark = bound
        else:
            watermark = max(started, reached[0]) if reached else started
        final = ChangePage(object_type)
        if incremental:
            final.deleted_external_ids, deletes_until = self._hard_deletes(shape.sobject, sub, current, state)
        else:
            deletes_until = started
        sub.pop("pass")
        sub["watermark"] = _iso(watermark)
        if deletes_until is not None:
            sub["deletes_until"] = _iso(deletes_until)
        final.cursor = copy.deepcopy(state)
        yield final

    def _hard_deletes(
        self, sobject: str, sub: dict[str, Any], current: dict[str, Any], state: dict[str, Any]
    ) -> tuple[list[str], dt.datetime | None]:
        """Ids from the deleted feed since the last check, and how far the check reached.

        Asks for a reconciliation (and returns no new check time) when the feed cannot cover the gap.
        """
        api = self._api_get()
        end = _parse(current["started"])
        since = _parse(sub.get("deletes_until")) or _parse(current["from"])
        # The feed ignores seconds and needs start < end: start on a whole minute, at least a minute before end.
        start = min(since, end - dt.timedelta(minutes=1)).replace(second=0, microsecond=0)
        if api.server_now() - start > DELETED_FEED_WINDOW:
            state[RECONCILE] = True
            return [], None
        try:
            body = api.deleted(sobject, start=start, end=end)
        except CRMHttpError as exc:
            if error_code(exc.body) == "INVALID_REPLICATION_DATE":  # older than the org keeps
                state[RECONCILE] = True
                return [], None
            raise
        ids = [str(row["id"]) for row in body.get("deletedRecords") or [] if isinstance(row, dict) and row.get("id")]
        earliest = _parse(body.get("earliestDateAvailable"))
        if earliest is not None and earliest > start:
            state[RECONCILE] = True  # the recycle bin was emptied: deletes before `earliest` are lost
            return ids, None
        return ids, _parse(body.get("latestDateCovered")) or end

    def _reconcile(
        self, object_type: str, shapes: list[mapping.SObjectShape], state: dict[str, Any]
    ) -> Iterator[ChangePage]:
        """Every live id of the object type's SObjects, page by page, for the engine to soft-delete the rest.

        The pages carry no cursor: until the last one, a crash leaves the reconciliation owed (and re-run)."""
        api = self._api_get()
        started = api.server_now()
        for shape in shapes:
            archivable = shape.sobject in ARCHIVABLE
            where = " WHERE IsDeleted = false" if archivable else ""
            soql = f"SELECT Id FROM {shape.sobject}{where} ORDER BY Id"
            for batch in api.query_pages(soql, include_deleted=archivable):
                yield ChangePage(object_type, listed_external_ids=[str(raw["Id"]) for raw in batch if raw.get("Id")])
            state.setdefault(shape.sobject, {})["deletes_until"] = _iso(started)
        state.pop(RECONCILE, None)
        yield ChangePage(object_type, listing_complete=True, cursor=copy.deepcopy(state))

    def _shape(self, sobject: str) -> mapping.SObjectShape:
        shape = self._shapes.get(sobject)
        if shape is None:
            try:
                shape = mapping.shape_from_describe(sobject, self._api_get().describe(sobject))
            except mapping.MappingError as exc:
                raise ConnectorError(f"Salesforce {exc}") from None
            self._shapes[sobject] = shape
        return shape

    # --- HTTP and credentials ---------------------------------------------------------------------------

    def _api_get(self) -> SalesforceApi:
        if self._api is None:
            auth = self._auth()
            self._instance_url = str(self.credentials.get("instance_url") or "")
            if not self._instance_url:
                if isinstance(auth, OAuth2RefreshAuth):
                    auth.refresh()  # the token response names the instance to call
                self._instance_url = self._instance_url or self._login_url()
            api_holder: list[SalesforceApi] = []
            self._http = CRMHttpClient(
                vendor_hosts=self.api_hosts,
                base_url=self._instance_url,
                auth=auth,
                sleep=type(self).sleep,
                on_response=lambda response: api_holder[0].response_seen(response),
            )
            self._api = SalesforceApi(
                http=self._http,
                instance_url=lambda: self._instance_url,
                api_version=str(self.config.get("api_version") or DEFAULT_API_VERSION),
                page_size=self.config.get("page_size"),
                quota_stop_fraction=float(self.config.get("quota_stop_fraction") or DEFAULT_QUOTA_STOP_FRACTION),
            )
            api_holder.append(self._api)
        return self._api

    def _login_url(self) -> str:
        return str(
            self.config.get("base_url") or getattr(settings, "SALESFORCE_LOGIN_URL", "") or DEFAULT_LOGIN_URL
        ).rstrip("/")

    def _auth(self) -> BearerTokenAuth | OAuth2RefreshAuth:
        credentials = self.credentials
        oauth = [credentials.get(key) for key in ("client_id", "client_secret", "refresh_token")]
        if all(oauth):
            client_id, client_secret, refresh_token = (str(value) for value in oauth)
            return OAuth2RefreshAuth(
                vendor_hosts=self.api_hosts,
                token_url=f"{self._login_url()}/services/oauth2/token",
                client_id=client_id,
                client_secret=client_secret,
                refresh_token=refresh_token,
                access_token=credentials.get("access_token"),
                expires_at=credentials.get("expires_at"),
                on_tokens=self._tokens_store,
            )
        token = credentials.get("token") or credentials.get("access_token")
        if token:
            return BearerTokenAuth(str(token))
        raise ConnectorError("Salesforce needs OAuth client_id, client_secret and refresh_token, or an access token")

    def _tokens_store(self, tokens: dict[str, Any]) -> None:
        kept = ("access_token", "refresh_token", "expires_at", "instance_url", "issued_at")
        self.credentials.update({key: tokens[key] for key in kept if tokens.get(key) is not None})
        if tokens.get("instance_url"):
            self._instance_url = str(tokens["instance_url"]).rstrip("/")
        if self.on_credentials_change is not None:
            self.on_credentials_change(dict(self.credentials))

    # --- webhook follow-up reads ------------------------------------------------------------------------

    def records_fetch(self, *, object_type: str, external_ids: list[str]) -> ChangePage:
        """Re-read records by id (an Outbound Message carries only the fields its admin picked). One query
        per id and SObject of the object type; ids found in none are deleted (or in the recycle bin)."""
        page = ChangePage(object_type)
        remaining = [record_id for record_id in dict.fromkeys(external_ids) if _SALESFORCE_ID.fullmatch(record_id)]
        page.errors.extend(
            RecordError(object_type, "not a Salesforce id", column="Id", external_id=record_id)
            for record_id in dict.fromkeys(external_ids)
            if not _SALESFORCE_ID.fullmatch(record_id)
        )
        api = self._api_get()
        for sobject in mapping.SOBJECTS.get(object_type, ()):
            shape = self._shape(sobject)
            for record_id in list(remaining):
                soql = f"SELECT {', '.join(shape.fields)} FROM {sobject} WHERE Id = '{record_id}'"
                for batch in api.query_pages(soql, include_deleted=False):
                    for raw in batch:
                        if record_id in remaining:
                            remaining.remove(record_id)
                        try:
                            page.records.append(mapping.record_map(shape, raw))
                        except mapping.MappingError as exc:
                            page.errors.append(_record_error(object_type, raw, exc.field, exc.reason))
        page.deleted_external_ids.extend(remaining)
        return page


def _batch_page(
    object_type: str, shape: mapping.SObjectShape, batch: list[dict[str, Any]], *, after: tuple[dt.datetime, str] | None
) -> tuple[ChangePage, tuple[dt.datetime, str] | None]:
    """One query batch as a page (live rows mapped, deleted rows as ids), and the position it reached."""
    page = ChangePage(object_type)
    for raw in batch:
        key = _record_key(raw)
        if key is None:
            page.errors.append(_record_error(object_type, raw, "SystemModstamp", "missing or not a date-time"))
            continue
        if after is not None and key <= after:
            continue  # committed before the crash (or the query restart) this query resumes from
        after = key
        if raw.get("IsDeleted") is True:
            page.deleted_external_ids.append(key[1])
            continue
        try:
            page.records.append(mapping.record_map(shape, raw))
        except mapping.MappingError as exc:
            page.errors.append(_record_error(object_type, raw, exc.field, exc.reason))
    return page, after


def _pass_query(
    shape: mapping.SObjectShape,
    *,
    incremental: bool,
    current: dict[str, Any],
    after: tuple[dt.datetime, str] | None,
    bound: dt.datetime | None,
) -> tuple[str, bool]:
    """The SOQL of a pass (from `after`, its resume position, when set) and whether it needs queryAll."""
    fields = list(shape.fields)
    conditions = []
    if after is not None:
        # SOQL literals have whole seconds: start at the second of the position and skip what came before it.
        conditions.append(f"SystemModstamp >= {soql_datetime(after[0])}")
    elif incremental:
        conditions.append(f"SystemModstamp > {soql_datetime(_parse(current['from']))}")
    if bound is not None:
        conditions.append(f"SystemModstamp <= {soql_datetime(bound)}")
    if incremental:
        fields.append("IsDeleted")  # deleted rows come through queryAll in the same pages
    elif shape.sobject in ARCHIVABLE:
        conditions.append("IsDeleted = false")  # queryAll only for the archived rows
    soql = f"SELECT {', '.join(fields)} FROM {shape.sobject}"
    if conditions:
        soql += " WHERE " + " AND ".join(conditions)
    return soql + " ORDER BY SystemModstamp, Id", incremental or shape.sobject in ARCHIVABLE


def _record_error(object_type: str, raw: Mapping[str, Any], field: str, reason: str) -> RecordError:
    record_id = raw.get("Id")
    return RecordError(object_type, reason, column=field, external_id=record_id if isinstance(record_id, str) else None)


def _record_key(raw: Mapping[str, Any]) -> tuple[dt.datetime, str] | None:
    stamp, record_id = raw.get("SystemModstamp"), raw.get("Id")
    if type(stamp) is not str or type(record_id) is not str:
        return None
    parsed = mapping.parse_datetime(stamp)
    return (parsed, record_id) if parsed else None


def _key_of(saved: Any) -> tuple[dt.datetime, str] | None:
    if not saved:
        return None
    return _parse(saved[0]), str(saved[1])


def _iso(value: dt.datetime) -> str:
    return value.astimezone(dt.UTC).isoformat()


def _parse(value: Any) -> dt.datetime | None:
    return mapping.parse_datetime(value) if isinstance(value, str) and value else None
