"""A rate per API token, beside DRF's per-user and per-address rates: one leaked or runaway integration token
is slowed down without starving the same user's other tokens and browser session of their shared user rate."""

import hashlib
from typing import Any

from rest_framework.throttling import SimpleRateThrottle


class TokenRateThrottle(SimpleRateThrottle):
    scope = "token"

    def get_cache_key(self, request: Any, view: Any) -> str | None:  # DRF imports this from its views
        key = getattr(request.auth, "key", None)
        if not key:
            return None  # session or anonymous: the user / anon rates apply
        # A digest: the cache (maybe Redis) never holds a usable token.
        return self.cache_format % {"scope": self.scope, "ident": hashlib.sha256(key.encode()).hexdigest()}
