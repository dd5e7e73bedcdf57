"""Writing scores into a HubSpot property: lead scores on contacts, churn risk on companies (CONTRACT.md
§4.2, §4.3, §6.4).

The property is created (type number) when it is missing and the connection allows it; values go out
through `batch/update` in batches of 100, and a 207 multi-status answer is split into per-record outcomes.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from crm_connectors.base import EXPECTED_CLOSE, WIN_PROBABILITY, ConnectorError, ScoreUpdate, WriteResult
from crm_connectors.http import CRMHttpClient, CRMHttpError

DEFAULT_SCORE_PROPERTY = "salesai_lead_score"
DEFAULT_CHURN_PROPERTY = "salesai_churn_risk"
BATCH_SIZE = 100  # HubSpot's batch input cap
# Per object type: a property group that exists in every portal, the singular for messages.
PROPERTY_GROUPS = {"contacts": "contactinformation", "companies": "companyinformation"}
SINGULAR = {"contacts": "contact", "companies": "company"}
# What each property holds, for its label and description in HubSpot.
PROPERTY_MEANING = {"contacts": "lead score", "companies": "churn risk"}
# A whole batch refused for its content (not auth or availability): its records fail, the next batches go on.
BATCH_REJECTED = frozenset({400, 404, 409, 422})


def score_property_ensure(http: CRMHttpClient, *, name: str, create: bool, object_type: str = "contacts") -> None:
    """Make sure `object_type` records have the number property `name`, creating it when allowed."""
    singular, meaning = SINGULAR[object_type], PROPERTY_MEANING[object_type]
    try:
        definition = http.get_json(f"/crm/v3/properties/{object_type}/{name}")
    except CRMHttpError as exc:
        if exc.status != 404:
            raise
        definition = None
    if definition is not None:
        if definition.get("type") != "number":
            raise ConnectorError(
                f"HubSpot {singular} property {name!r} has type {definition.get('type')!r}; "
                f"the {meaning} needs a number property"
            )
        return
    if not create:
        raise ConnectorError(f"HubSpot {singular} property {name!r} does not exist and creating it is turned off")
    try:
        http.request(
            "POST",
            f"/crm/v3/properties/{object_type}",
            json={
                "name": name,
                "label": f"SalesAI {meaning}",
                "type": "number",
                "fieldType": "number",
                "groupName": PROPERTY_GROUPS[object_type],
                "description": f"0-100 {meaning} written by SalesAI",
                "formField": False,
                "numberDisplayHint": "unformatted",
            },
        )
    except CRMHttpError as exc:
        if exc.status != 409:  # created meanwhile by someone else: fine
            raise


def scores_write(
    http: CRMHttpClient, *, updates: list[ScoreUpdate], value_key: str, name: str, object_type: str = "contacts"
) -> list[WriteResult]:
    results: list[WriteResult] = []
    for start in range(0, len(updates), BATCH_SIZE):
        batch = updates[start : start + BATCH_SIZE]
        results.extend(_batch_write(http, batch, value_key=value_key, name=name, object_type=object_type))
    return results


def _batch_write(
    http: CRMHttpClient, batch: list[ScoreUpdate], *, value_key: str, name: str, object_type: str
) -> list[WriteResult]:
    inputs = [
        {
            "id": update.external_id,
            "objectWriteTraceId": update.external_id,
            "properties": {name: str(update.values[value_key])},
        }
        for update in batch
    ]
    return _batch_post(http, batch, inputs=inputs, object_type=object_type)


def _batch_post(
    http: CRMHttpClient, batch: list[ScoreUpdate], *, inputs: list[dict[str, Any]], object_type: str
) -> list[WriteResult]:
    try:
        response = http.request("POST", f"/crm/v3/objects/{object_type}/batch/update", json={"inputs": inputs})
    except CRMHttpError as exc:
        if exc.status not in BATCH_REJECTED:
            raise
        reason = f"HubSpot refused the batch ({exc.status}): {_message(exc.body)}"
        return [WriteResult(update.external_id, ok=False, error=reason) for update in batch]
    body = _json(response)
    succeeded = {str(item.get("id")) for item in body.get("results") or [] if isinstance(item, dict)}
    failed: dict[str, str] = {}
    for error in body.get("errors") or []:
        if not isinstance(error, dict):
            continue
        context = error.get("context") or {}
        ids = [*(context.get("ids") or []), *(context.get("objectWriteTraceId") or []), *(context.get("id") or [])]
        for record_id in ids:
            failed[str(record_id)] = f"{error.get('category', 'error')}: {error.get('message', '')}".strip()
    results = []
    for update in batch:
        record_id = update.external_id
        if record_id in failed:
            results.append(WriteResult(record_id, ok=False, error=failed[record_id]))
        elif record_id in succeeded:
            results.append(WriteResult(record_id, ok=True))
        else:
            results.append(WriteResult(record_id, ok=False, error="HubSpot reported no outcome for this record"))
    return results


# --- deals: win probability (number) and expected close (date) --------------------------------------------

DEFAULT_WIN_PROPERTY = "salesai_win_probability"
DEFAULT_CLOSE_PROPERTY = "salesai_expected_close"


@dataclass(frozen=True)
class DealProperties:
    win_probability: str
    expected_close: str


def deal_properties_ensure(http: CRMHttpClient, *, names: DealProperties, create: bool) -> None:
    """Both deal properties exist with the right type, created (in the deal information group) when allowed."""
    for name, kind, field_type, label in (
        (names.win_probability, "number", "number", "SalesAI win probability"),
        (names.expected_close, "date", "date", "SalesAI expected close"),
    ):
        try:
            definition = http.get_json(f"/crm/v3/properties/deals/{name}")
        except CRMHttpError as exc:
            if exc.status != 404:
                raise
            definition = None
        if definition is not None:
            if definition.get("type") != kind:
                raise ConnectorError(
                    f"HubSpot deal property {name!r} has type {definition.get('type')!r}; {label} needs a {kind}"
                )
            continue
        if not create:
            raise ConnectorError(f"HubSpot deal property {name!r} does not exist and creating it is turned off")
        try:
            http.request(
                "POST",
                "/crm/v3/properties/deals",
                json={
                    "name": name,
                    "label": label,
                    "type": kind,
                    "fieldType": field_type,
                    "groupName": "dealinformation",
                    "description": f"{label}, written by SalesAI",
                    "formField": False,
                },
            )
        except CRMHttpError as exc:
            if exc.status != 409:
                raise


def deal_scores_write(http: CRMHttpClient, *, updates: list[ScoreUpdate], names: DealProperties) -> list[WriteResult]:
    """Win probability (0-100) and expected close (YYYY-MM-DD, "" clears it) into deals, 100 per batch."""
    results: list[WriteResult] = []
    for start in range(0, len(updates), BATCH_SIZE):
        batch = updates[start : start + BATCH_SIZE]
        inputs = [
            {
                "id": update.external_id,
                "objectWriteTraceId": update.external_id,
                "properties": {
                    names.win_probability: str(update.values[WIN_PROBABILITY]),
                    names.expected_close: update.values.get(EXPECTED_CLOSE) or "",
                },
            }
            for update in batch
        ]
        results.extend(_batch_post(http, batch, inputs=inputs, object_type="deals"))
    return results


def _json(response: Any) -> dict[str, Any]:
    try:
        body = response.json()
    except ValueError:
        raise CRMHttpError(
            "HubSpot batch update answered with something that is not JSON", status=response.status_code
        ) from None
    return body if isinstance(body, dict) else {}


def _message(body: Any) -> str:
    if isinstance(body, dict):
        return str(body.get("message") or body.get("category") or body)[:300]
    return str(body)[:300]
