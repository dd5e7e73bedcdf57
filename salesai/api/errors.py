"""One machine-readable error body for every API error."""

from typing import Any

from django.http import Http404
from rest_framework import exceptions
from rest_framework.response import Response
from rest_framework.views import exception_handler


def api_exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    """Wrap DRF's errors as {"error": {"code", "message", "fields"}} so clients branch on `code`."""
    response = exception_handler(exc, context)
    if response is None:
        return None
    if isinstance(exc, exceptions.ValidationError):
        code, message, fields = "invalid", "Some fields are invalid.", response.data
    elif isinstance(exc, Http404) or isinstance(exc, exceptions.NotFound):
        code, message, fields = "not_found", "Not found.", None
    elif isinstance(exc, exceptions.APIException):
        detail = exc.detail
        code = exc.get_codes() if isinstance(exc.get_codes(), str) else exc.default_code
        message, fields = (str(detail) if not isinstance(detail, (dict, list)) else exc.default_detail), None
    else:  # pragma: no cover - DRF only handles the above
        code, message, fields = "error", str(exc), None
    body: dict[str, Any] = {"code": code, "message": message}
    if fields is not None:
        body["fields"] = fields
    response.data = {"error": body}
    return response
