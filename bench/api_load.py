"""Benchmark: the contact list API under concurrent load vs a bare DRF list view over the same rows.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/salesai OMP_NUM_THREADS=1 \
        .venv/bin/python bench/api_load.py [--contacts 100000] [--clients 16] [--seconds 40] [--rounds 4]

In a fresh scratch database `<db>_apibench` (created, migrated and dropped again) it seeds one organisation
with `--contacts` contacts (one company per 100; 90 % of contacts with a current lead-conversion
prediction, the rest unscored) by SQL, then starts gunicorn as the Dockerfile does (`gunicorn salesai.wsgi`,
./gunicorn.conf.py, `--workers` sync workers, default 2 = the image's WEB_CONCURRENCY, access log on) with a
bench-only settings module (bench/api_load_settings.py: the app's settings, the URLconf of
bench/api_load_urls.py, which adds one bare view to the app's routes). `--clients` keep-alive clients (threads)
then request, interleaved A,B,A,B over `--rounds` segments of `--seconds`/`--rounds` per variant:

A. `/api/v1/contacts/?ordering=-current_score` with an API token (the real view: authentication, per-user and
   per-token throttles - rates raised so they count but never refuse -, filters, tenancy, the full serializer);
B. the bare view `/bench/bare-contacts/<org>/`: same rows, order, page size, a plain ListAPIView.

Prints requests/s, p50/p95/p99 latency, non-2xx per variant, A/B throughput, and the SQL queries one request
of each makes (Django test client in this process). Targets (issue 16): A's p99 <= 100 ms and A >= 0.7x B's
throughput. The issue names the ordering `-lead_score`: the API's name for that field is `current_score`
(an unknown ordering field would silently fall back to the default order). Needs PostgreSQL.
"""

from __future__ import annotations

import argparse
import contextlib
import http.client
import os
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

from scratch_db import django_connections_close, scratch_database_create, scratch_database_drop
from server_process import free_port, process_serving

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT))

ORG_SLUG = "apibench"
APP_PATH = "/api/v1/contacts/?ordering=-current_score"
BARE_PATH = f"/bench/bare-contacts/{ORG_SLUG}/"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--contacts", type=int, default=100_000, help="contacts to seed (default 100000)")
    parser.add_argument("--clients", type=int, default=16, help="concurrent keep-alive clients (default 16)")
    parser.add_argument("--seconds", type=float, default=40, help="load seconds per variant (default 40)")
    parser.add_argument("--rounds", type=int, default=4, help="interleaved segments per variant (default 4)")
    parser.add_argument("--workers", type=int, default=2, help="gunicorn sync workers (default 2, as the image)")
    args = parser.parse_args()

    url = os.environ.get("DATABASE_URL", "")
    if urlsplit(url).scheme not in ("postgres", "postgresql", "pgsql"):
        print("bench/api_load.py needs a PostgreSQL DATABASE_URL", file=sys.stderr)
        return 2
    scratch_url = scratch_database_create(url, suffix="apibench")
    try:
        return _run(args, scratch_url=scratch_url)
    finally:
        django_connections_close()
        scratch_database_drop(url, scratch_url)


def _run(args: argparse.Namespace, *, scratch_url: str) -> int:
    env = {
        **os.environ,
        "DATABASE_URL": scratch_url,
        "SALESAI_ENV": os.environ.get("SALESAI_ENV", "local"),
        # The throttles still run (cache reads and writes on every request) but never refuse the bench.
        "API_THROTTLE_USER": "1000000/minute",
        "API_THROTTLE_TOKEN": "1000000/minute",
    }
    os.environ.update(env)
    os.environ["DJANGO_SETTINGS_MODULE"] = "api_load_settings"
    sys.path.insert(0, str(HERE))
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    started = time.perf_counter()
    token = _seed(contacts=args.contacts)
    print(f"seeded {args.contacts:,} contacts in {time.perf_counter() - started:.1f}s", flush=True)
    _queries_per_request(token)
    django_connections_close()

    port = free_port()
    results: dict[str, Segment] = {"A": Segment(), "B": Segment()}
    targets = {"A": APP_PATH, "B": BARE_PATH}
    headers = {"A": {"Authorization": f"Token {token}"}, "B": {}}
    print(f"load average before: {_loadavg()}", flush=True)
    with _gunicorn(env, port, workers=args.workers):
        for name in ("A", "B"):  # warm up: first requests import and connect
            _load(port, targets[name], headers[name], clients=2, seconds=2)
        for round_number in range(args.rounds):
            for name in ("A", "B"):
                segment = _load(
                    port, targets[name], headers[name], clients=args.clients, seconds=args.seconds / args.rounds
                )
                results[name].merge(segment)
                print(f"round {round_number + 1} {name}: {segment.summary()}", flush=True)
    print(f"load average after: {_loadavg()}\n")

    print(f"{'variant':<52} {'req/s':>8} {'p50 ms':>8} {'p95 ms':>8} {'p99 ms':>8} {'non-2xx':>8}")
    labels = {"A": f"A {APP_PATH}", "B": "B bare DRF list view"}
    for name in ("A", "B"):
        segment = results[name]
        print(
            f"{labels[name]:<52} {segment.rate:>8.1f} {segment.pct(50):>8.1f} {segment.pct(95):>8.1f} "
            f"{segment.pct(99):>8.1f} {segment.non_2xx:>8}"
        )
    ratio = results["A"].rate / results["B"].rate if results["B"].rate else float("nan")
    p99 = results["A"].pct(99)
    print(f"\nA/B throughput: {ratio:.2f}x (target >= 0.70: {'met' if ratio >= 0.7 else 'NOT met'})")
    print(f"A p99: {p99:.1f} ms (target <= 100 ms: {'met' if p99 <= 100 else 'NOT met'})")
    return 0


