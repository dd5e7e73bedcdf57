"""Request checks that hold for every URL, before any view: no NUL in the path or the query string.

PostgreSQL refuses NUL in text, so `?search=a%00b` used to reach the database and answer 500.
"""

from collections.abc import Callable
from urllib.parse import unquote

from django.http import HttpRequest, HttpResponse, HttpResponseBadRequest, JsonResponse

NUL = "\x00"
NUL_MESSAGE = "The URL contains a NUL character (%00)."


class NulInUrlMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        query = unquote(request.META.get("QUERY_STRING", ""), errors="replace")
        if NUL in request.path or NUL in query:
            if request.path.startswith("/api/"):  # the API's error body (salesai.api.errors)
                return JsonResponse({"error": {"code": "nul_character", "message": NUL_MESSAGE}}, status=400)
            return HttpResponseBadRequest(NUL_MESSAGE)
        return self.get_response(request)
