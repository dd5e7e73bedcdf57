"""A local fake of an OpenAI-compatible server (POST /v1/chat/completions), scripted per request.

Each request takes the next step of the script (the last one repeats): a reply text, an HTTP error with
optional headers (429 + Retry-After), or a delay before answering (a slow server). Requests are recorded.
"""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


@dataclass
class Step:
    text: str = ""
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0


class FakeOpenAI:
    def __init__(self, script: list[Step]) -> None:
        self.script = script
        self.requests: list[dict] = []
        self.stop = threading.Event()
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 -- http.server's naming
                length = int(self.headers.get("Content-Length") or 0)
                payload = json.loads(self.rfile.read(length) or b"{}")
                fake.requests.append({"path": self.path, "auth": self.headers.get("Authorization"), "json": payload})
                step = fake.script[min(len(fake.requests) - 1, len(fake.script) - 1)]
                if step.delay:
                    fake.stop.wait(step.delay)  # ends early when the server shuts down
                if self.path != "/v1/chat/completions":
                    return self._send(404, {"error": {"message": "not found"}}, {})
                if step.status != 200:
                    return self._send(step.status, {"error": {"message": f"status {step.status}"}}, step.headers)
                body = {
                    "id": f"chatcmpl-{len(fake.requests)}",
                    "object": "chat.completion",
                    "created": int(time.time()),
                    "model": payload.get("model"),
                    "choices": [
                        {"index": 0, "message": {"role": "assistant", "content": step.text}, "finish_reason": "stop"}
                    ],
                    "usage": {
                        "prompt_tokens": 42,
                        "completion_tokens": len(step.text.split()),
                        "total_tokens": 42 + len(step.text.split()),
                    },
                }
                self._send(200, body, step.headers)

            def _send(self, status: int, body: dict, headers: dict[str, str]) -> None:
                data = json.dumps(body).encode()
                try:
                    self.send_response(status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(data)))
                    for name, value in headers.items():
                        self.send_header(name, value)
                    self.end_headers()
                    self.wfile.write(data)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client gave up (timeout): that is the point of a slow step

            def log_message(self, *args) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/v1"

    def __enter__(self) -> FakeOpenAI:
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop.set()
        self.server.shutdown()
        self.server.server_close()