def _seed(*, contacts: int) -> str:
    """One organisation, a member with an API token, companies, contacts and current predictions, by SQL
    (generate_series): the ORM would take minutes for 100,000 rows. Returns the token's key."""
    from django.contrib.auth import get_user_model
    from django.db import connection
    from rest_framework.authtoken.models import Token

    from crm_connectors.models import CRMConnection
    from ml.models import ModelVersion, Prediction, Task
    from salesai.core.models import Company, Contact, Membership, Organization

    organization = Organization.objects.create(slug=ORG_SLUG, name="API bench")
    user = get_user_model().objects.create_user(username="apibench", password="apibench-password-0123")
    Membership.objects.create(organization=organization, user=user, role=Membership.Role.REP)
    crm = CRMConnection.objects.create(organization=organization, kind="csv", name="bench", config={})
    version = ModelVersion.objects.create(
        organization=organization,
        task=Task.LEAD_CONVERSION,
        version=1,
        status=ModelVersion.Status.CHAMPION,
        architecture="bench",
        artifact_path="bench/none",
    )
    companies = max(1, contacts // 100)
    fixed = {"organization_id": organization.pk, "connection_id": crm.pk}
    _insert_series(
        connection,
        Company,
        companies,
        {**fixed, "external_id": "'co-' || n", "name": "'Company ' || n", "domain": "'c' || n || '.example.com'"},
    )
    company_ids = dict(Company.objects.filter(organization=organization).values_list("external_id", "id"))
    first_company = company_ids["co-1"]
    _insert_series(
        connection,
        Contact,
        contacts,
        {
            **fixed,
            "external_id": "'ct-' || n",
            "first_name": "'First' || mod(n, 997)",
            "last_name": "'Last' || n",
            "email": "'person' || n || '@example.com'",
            "job_title": "(ARRAY['VP Sales','Engineer','CFO','Analyst'])[1 + mod(n, 4)]",
            "lead_source": "(ARRAY['web','referral','event'])[1 + mod(n, 3)]",
            "lifecycle_stage": "'lead'",
            "company_id": f"{first_company} + mod(n, {companies})",
        },
    )
    contact_table = Contact._meta.db_table
    with connection.cursor() as cursor:
        # 90 % scored; scores repeat (0-100), so ties are broken by id as in production.
        cursor.execute(
            f"SELECT id FROM {contact_table} WHERE organization_id = %s AND id %% 10 <> 0 ORDER BY id",
            [organization.pk],
        )
        scored = [row[0] for row in cursor.fetchall()]
    _insert_series(
        connection,
        Prediction,
        len(scored),
        {
            "organization_id": organization.pk,
            "model_version_id": version.pk,
            "task": f"'{Task.LEAD_CONVERSION}'",
            "contact_id": "ids[n]",
            "probability": "mod(n * 7919, 1000) / 1000.0",
            "score": "round(mod(n * 7919, 1000) / 10.0)",
            "is_current": "true",
            "source": "'model'",
        },
        arrays={"ids": scored},
    )
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")
    return Token.objects.create(user=user).key


def _insert_series(connection, model, count: int, values: dict[str, str], arrays: dict | None = None) -> None:
    """INSERT `count` rows of `model` from generate_series(1, count) AS n: `values` gives SQL expressions for
    some columns; every other NOT NULL column without a database default gets its type's empty value."""
    table = model._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT column_name, data_type FROM information_schema.columns WHERE table_name = %s "
            "AND is_nullable = 'NO' AND column_default IS NULL",
            [table],
        )
        required = cursor.fetchall()
        columns = {name: str(expression) for name, expression in values.items()}
        empty = {
            "text": "''",
            "character varying": "''",
            "boolean": "false",
            "jsonb": "'{}'::jsonb",
            "timestamp with time zone": "now()",
            "date": "current_date",
            "integer": "0",
            "smallint": "0",
            "bigint": "0",
            "numeric": "0",
            "double precision": "0",
        }
        for name, data_type in required:
            if name != "id" and name not in columns:
                columns[name] = empty.get(data_type, "''")
        names = ", ".join(columns)
        expressions = ", ".join(columns.values())
        params: list = []
        source = f"generate_series(1, {int(count)}) AS n"
        if arrays:
            (alias, items), *_ = arrays.items()
            source = f"{source}, (SELECT %s::bigint[] AS {alias}) AS a"
            params.append(items)
        cursor.execute(f"INSERT INTO {table} ({names}) SELECT {expressions} FROM {source}", params)


