"""gunicorn's access log without secrets: every atom (request line, path, query, referer, headers) redacted."""

from typing import Any

from gunicorn.glogging import Logger

from salesai.log_redaction import redact


class RedactingLogger(Logger):
    def atoms(self, resp: Any, req: Any, environ: dict, request_time: Any) -> dict:
        atoms = super().atoms(resp, req, environ, request_time)
        return {name: redact(value) if isinstance(value, str) else value for name, value in atoms.items()}
