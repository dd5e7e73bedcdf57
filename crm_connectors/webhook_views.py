"""The HTTP front door of CRM webhooks: raw request in, `webhooks.webhook_receive`, status + ack out."""

from django.conf import settings
from django.core.exceptions import RequestDataTooBig
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from crm_connectors.hubspot.app_webhooks import hubspot_app_webhook_receive
from crm_connectors.webhook_types import WebhookDenied, WebhookMalformed, WebhookRequest, WebhookTargetNotFound
from crm_connectors.webhooks import webhook_receive

_DENIED_CODES = {401: "unauthorized", 403: "forbidden", 404: "not_found"}


@csrf_exempt  # CRMs authenticate by signature, basic auth or URL secret, never by a session
@require_POST
def webhook_receive_view(
    request: HttpRequest, connector: str, connection_id: int, secret: str | None = None
) -> HttpResponse:
    incoming = _incoming(request, secret)
    if isinstance(incoming, HttpResponse):
        return incoming
    try:
        receipt = webhook_receive(kind=connector, connection_id=connection_id, request=incoming)
    except (WebhookTargetNotFound, WebhookDenied, WebhookMalformed) as exc:
        return _refusal(exc)
    return HttpResponse(receipt.body, status=200, content_type=receipt.content_type)


@csrf_exempt
@require_POST
def hubspot_app_webhook_view(request: HttpRequest, app_id: int) -> HttpResponse:
    """HubSpot's one target URL per app: events fan out to their portals' connections."""
    incoming = _incoming(request, None)
    if isinstance(incoming, HttpResponse):
        return incoming
    try:
        receipt = hubspot_app_webhook_receive(app_id=str(app_id), request=incoming)
    except (WebhookTargetNotFound, WebhookDenied, WebhookMalformed) as exc:
        return _refusal(exc)
    return JsonResponse(receipt.as_dict(), status=200)


def _incoming(request: HttpRequest, secret: str | None) -> WebhookRequest | HttpResponse:
    """The raw delivery, or the 413 answer when it is too large to read."""
    limit = settings.WEBHOOK_MAX_BODY_BYTES
    too_large = _error(413, "too_large", f"the request body is larger than {limit} bytes")
    declared = request.META.get("CONTENT_LENGTH") or ""
    if declared.isdigit() and int(declared) > limit:
        return too_large  # refused before reading it
    try:
        body = request.body
    except RequestDataTooBig:
        return too_large
    if len(body) > limit:
        return too_large
    return WebhookRequest(
        method=request.method or "POST",
        uri=_public_uri(request),
        headers={name.lower(): value for name, value in request.headers.items()},
        body=body,
        url_secret=secret,
    )


def _refusal(exc: Exception) -> JsonResponse:
    if isinstance(exc, WebhookTargetNotFound):
        return _error(404, "not_found", "no such webhook endpoint")
    if isinstance(exc, WebhookDenied):
        return _error(exc.status, _DENIED_CODES.get(exc.status, "denied"), str(exc))
    assert isinstance(exc, WebhookMalformed)
    return _error(400, exc.code, str(exc))


def _public_uri(request: HttpRequest) -> str:
    """The URL the CRM called (HubSpot signs it). Behind a TLS-terminating proxy set WEBHOOK_PUBLIC_BASE_URL
    (e.g. https://app.example.com) instead of trusting forwarded headers."""
    base = str(getattr(settings, "WEBHOOK_PUBLIC_BASE_URL", "") or "")
    return base.rstrip("/") + request.get_full_path() if base else request.build_absolute_uri()


def _error(status: int, code: str, message: str) -> JsonResponse:
    return JsonResponse({"error": {"code": code, "message": message}}, status=status)