def _queries_per_request(token: str) -> None:
    """One request of each variant through Django's test client, printing every SQL query and its time."""
    from django.db import connection
    from django.test import Client

    client = Client()
    for label, path, headers in (
        ("A", APP_PATH, {"HTTP_AUTHORIZATION": f"Token {token}"}),
        ("B", BARE_PATH, {}),
    ):
        client.get(path, **headers)  # warm: the first request imports and connects
        queries: list[tuple[float, str]] = []

        def timed(execute, sql, params, many, context, queries=queries):
            started = time.perf_counter()
            try:
                return execute(sql, params, many, context)
            finally:
                queries.append(((time.perf_counter() - started) * 1000, sql))

        started = time.perf_counter()
        with connection.execute_wrapper(timed):
            response = client.get(path, **headers)
        elapsed = (time.perf_counter() - started) * 1000
        print(f"{label}: HTTP {response.status_code}, {len(queries)} SQL queries, {elapsed:.0f} ms in-process")
        for milliseconds, sql in queries:
            print(f"    {milliseconds:7.1f} ms  {' '.join(sql.split())[:160]}")


@dataclass
class Segment:
    latencies: list[float] = field(default_factory=list)  # ms
    non_2xx: int = 0
    seconds: float = 0.0

    @property
    def rate(self) -> float:
        return len(self.latencies) / self.seconds if self.seconds else 0.0

    def pct(self, percentile: float) -> float:
        values = sorted(self.latencies)
        if not values:
            return float("nan")
        return values[min(len(values) - 1, round(percentile / 100 * (len(values) - 1)))]

    def merge(self, other: Segment) -> None:
        self.latencies.extend(other.latencies)
        self.non_2xx += other.non_2xx
        self.seconds += other.seconds

    def summary(self) -> str:
        return f"{self.rate:.1f} req/s, p50 {self.pct(50):.1f} ms, p99 {self.pct(99):.1f} ms, non-2xx {self.non_2xx}"


def _load(port: int, target: str, headers: dict[str, str], *, clients: int, seconds: float) -> Segment:
    segment = Segment()
    lock = threading.Lock()
    deadline = time.monotonic() + seconds

    def client() -> None:
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        latencies, non_2xx = [], 0
        while time.monotonic() < deadline:
            started = time.monotonic()
            try:
                connection.request("GET", target, headers=headers)
                response = connection.getresponse()
                response.read()
                status = response.status
            except (OSError, http.client.HTTPException):
                connection.close()
                connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
                status = 0
            latencies.append((time.monotonic() - started) * 1000)
            non_2xx += not 200 <= status < 300
        connection.close()
        with lock:
            segment.latencies.extend(latencies)
            segment.non_2xx += non_2xx

    started = time.monotonic()
    threads = [threading.Thread(target=client) for _ in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    segment.seconds = time.monotonic() - started
    return segment


@contextlib.contextmanager
def _gunicorn(env: dict[str, str], port: int, *, workers: int):
    """gunicorn as in the Dockerfile (salesai.wsgi, ./gunicorn.conf.py, access log to stdout, here discarded)."""
    server = subprocess.Popen(
        [
            str(ROOT / ".venv/bin/gunicorn"),
            "salesai.wsgi",
            "--config",
            str(ROOT / "gunicorn.conf.py"),
            "--bind",
            f"127.0.0.1:{port}",
            "--workers",
            str(workers),
            "--access-logfile",
            "-",
        ],
        cwd=ROOT,
        env={
            **env,
            "DJANGO_SETTINGS_MODULE": "api_load_settings",
            "PYTHONPATH": os.pathsep.join([str(HERE), str(ROOT)]),
        },
        stdout=subprocess.DEVNULL,
    )
    with process_serving(server, port) as serving:
        yield serving


def _loadavg() -> str:
    return " ".join(f"{value:.2f}" for value in os.getloadavg())


if __name__ == "__main__":
    sys.exit(main())
