"""Writing scores into Pipedrive custom fields: lead scores on persons, churn risk on organizations, win probability
and expected close on deals (`PATCH /api/v2/deals/{id}`, fields from `/v1/dealFields`).

Pipedrive has no batch update for persons or organizations: each value is one `PATCH /api/v2/persons/{id}`
or `PATCH /api/v2/organizations/{id}` (x-token-cost 5) drawn from the connection's token budget, so
writeback and sync share one allowance. The custom field is found by its key (config `score_property` /
`churn_property`), else by its name, else created (`POST /v1/personFields` / `/v1/organizationFields`,
field type double) when allowed; its key is then kept in the connection's config.
"""

from __future__ import annotations

from collections.abc import Callable, MutableMapping
from dataclasses import dataclass
from typing import Any

from crm_connectors.base import EXPECTED_CLOSE, WIN_PROBABILITY, ConnectorError, ScoreUpdate, WriteResult
from crm_connectors.http import CRMHttpError, QuotaExhausted
from crm_connectors.pipedrive.client import PipedriveApi

DEFAULT_FIELD_NAME = "SalesAI lead score"
DEFAULT_CHURN_FIELD_NAME = "SalesAI churn risk"
# x-token-cost of each operation in Pipedrive's OpenAPI files.
PERSON_UPDATE_COST = 5  # PATCH /api/v2/persons/{id}, also PATCH /api/v2/organizations/{id}
FIELD_CREATE_COST = 10  # POST /v1/personFields, also POST /v1/organizationFields
RECORD_REJECTED = frozenset({400, 404, 410, 422})


@dataclass(frozen=True)
class FieldTarget:
    """Where one kind of score goes: the Pipedrive entity and the config keys naming its custom field."""

    entity: str  # persons / organizations: the v2 record path
    fields: str  # personFields / organizationFields
    key_setting: str  # config key holding the field's key
    name_setting: str  # config key holding the field's name
    default_name: str
    field_type: str = "double"  # what a created field is; a found one must be compatible


PERSON_SCORE = FieldTarget("persons", "personFields", "score_property", "score_field_name", DEFAULT_FIELD_NAME)
ORGANIZATION_CHURN = FieldTarget(
    "organizations", "organizationFields", "churn_property", "churn_field_name", DEFAULT_CHURN_FIELD_NAME
)
DEAL_WIN = FieldTarget(
    "deals", "dealFields", "win_probability_property", "win_probability_field_name", "SalesAI win probability"
)
DEAL_CLOSE = FieldTarget(
    "deals", "dealFields", "expected_close_property", "expected_close_field_name", "SalesAI expected close", "date"
)
_COMPATIBLE = {"double": ("double", "monetary", None), "date": ("date", None)}


def score_field_key(api: PipedriveApi, *, config: MutableMapping[str, Any], target: FieldTarget = PERSON_SCORE) -> str:
    """The key of the target's field, found or created; a new key is stored in `config[target.key_setting]`."""
    key = config.get(target.key_setting)
    if key:
        return str(key)
    singular = target.entity.removesuffix("s")
    name = str(config.get(target.name_setting) or target.default_name)
    for definition in api.v2_all(f"/api/v2/{target.fields}"):
        if definition.get("field_name") == name and definition.get("field_code"):
            if definition.get("field_type") not in _COMPATIBLE[target.field_type]:
                wanted = "a number" if target.field_type == "double" else f"a {target.field_type}"
                raise ConnectorError(
                    f"Pipedrive {singular} field {name!r} is a {definition.get('field_type')} field, not {wanted}"
                )
            config[target.key_setting] = str(definition["field_code"])
            return config[target.key_setting]
    if config.get("create_score_property", True) is False:
        raise ConnectorError(f"Pipedrive has no {singular} field {name!r} and creating it is turned off")
    body = api.http.post_json(
        f"/v1/{target.fields}", json={"name": name, "field_type": target.field_type}, cost=FIELD_CREATE_COST
    )
    data = body.get("data") if isinstance(body, dict) else None
    if not isinstance(data, dict) or not data.get("key"):
        raise ConnectorError(f"Pipedrive created the {singular} field {name!r} but did not say its key")
    config[target.key_setting] = str(data["key"])
    return config[target.key_setting]


def scores_write(
    api: PipedriveApi, *, updates: list[ScoreUpdate], value_key: str, key: str, entity: str = "persons"
) -> list[WriteResult]:
    return _records_patch(api, updates=updates, entity=entity, custom_of=lambda u: {key: u.values[value_key]})


def deal_scores_write(
    api: PipedriveApi, *, updates: list[ScoreUpdate], win_key: str, close_key: str
) -> list[WriteResult]:
    """Win probability (0-100) and expected close (YYYY-MM-DD or null) into two deal custom fields."""
    return _records_patch(
        api,
        updates=updates,
        entity="deals",
        custom_of=lambda u: {win_key: u.values[WIN_PROBABILITY], close_key: u.values.get(EXPECTED_CLOSE)},
    )


def _records_patch(
    api: PipedriveApi, *, updates: list[ScoreUpdate], entity: str, custom_of: Callable[[ScoreUpdate], dict[str, Any]]
) -> list[WriteResult]:
    results: list[WriteResult] = []
    for position, update in enumerate(updates):
        try:
            response = api.http.request(
                "PATCH",
                f"/api/v2/{entity}/{update.external_id}",
                json={"custom_fields": custom_of(update)},
                cost=PERSON_UPDATE_COST,
            )
        except QuotaExhausted as exc:
            # Out of tokens for today: the rest waits for the next run instead of burning the users' quota.
            reason = f"Pipedrive token budget used up ({exc}); retried on the next run"
            results.extend(WriteResult(u.external_id, ok=False, error=reason) for u in updates[position:])
            return results
        except CRMHttpError as exc:
            if exc.status not in RECORD_REJECTED:
                raise
            results.append(
                WriteResult(update.external_id, ok=False, error=f"Pipedrive answered {exc.status}: {_error(exc.body)}")
            )
            continue
        body = _json(response)
        if body.get("success") is False:
            results.append(WriteResult(update.external_id, ok=False, error=_error(body)))
        else:
            results.append(WriteResult(update.external_id, ok=True))
    return results


def _json(response: Any) -> dict[str, Any]:
    try:
        body = response.json()
    except ValueError:
        return {"success": False, "error": "answer is not JSON"}
    return body if isinstance(body, dict) else {}


def _error(body: Any) -> str:
    if isinstance(body, dict):
        return str(body.get("error") or body.get("error_info") or body)[:300]
    return str(body)[:300]
