"""Writing scores into a Pipedrive person custom field.

Pipedrive has no batch update for persons: each score is one `PATCH /api/v2/persons/{id}` (x-token-cost 5)
drawn from the connection's token budget, so writeback and sync share one allowance. The custom field is
found by its key (config `score_property`), else by its name, else created (`POST /v1/personFields`,
field type double) when allowed; its key is then kept in the connection's config.
"""

from __future__ import annotations

from collections.abc import MutableMapping
from typing import Any

from crm_connectors.base import ConnectorError, ScoreUpdate, WriteResult
from crm_connectors.http import CRMHttpError, QuotaExhausted
from crm_connectors.pipedrive.client import PipedriveApi

DEFAULT_FIELD_NAME = "SalesAI lead score"
# x-token-cost of each operation in Pipedrive's OpenAPI files.
PERSON_UPDATE_COST = 5  # PATCH /api/v2/persons/{id}
FIELD_CREATE_COST = 10  # POST /v1/personFields
RECORD_REJECTED = frozenset({400, 404, 410, 422})


def score_field_key(api: PipedriveApi, *, config: MutableMapping[str, Any]) -> str:
    """The key of the score field, found or created; a new key is stored in `config["score_property"]`."""
    key = config.get("score_property")
    if key:
        return str(key)
    name = str(config.get("score_field_name") or DEFAULT_FIELD_NAME)
    for definition in api.v2_all("/api/v2/personFields"):
        if definition.get("field_name") == name and definition.get("field_code"):
            if definition.get("field_type") not in ("double", "monetary", None):
                raise ConnectorError(
                    f"Pipedrive person field {name!r} is a {definition.get('field_type')} field, not a number"
                )
            config["score_property"] = str(definition["field_code"])
            return config["score_property"]
    if config.get("create_score_property", True) is False:
        raise ConnectorError(f"Pipedrive has no person field {name!r} and creating it is turned off")
    body = api.http.post_json("/v1/personFields", json={"name": name, "field_type": "double"}, cost=FIELD_CREATE_COST)
    data = body.get("data") if isinstance(body, dict) else None
    if not isinstance(data, dict) or not data.get("key"):
        raise ConnectorError("Pipedrive created the score field but did not say its key")
    config["score_property"] = str(data["key"])
    return config["score_property"]


def scores_write(api: PipedriveApi, *, updates: list[ScoreUpdate], value_key: str, key: str) -> list[WriteResult]:
    results: list[WriteResult] = []
    for position, update in enumerate(updates):
        try:
            response = api.http.request(
                "PATCH",
                f"/api/v2/persons/{update.external_id}",
                json={"custom_fields": {key: update.values[value_key]}},
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
