"""Secrets never reach a log line: the Salesforce webhook URL's secret segment, secret query values, tokens.

`redact` is shared by the logging filter (every record through the console handler: django.request's
"Not Found: /webhooks/salesforce/7/<secret>/", celery, the dev server) and gunicorn's access log
(salesai.gunicorn_logging).
"""

import logging
import re

MASK = "***"

_PATTERNS = (
    # /webhooks/salesforce/<connection>/<secret>/: the secret is the whole credential of that URL.
    (re.compile(r"(/webhooks/salesforce/[^/\s?#\"']+/)[^/\s?#\"']+"), rf"\g<1>{MASK}"),
    # Query values whose names say they are secrets (a Pipedrive api_token, an OAuth code, ...).
    (
        re.compile(
            r"((?:^|[?&;])(?:access_token|api_token|api_key|apikey|hapikey|token|key|secret|client_secret|password|"
            r"refresh_token|code|signature|sig)=)[^&\s\"'#]+",
            re.IGNORECASE,
        ),
        rf"\g<1>{MASK}",
    ),
    # Authorization header values, should a request's headers ever be logged.
    (re.compile(r"\b(Bearer|Token|Basic)\s+[A-Za-z0-9._~+/=-]{8,}"), rf"\g<1> {MASK}"),
)


def redact(text: str) -> str:
    for pattern, replacement in _PATTERNS:
        text = pattern.sub(replacement, text)
    return text


class SecretsRedactingFilter(logging.Filter):
    """Rewrites the record's message (arguments merged in) when it held a secret; never drops a record."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # noqa: BLE001 - a malformed record is logging's problem, not ours to hide
            return True
        redacted = redact(message)
        if redacted != message:
            record.msg, record.args = redacted, None
        return True
