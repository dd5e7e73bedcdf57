"""The JSON parser at the API edge: size, depth and NUL limits, each a 4xx with a machine-readable code.

Without it a 5,000-deep body crashed the decoder (RecursionError) and a NUL in a config key reached
PostgreSQL's jsonb, which refuses it: both were 500s.
"""

import codecs
import json
from typing import Any

from django.conf import settings
from rest_framework import status
from rest_framework.exceptions import APIException, ParseError
from rest_framework.parsers import JSONParser

NUL = "\x00"


class PayloadTooLarge(APIException):
    status_code = status.HTTP_413_REQUEST_ENTITY_TOO_LARGE
    default_detail = "The request body is too large."
    default_code = "too_large"


class LimitedJSONParser(JSONParser):
    """DRF's strict JSON parser, refusing bodies over API_MAX_BODY_BYTES, nesting deeper than API_MAX_JSON_DEPTH
    and NUL characters in any key or string (PostgreSQL text and jsonb cannot hold them)."""

    def parse(self, stream: Any, media_type: str | None = None, parser_context: dict | None = None) -> Any:
        limit = settings.API_MAX_BODY_BYTES
        raw = stream.read(limit + 1)
        if len(raw) > limit:
            raise PayloadTooLarge(f"The request body is larger than {limit} bytes.")
        encoding = (parser_context or {}).get("encoding", settings.DEFAULT_CHARSET)
        try:
            text = codecs.decode(raw, encoding)
            data = json.loads(text, parse_constant=_refuse_constant)
        except RecursionError:
            raise _too_deep() from None
        except ValueError as exc:  # UnicodeDecodeError and JSONDecodeError are ValueErrors
            raise ParseError(f"JSON parse error - {exc}") from None
        _document_check(data, max_depth=settings.API_MAX_JSON_DEPTH)
        return data


def _refuse_constant(name: str) -> None:
    raise ValueError(f"{name} is not valid JSON")


def _too_deep() -> ParseError:
    return ParseError(f"The JSON nests deeper than {settings.API_MAX_JSON_DEPTH} levels.", code="too_deep")


def _document_check(document: Any, *, max_depth: int) -> None:
    # Iterative: a recursive walk is what a deep document attacks.
    stack = [(document, 1)]
    while stack:
        value, depth = stack.pop()
        if isinstance(value, str):
            if NUL in value:
                raise ParseError("A string contains a NUL character (\\u0000).", code="nul_character")
            continue
        if isinstance(value, dict):
            if any(NUL in key for key in value):
                raise ParseError("A key contains a NUL character (\\u0000).", code="nul_character")
            children = list(value.values())
        elif isinstance(value, list):
            children = value
        else:
            continue
        if depth > max_depth:
            raise _too_deep()
        stack.extend((child, depth + 1) for child in children)
