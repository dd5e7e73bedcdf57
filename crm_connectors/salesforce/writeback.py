"""Writing scores into Salesforce fields: lead scores on Lead and Contact records, churn risk on Accounts, deal win
probability and expected close on Opportunities.

Salesforce ids say their object: `00Q` is a Lead, `003` a Contact, `001` an Account. Values go out through sObject
Collections (`PATCH composite/sobjects`, at most 200 records per call, `allOrNone: false`), whose answer
lists one result per record in request order. Custom fields are not created here (that needs the Metadata
API and an admin's say): a field missing from describe stops the writeback with an error saying so.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from crm_connectors.base import EXPECTED_CLOSE, WIN_PROBABILITY, ConnectorError, ScoreUpdate, WriteResult
from crm_connectors.salesforce.client import SalesforceApi

DEFAULT_SCORE_FIELD = "SalesAI_Lead_Score__c"
DEFAULT_CHURN_FIELD = "SalesAI_Churn_Risk__c"
BATCH_SIZE = 200  # sObject Collections' cap per call
SOBJECT_BY_PREFIX = {"00Q": "Lead", "003": "Contact"}  # where lead scores go
ACCOUNT_BY_PREFIX = {"001": "Account"}  # where churn risk goes
OPPORTUNITY_PREFIX = "006"  # where deal scores go
DEFAULT_WIN_FIELD = "SalesAI_Win_Probability__c"
DEFAULT_CLOSE_FIELD = "SalesAI_Expected_Close__c"


def scores_write(
    api: SalesforceApi,
    *,
    updates: list[ScoreUpdate],
    value_key: str,
    field: str,
    describe: Callable[[str], dict[str, Any]],
    sobject_by_prefix: dict[str, str] = SOBJECT_BY_PREFIX,
) -> list[WriteResult]:
    results: list[WriteResult] = []
    records: list[tuple[ScoreUpdate, str]] = []
    expected = " or ".join(f"{sobject} ({prefix})" for prefix, sobject in sobject_by_prefix.items())
    for update in updates:
        sobject = sobject_by_prefix.get(update.external_id[:3])
        if sobject is None:
            results.append(WriteResult(update.external_id, ok=False, error=f"not a Salesforce {expected} id"))
        else:
            records.append((update, sobject))
    for sobject in sorted({sobject for _, sobject in records}):
        _field_check(describe(sobject), sobject=sobject, field=field)
    for start in range(0, len(records), BATCH_SIZE):
        results.extend(
            _batch_write(api, records[start : start + BATCH_SIZE], fields_of=lambda u: {field: u.values[value_key]})
        )
    return results


def deal_scores_write(
    api: SalesforceApi,
    *,
    updates: list[ScoreUpdate],
    win_field: str,
    close_field: str,
    describe: Callable[[str], dict[str, Any]],
) -> list[WriteResult]:
    """Win probability (0-100) and expected close (a date, or null) into two Opportunity (006) fields."""
    results = [
        WriteResult(u.external_id, ok=False, error="not a Salesforce Opportunity (006) id")
        for u in updates
        if not u.external_id.startswith(OPPORTUNITY_PREFIX)
    ]
    records = [(u, "Opportunity") for u in updates if u.external_id.startswith(OPPORTUNITY_PREFIX)]
    if records:
        description = describe("Opportunity")
        _field_check(description, sobject="Opportunity", field=win_field, kind="Number(3, 0)")
        _field_check(description, sobject="Opportunity", field=close_field, kind="Date")
    for start in range(0, len(records), BATCH_SIZE):
        results.extend(
            _batch_write(
                api,
                records[start : start + BATCH_SIZE],
                fields_of=lambda u: {win_field: u.values[WIN_PROBABILITY], close_field: u.values.get(EXPECTED_CLOSE)},
            )
        )
    return results


def _field_check(description: dict[str, Any], *, sobject: str, field: str, kind: str = "Number(3, 0)") -> None:
    fields = {str(f.get("name")): f for f in description.get("fields") or [] if isinstance(f, dict)}
    found = fields.get(field)
    if found is None:
        raise ConnectorError(
            f"Salesforce {sobject} has no field {field}: create a {kind} custom field with that API name "
            f"on {sobject} (Setup > Object Manager), or set `{_setting(sobject)}` to an existing one; "
            "SalesAI does not create Salesforce fields"
        )
    if found.get("updateable") is False:
        raise ConnectorError(f"Salesforce {sobject}.{field} is not updateable by this user")


def _setting(sobject: str) -> str:
    if sobject == "Opportunity":
        return "win_probability_property` / `expected_close_property"
    return "churn_property" if sobject in ACCOUNT_BY_PREFIX.values() else "score_property"


def _batch_write(
    api: SalesforceApi, batch: list[tuple[ScoreUpdate, str]], *, fields_of: Callable[[ScoreUpdate], dict[str, Any]]
) -> list[WriteResult]:
    body = {
        "allOrNone": False,
        "records": [
            {"attributes": {"type": sobject}, "id": update.external_id, **fields_of(update)}
            for update, sobject in batch
        ],
    }
    answer = api.patch("composite/sobjects", json=body)
    if not isinstance(answer, list) or len(answer) != len(batch):
        raise ConnectorError("Salesforce composite/sobjects answered without one result per record")
    results = []
    for (update, _), outcome in zip(batch, answer, strict=True):
        if isinstance(outcome, dict) and outcome.get("success") is True:
            results.append(WriteResult(update.external_id, ok=True))
        else:
            results.append(WriteResult(update.external_id, ok=False, error=_errors_text(outcome)))
    return results


def _errors_text(outcome: Any) -> str:
    errors = outcome.get("errors") if isinstance(outcome, dict) else None
    if not errors:
        return "Salesforce did not accept the record"
    return "; ".join(f"{e.get('statusCode', 'ERROR')}: {e.get('message', '')}" for e in errors if isinstance(e, dict))
