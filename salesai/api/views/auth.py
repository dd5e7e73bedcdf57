"""POST /api/v1/auth/token/: DRF's token login, with django-axes' lockout answered as the API's 429."""

from typing import Any

from rest_framework import status
from rest_framework.authtoken.views import ObtainAuthToken
from rest_framework.exceptions import APIException, ValidationError
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.throttling import AnonRateThrottle


class LockedOut(APIException):
    status_code = status.HTTP_429_TOO_MANY_REQUESTS
    default_detail = "Too many failed logins for this username from this address; try again later."
    default_code = "locked_out"


class TokenObtainView(ObtainAuthToken):
    throttle_classes = (AnonRateThrottle,)  # DRF leaves its login view unthrottled: per client address here

    def post(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        try:
            return super().post(request, *args, **kwargs)
        except ValidationError:
            # axes marks the request it was handed by authenticate() (DRF's wrapper) when the pair is locked out
            if getattr(request, "axes_locked_out", False):
                raise LockedOut() from None
            raise
