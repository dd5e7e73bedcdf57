"""Benchmark: webhook ingest through the real app vs a bare Django view, and a broker outage during ingest.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/salesai CELERY_BROKER_URL=redis://127.0.0.1:6379/3 \
        OMP_NUM_THREADS=1 .venv/bin/python bench/webhook_ingest.py [--seconds 60] [--rounds 4] [--clients 8] \
        [--outage-seconds 30] [--skip-outage]

In a scratch database `<db>_whbench` (created, migrated and dropped again) it starts gunicorn on 127.0.0.1
(2 gthread workers x 4 threads) serving the real app plus bare Django views (`/bench/bare/`: CSRF-exempt,
one INSERT of the body into a jsonb table; `/bench/bare-publish/`: the same and one task sent), then:

1. **Ingest.** `--clients` keep-alive clients POST single-event HubSpot deliveries (v1-signed, a fresh eventId
   each) to `/webhooks/hubspot/<id>/` (A), the same bodies to the bare view (B), and to the bare view plus one
   Celery send (C: the part of A's cost any outbox-backed ingest pays) for `--seconds` each, interleaved
   A,B,C,A,B,C... in `--rounds` segments, so all see the same machine load. Prints requests/s,
   p50/p99 latency, the A/B ratio, and non-2xx counts. No worker runs: this is the request path only (the
   processing tasks pile up in a private queue that is deleted at the end).
2. **Broker outage.** A Celery worker and beat (outbox sweep every 5 s) run against the broker through a
   TCP relay in this process; after 10 s of ingest the relay stops accepting and cuts its connections for
   `--outage-seconds` (the broker is "down" for the app, the worker and beat alike; the real Redis is not
   touched, other users keep it), then comes back; ingest goes on 10 s more. Prints deliveries acknowledged
   (2xx), refused (non-2xx) and, after recovery, how many acknowledged events were processed.

Traffic goes to 127.0.0.1 only; everything is bounded in time and count. Numbers depend on what else runs on
the machine: the script prints the load average before and after.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import http.client
import json
import os
import selectors
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

from server_process import free_port, process_serving

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
SECRET = "bench-webhook-secret-0123456789"
SERVER_FLAG = "WEBHOOK_INGEST_BENCH_SERVER"


# --- the server side (imported by gunicorn as `webhook_ingest:application`) -----------------------------
if os.environ.get(SERVER_FLAG) == "1":
    sys.path.insert(0, str(ROOT))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "salesai.settings")
    from django.core.wsgi import get_wsgi_application

    application = get_wsgi_application()

    from django.conf import settings as _settings
    from django.db import connection as _db
    from django.http import HttpRequest, HttpResponse
    from django.urls import include, path
    from django.views.decorators.csrf import csrf_exempt
    from django.views.decorators.http import require_POST

    @csrf_exempt
    @require_POST
    def bare_view(request: HttpRequest) -> HttpResponse:
        """The floor: one INSERT of the body, nothing else."""
        with _db.cursor() as cursor:
            cursor.execute("INSERT INTO bench_bare (payload) VALUES (%s::jsonb)", [request.body.decode()])
        return HttpResponse(b"", status=200)

    @csrf_exempt
    @require_POST
    def bare_publish_view(request: HttpRequest) -> HttpResponse:
        """The floor plus the one thing every accepted delivery must also do: send a task to the broker."""
        from crm_connectors.tasks import process_webhook_event

        with _db.cursor() as cursor:
            cursor.execute("INSERT INTO bench_bare (payload) VALUES (%s::jsonb) RETURNING id", [request.body.decode()])
            row_id = cursor.fetchone()[0]
        process_webhook_event.delay(-row_id)  # no such event: a worker would answer "missing"
        return HttpResponse(b"", status=200)

    urlpatterns = [
        path("bench/bare/", bare_view),
        path("bench/bare-publish/", bare_publish_view),
        path("", include("salesai.urls")),
    ]
    _settings.ROOT_URLCONF = __name__


# --- the driver ---------------------------------------------------------------------------------------------
def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=60, help="ingest seconds per variant (default 60)")
    parser.add_argument("--rounds", type=int, default=4, help="segments per variant, interleaved (default 4)")
    parser.add_argument("--clients", type=int, default=8, help="concurrent clients (default 8)")
    parser.add_argument("--outage-seconds", type=float, default=30, help="broker outage length (default 30)")
    parser.add_argument("--skip-outage", action="store_true", help="only the ingest comparison")
    parser.add_argument("--skip-ingest", action="store_true", help="only the broker outage")
    args = parser.parse_args()

    url = os.environ.get("DATABASE_URL", "")
    broker = os.environ.get("CELERY_BROKER_URL", "")
    if urlsplit(url).scheme not in ("postgres", "postgresql", "pgsql") or not broker.startswith("redis://"):
        print(
            "needs DATABASE_URL=postgres://... and CELERY_BROKER_URL=redis://... (see the docstring)", file=sys.stderr
        )
        return 2
    sys.path.insert(0, str(HERE))
    from scratch_db import django_connections_close, scratch_database_create, scratch_database_drop

    scratch_url = scratch_database_create(url, suffix="whbench")
    try:
        return _run(args, scratch_url=scratch_url, broker=broker)
    finally:
        django_connections_close()
        scratch_database_drop(url, scratch_url)


def _run(args: argparse.Namespace, *, scratch_url: str, broker: str) -> int:
    queue = f"bench-sync-{uuid.uuid4().hex[:8]}"
    env = {
        **os.environ,
        "DATABASE_URL": scratch_url,
        "SALESAI_ENV": "local",
        "CELERY_QUEUE_SYNC": queue,
        "OUTBOX_SWEEP_INTERVAL_SECONDS": "5",
        "OUTBOX_RESEND_AFTER_SECONDS": "60",
        "LOG_LEVEL": "WARNING",
        "OMP_NUM_THREADS": "1",
    }
    os.environ.update(env)
    sys.path.insert(0, str(ROOT))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "salesai.settings")
    import django

    django.setup()
    from django.core.management import call_command
    from django.db import connection

    from crm_connectors.models import CRMConnection
    from salesai.core.models import Organization

    call_command("migrate", verbosity=0)
    organization = Organization.objects.create(slug="whbench", name="Webhook bench")
    hubspot = CRMConnection.objects.create(
        organization=organization, kind="hubspot", name="hubspot", credentials={"token": "t", "client_secret": SECRET}
    )
    with connection.cursor() as cursor:
        cursor.execute("CREATE TABLE bench_bare (id bigserial PRIMARY KEY, payload jsonb NOT NULL)")
    connection.close()

    print(f"load average before: {_loadavg()}  cores: {os.cpu_count()}")
    try:
        if not args.skip_ingest:
            _ingest_comparison(args, env=env, connection_id=hubspot.pk)
        if not args.skip_outage:
            _queue_delete(broker, queue)  # the ingest phase's unprocessed tasks: phase 2 counts only its own
            _broker_outage(args, env=env, broker=broker, connection_id=hubspot.pk)
    finally:
        _queue_delete(broker, queue)
    print(f"load average after: {_loadavg()}")
    return 0


# --- 1. ingest comparison -----------------------------------------------------------------------------------
@dataclass
class Segment:
    latencies: list[float] = field(default_factory=list)
    non_2xx: int = 0
    seconds: float = 0.0
    acknowledged: list[str] = field(default_factory=list)


def _ingest_comparison(args: argparse.Namespace, *, env: dict[str, str], connection_id: int) -> None:
    port = free_port()
    with _gunicorn(env, port):
        targets = {
            "A webhook": f"/webhooks/hubspot/{connection_id}/",
            "B bare view": "/bench/bare/",
            "C bare+publish": "/bench/bare-publish/",
        }
        for target in targets.values():
            _load(port, target, clients=args.clients, seconds=2)  # warm-up: connections, imports
        per_segment = args.seconds / args.rounds
        results: dict[str, list[Segment]] = {name: [] for name in targets}
        for _ in range(args.rounds):
            for name, target in targets.items():
                results[name].append(_load(port, target, clients=args.clients, seconds=per_segment))

    print(f"\n== ingest: {args.clients} clients, {args.seconds:g} s per variant in {args.rounds} interleaved segments")
    print(f"{'variant':<14}{'requests':>10}{'req/s':>10}{'p50 ms':>9}{'p99 ms':>9}{'non-2xx':>9}   req/s per segment")
    rates = {}
    for name, segments in results.items():
        latencies = sorted(latency for segment in segments for latency in segment.latencies)
        count, seconds = len(latencies), sum(segment.seconds for segment in segments)
        rates[name] = count / seconds
        per = " ".join(f"{len(s.latencies) / s.seconds:.0f}" for s in segments)
        print(
            f"{name:<14}{count:>10}{rates[name]:>10.1f}{_pct(latencies, 50):>9.1f}{_pct(latencies, 99):>9.1f}"
            f"{sum(s.non_2xx for s in segments):>9}   {per}"
        )
    print(
        f"ratio A/B (throughput): {rates['A webhook'] / rates['B bare view']:.2f}x   "
        f"A/C: {rates['A webhook'] / rates['C bare+publish']:.2f}x   C/B: {rates['C bare+publish'] / rates['B bare view']:.2f}x"
    )


# --- 2. broker outage ---------------------------------------------------------------------------------------
def _broker_outage(args: argparse.Namespace, *, env: dict[str, str], broker: str, connection_id: int) -> None:
    from crm_connectors.models import WebhookEvent

    target = urlsplit(broker)
    relay = TcpRelay(target.hostname or "127.0.0.1", target.port or 6379)
    relay.start()
    relayed = broker.replace(target.netloc, f"127.0.0.1:{relay.port}", 1)
    env = {**env, "CELERY_BROKER_URL": relayed}
    port = free_port()
    celery = [str(ROOT / ".venv/bin/celery"), "-A", "salesai"]
    log_path = Path(f"/tmp/whbench-celery-{os.getpid()}.log")
    worker_log = log_path.open("wb")
    print(f"worker and beat log: {log_path}")
    worker = subprocess.Popen(
        [
            *celery,
            "worker",
            "-Q",
            env["CELERY_QUEUE_SYNC"],
            "--pool",
            "solo",
            "-l",
            "warning",
            "--without-heartbeat",
            "--without-gossip",
            "--without-mingle",
        ],
        cwd=ROOT,
        env=env,
        stdout=worker_log,
        stderr=subprocess.STDOUT,
    )
    beat = subprocess.Popen(
        [*celery, "beat", "-l", "warning", "-s", f"/tmp/whbench-beat-{os.getpid()}"],
        cwd=ROOT,
        env=env,
        stdout=worker_log,
        stderr=subprocess.STDOUT,
    )
    path = f"/webhooks/hubspot/{connection_id}/"
    outage_start = outage_end = 0.0
    try:
        with _gunicorn(env, port):
            _load(port, path, clients=2, seconds=1)  # warm-up
            stop = threading.Event()
            segments: list[Segment] = []

            def ingest() -> None:
                while not stop.is_set():
                    segments.append(_load(port, path, clients=args.clients, seconds=2))

            driver = threading.Thread(target=ingest)
            driver.start()
            time.sleep(10)
            outage_start = time.monotonic()
            relay.down()
            time.sleep(args.outage_seconds)
            relay.up()
            outage_end = time.monotonic()
            time.sleep(10)
            stop.set()
            driver.join()

        acknowledged = {event_id for segment in segments for event_id in segment.acknowledged}
        refused = sum(segment.non_2xx for segment in segments)
        events = WebhookEvent.objects.filter(connection_id=connection_id, event_id__in=list(acknowledged))
        # One solo worker drains the backlog: wait while it makes progress, and long enough for the sweep to
        # send again what was sent but lost with the cut connections (OUTBOX_RESEND_AFTER_SECONDS); at most 15 min.
        patience = 2 * int(env["OUTBOX_RESEND_AFTER_SECONDS"]) + 30
        processed, last_progress, hard_stop = 0, time.monotonic(), time.monotonic() + 900
        while (
            processed < len(acknowledged)
            and time.monotonic() - last_progress < patience
            and time.monotonic() < hard_stop
        ):
            time.sleep(3)
            now_processed = events.filter(status="processed").count()
            if now_processed > processed:
                processed, last_progress = now_processed, time.monotonic()
        waited = time.monotonic() - outage_end
        print(f"\n== broker outage: {args.clients} clients; broker unreachable for {outage_end - outage_start:.0f} s")
        print(f"deliveries acknowledged (2xx): {len(acknowledged)}   refused (non-2xx): {refused}")
        print(
            f"stored: {events.count()}   processed after recovery: {processed} of {len(acknowledged)} "
            f"({waited:.0f} s after the broker came back)"
        )
        still = Counter(events.exclude(status="processed").values_list("status", flat=True))
        if still:
            print(f"not processed: {still}")
    finally:
        for process in (beat, worker):
            process.send_signal(signal.SIGTERM)
        for process in (beat, worker):
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()
        relay.stop()
        with contextlib.suppress(FileNotFoundError):
            os.remove(f"/tmp/whbench-beat-{os.getpid()}")


class TcpRelay:
    """127.0.0.1:<port> -> the broker. `down()` closes the listener and every relayed connection (clients get
    'connection refused', like a stopped Redis); `up()` listens again on the same port."""

    def __init__(self, host: str, port: int) -> None:
        self.target = (host, port)
        self.port = free_port()
        self._selector = selectors.DefaultSelector()
        self._listener: socket.socket | None = None
        self._pairs: dict[socket.socket, socket.socket] = {}
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)

    def start(self) -> None:
        self.up()
        self._thread.start()

    def up(self) -> None:
        with self._lock:
            listener = socket.socket()
            listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            listener.bind(("127.0.0.1", self.port))
            listener.listen(128)
            listener.setblocking(False)
            self._listener = listener
            self._selector.register(listener, selectors.EVENT_READ)

    def down(self) -> None:
        with self._lock:
            if self._listener is not None:
                self._selector.unregister(self._listener)
                self._listener.close()
                self._listener = None
            for sock in list(self._pairs):
                self._close(sock)

    def stop(self) -> None:
        self._stop.set()
        self.down()
        self._thread.join(timeout=5)

    def _close(self, sock: socket.socket) -> None:
        other = self._pairs.pop(sock, None)
        for s in (sock, other):
            if s is None:
                continue
            with contextlib.suppress(Exception):
                self._selector.unregister(s)
            s.close()
            self._pairs.pop(s, None)

    def _loop(self) -> None:
        while not self._stop.is_set():
            for key, _ in self._selector.select(timeout=0.2):
                with self._lock:
                    sock = key.fileobj
                    if sock is self._listener:
                        client, _ = sock.accept()  # type: ignore[union-attr]
                        try:
                            upstream = socket.create_connection(self.target, timeout=5)
                        except OSError:
                            client.close()
                            continue
                        for s in (client, upstream):
                            s.setblocking(False)
                            self._selector.register(s, selectors.EVENT_READ)
                        self._pairs[client], self._pairs[upstream] = upstream, client
                    elif sock in self._pairs:
                        try:
                            data = sock.recv(65536)  # type: ignore[union-attr]
                        except (BlockingIOError, InterruptedError):
                            continue
                        except OSError:
                            data = b""
                        if not data:
                            self._close(sock)  # type: ignore[arg-type]
                            continue
                        try:
                            self._pairs[sock].setblocking(True)
                            self._pairs[sock].sendall(data)
                            self._pairs[sock].setblocking(False)
                        except OSError:
                            self._close(sock)  # type: ignore[arg-type]


# --- helpers ------------------------------------------------------------------------------------------------
@contextlib.contextmanager
def _gunicorn(env: dict[str, str], port: int):
    server = subprocess.Popen(
        [
            str(ROOT / ".venv/bin/gunicorn"),
            "webhook_ingest:application",
            "--chdir",
            str(HERE),
            "--bind",
            f"127.0.0.1:{port}",
            "--workers",
            "2",
            "--threads",
            "4",
            "--worker-class",
            "gthread",
            "--keep-alive",
            "30",
            "--log-level",
            "warning",
        ],
        cwd=ROOT,
        env={**env, SERVER_FLAG: "1"},
    )
    with process_serving(server, port) as serving:
        yield serving


def _load(port: int, target: str, *, clients: int, seconds: float, kind: str = "ticket.creation") -> Segment:
    """`clients` threads POST single-event signed deliveries to `target` for `seconds`. Ticket events: we sync
    no tickets, so processing one touches no CRM (no traffic leaves the machine) and is cheap."""
    segment = Segment()
    lock = threading.Lock()
    deadline = time.monotonic() + seconds

    def client() -> None:
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        latencies, acknowledged, non_2xx = [], [], 0
        while time.monotonic() < deadline:
            event_id = uuid.uuid4().hex
            body = json.dumps(
                [
                    {
                        "eventId": event_id,
                        "subscriptionId": 1,
                        "portalId": 62515,
                        "appId": 1,
                        "occurredAt": 1767225590000,
                        "subscriptionType": kind,
                        "attemptNumber": 0,
                        "objectId": 501,
                        "propertyName": "lifecyclestage",
                        "propertyValue": "lead",
                    }
                ]
            ).encode()
            headers = {
                "Content-Type": "application/json",
                "X-HubSpot-Signature-Version": "v1",
                "X-HubSpot-Signature": hashlib.sha256(SECRET.encode() + body).hexdigest(),
            }
            started = time.monotonic()
            try:
                connection.request("POST", target, body=body, headers=headers)
                response = connection.getresponse()
                response.read()
                status = response.status
            except (OSError, http.client.HTTPException):
                connection.close()
                connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
                status = 0
            latencies.append(time.monotonic() - started)
            if 200 <= status < 300:
                acknowledged.append(event_id)
            else:
                non_2xx += 1
        connection.close()
        with lock:
            segment.latencies.extend(latency * 1000 for latency in latencies)
            segment.acknowledged.extend(acknowledged)
            segment.non_2xx += non_2xx

    started = time.monotonic()
    threads = [threading.Thread(target=client) for _ in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    segment.seconds = time.monotonic() - started
    return segment


def _pct(values: list[float], percentile: float) -> float:
    if not values:
        return float("nan")
    return values[min(len(values) - 1, round(percentile / 100 * (len(values) - 1)))]


def _loadavg() -> str:
    return " ".join(f"{value:.2f}" for value in os.getloadavg())


def _queue_delete(broker: str, queue: str) -> None:
    import redis

    client = redis.Redis.from_url(broker)
    client.delete(queue)


if __name__ == "__main__":
    sys.exit(main())
