"""Field validators of the ml app."""

from urllib.parse import urlsplit

from django.core.exceptions import ValidationError


def http_url_validate(value: str) -> None:
    """Any http(s) URL with a host. Django's URLValidator wants a dotted domain, but inference servers are
    usually reached by a bare service name ("http://vllm:8000/v1") or an IP address."""
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValidationError("Enter an http(s) URL, e.g. http://vllm:8000/v1.", code="invalid")
