"""One machine-readable error body for every API error: {"error": {"code", "message", "fields"?}}.

Services raise django's ValidationError; it is turned into the same 400 as a serializer error here, so
views never translate exceptions by hand.
"""

from collections.abc import Mapping
from typing import Any

from django.core.exceptions import NON_FIELD_ERRORS
from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import Http404
from rest_framework import exceptions
from rest_framework.response import Response
from rest_framework.serializers import as_serializer_error
from rest_framework.settings import api_settings
from rest_framework.views import exception_handler

INVALID_MESSAGE = "Some fields are invalid."


def _field_errors(detail: Any) -> dict[str, Any]:
    """Always a mapping of field name -> errors; errors not tied to a field go under `non_field_errors`."""
    if isinstance(detail, Mapping):
        non_field_key = api_settings.NON_FIELD_ERRORS_KEY
        return {(non_field_key if key == NON_FIELD_ERRORS else key): value for key, value in detail.items()}
    return {api_settings.NON_FIELD_ERRORS_KEY: detail if isinstance(detail, list) else [detail]}


def _validation_message(fields: dict[str, Any]) -> str:
    # A single error not tied to a field is the most useful headline; otherwise point at the fields.
    non_field = fields.get(api_settings.NON_FIELD_ERRORS_KEY)
    if len(fields) == 1 and isinstance(non_field, list) and len(non_field) == 1:
        return str(non_field[0])
    return INVALID_MESSAGE


def api_exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    """Wrap DRF's errors so clients branch on `code` and read per-field problems from `fields`."""
    if isinstance(exc, DjangoValidationError):
        exc = exceptions.ValidationError(detail=as_serializer_error(exc))
    elif isinstance(exc, Http404):
        exc = exceptions.NotFound()
    elif isinstance(exc, DjangoPermissionDenied):
        exc = exceptions.PermissionDenied(*exc.args)
    response = exception_handler(exc, context)
    if response is None:
        return None
    body: dict[str, Any]
    if isinstance(exc, exceptions.ValidationError):
        fields = _field_errors(response.data)
        body = {"code": "invalid", "message": _validation_message(fields), "fields": fields}
    elif isinstance(exc, exceptions.NotFound):
        body = {"code": "not_found", "message": "Not found."}
    else:
        detail = response.data.get("detail", "") if isinstance(response.data, Mapping) else response.data
        codes = exc.get_codes() if isinstance(exc, exceptions.APIException) else None
        code = codes if isinstance(codes, str) else getattr(exc, "default_code", "error")
        body = {"code": code, "message": str(detail)}
    response.data = {"error": body}
    return response
