"""Field validators of the ml app."""

import ipaddress
import socket
from urllib.parse import urlsplit

from django.conf import settings
from django.core.exceptions import ValidationError


def http_url_validate(value: str) -> None:
    """Any http(s) URL with a host. Django's URLValidator wants a dotted domain, but inference servers are
    usually reached by a bare service name ("http://vllm:8000/v1") or an IP address."""
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValidationError("Enter an http(s) URL, e.g. http://vllm:8000/v1.", code="invalid")


def llm_endpoint_check(value: str) -> None:
    """An organisation's OpenAI-compatible endpoint may not reach this deployment's private network (SSRF:
    an org admin could otherwise make the server probe internal services). A host that is, or resolves to, a
    private, loopback, link-local or reserved address is refused unless the operator lists it in
    EMAIL_LLM_ALLOWED_HOSTS (the usual case for a vLLM/llama.cpp server beside the app). Checked when the
    settings are saved and again before every call (DNS can change in between)."""
    http_url_validate(value)
    host = (urlsplit(value).hostname or "").lower().rstrip(".")
    if host in {h.lower() for h in settings.EMAIL_LLM_ALLOWED_HOSTS}:
        return
    try:
        addresses = {info[4][0] for info in socket.getaddrinfo(host, None)}
    except (socket.gaierror, UnicodeError):
        return  # nothing to reach now; the check runs again before every call, when it may resolve
    for address in addresses:
        ip = ipaddress.ip_address(address.split("%", 1)[0])
        if not ip.is_global or ip.is_multicast:
            raise ValidationError(
                f"{host} is a private, loopback or link-local address ({ip}); an operator may allow it in "
                "EMAIL_LLM_ALLOWED_HOSTS.",
                code="private_address",
            )
