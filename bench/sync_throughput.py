"""Benchmark: a full HubSpot sync from a zero-latency local fake into PostgreSQL vs. a raw COPY.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/salesai OMP_NUM_THREADS=1 \
        .venv/bin/python bench/sync_throughput.py [--contacts 200000] [--small 50000]

Starts the fake HubSpot of the tests (`tests/crm_connectors/hubspot/fake_server.py`, records generated from
their index, served from a child process) and, in a fresh scratch database `<db>_syncbench`
(created, migrated and dropped again):

1. syncs `--small` contacts (default a quarter of `--contacts`) into a new organization and connection;
2. syncs `--contacts` contacts into another new organization and connection;
   both with one company per 100 contacts, `connection_sync(full=True)`, client-side rate limits off;
3. dumps the contact rows that sync (2) wrote to a CSV file and times two COPYs of it: into an index-free
   table of text columns (raw ceiling) and into a scratch copy of `core_contact` with its types, defaults,
   indexes and foreign keys (shaped ceiling).

Memory: a thread samples VmRSS every 50 ms; the peak inside each sync's window is printed. Two separate
syncs of different sizes in one process, the small one first, so the larger one's peak can only be higher if
memory grows with the record count. The fake server runs in a child process (spawned per sync), so neither
its CPU nor its memory is counted as the sync's; it still shares the machine's cores. records/s counts every
record the sync wrote (contacts + companies); the ceilings' rates count contact rows.
"""

from __future__ import annotations

import argparse
import contextlib
import multiprocessing
import os
import resource
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path
from typing import Self
from urllib.parse import urlsplit

from scratch_db import django_connections_close, scratch_database_create, scratch_database_drop

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--contacts", type=int, default=200_000, help="contacts of the large sync (default 200000)")
    parser.add_argument("--small", type=int, default=0, help="contacts of the small sync (default contacts/4)")
    parser.add_argument("--profile", metavar="FILE", help="cProfile the large sync into FILE and print the top 15")
    args = parser.parse_args()
    small = args.small or max(1, args.contacts // 4)

    url = os.environ.get("DATABASE_URL", "")
    if urlsplit(url).scheme not in ("postgres", "postgresql", "pgsql"):
        print(
            "bench/sync_throughput.py writes into PostgreSQL and compares against COPY; it needs a PostgreSQL "
            "database:\n  DATABASE_URL=postgres://USER@HOST:5432/DB .venv/bin/python bench/sync_throughput.py",
            file=sys.stderr,
        )
        return 2

    scratch_url = scratch_database_create(url, suffix="syncbench")
    os.environ["DATABASE_URL"] = scratch_url
    try:
        return _run(large=args.contacts, small=small, profile=args.profile)
    finally:
        django_connections_close()
        scratch_database_drop(url, scratch_url)


class RssSampler:
    """VmRSS of this process every `interval` seconds, kept as (monotonic time, bytes)."""

    def __init__(self, interval: float = 0.05) -> None:
        self.interval = interval
        self.samples: list[tuple[float, int]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)

    def __enter__(self) -> Self:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def _loop(self) -> None:
        while not self._stop.is_set():
            self.samples.append((time.perf_counter(), _rss_bytes()))
            self._stop.wait(self.interval)

    def peak(self, start: float, end: float) -> int:
        inside = [rss for at, rss in self.samples if start <= at <= end]
        return max(inside, default=_rss_bytes())


class _FakeHandle:
    def __init__(self, url: str, token: str) -> None:
        self.url, self.token = url, token
        self.cpu = float("nan")


@contextlib.contextmanager
def _fake_hubspot_process(*, contacts: int, companies: int):
    """The test fake HubSpot in a child process, so its request handling neither holds this process's GIL
    nor counts in its RSS: only the sync's own CPU and memory are measured here."""
    context = multiprocessing.get_context("spawn")
    ready, stop = context.Queue(), context.Event()
    child = context.Process(target=_fake_hubspot_serve, args=(contacts, companies, ready, stop), daemon=True)
    child.start()
    try:
        url, token = ready.get(timeout=60)
        handle = _FakeHandle(url, token)
        yield handle
    finally:
        stop.set()
        with contextlib.suppress(Exception):
            handle.cpu = ready.get(timeout=10)  # the server's CPU seconds, user + system
        child.join(timeout=10)
        if child.is_alive():
            child.terminate()


def _fake_hubspot_serve(contacts: int, companies: int, ready, stop) -> None:
    sys.path.insert(0, str(ROOT))
    from tests.crm_connectors.hubspot.fake_server import FakeHubSpot

    with FakeHubSpot(contacts=contacts, companies=companies) as fake:
        ready.put((fake.url, fake.token))
        stop.wait()
    ready.put(_cpu_seconds())


def _cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _rss_bytes() -> int:
    with open("/proc/self/status", encoding="ascii") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    return 0


def _run(*, large: int, small: int, profile: str | None) -> int:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "salesai.settings")
    # The fake HubSpot listens on loopback, which connections may only name when the deployment allows it.
    os.environ.setdefault("CRM_ALLOWED_HOSTS", "127.0.0.1")
    os.environ.setdefault("CRM_ALLOWED_NETWORKS", "127.0.0.0/8")
    import django

    django.setup()
    from django.core.management import call_command
    from django.db import connection as db_connection

    call_command("migrate", verbosity=0)
    import logging

    logging.getLogger("httpx").setLevel(logging.WARNING)  # one INFO line per request would be timed too

    from crm_connectors.hubspot.connector import HubSpotConnector
    from crm_connectors.services import connection_create
    from crm_connectors.sync import connection_sync
    from salesai.core.models import Contact
    from salesai.core.services import organization_create

    HubSpotConnector.sleep = staticmethod(lambda seconds: None)  # the fake never rate-limits; never wait

    def one_sync(contacts: int, sampler: RssSampler, profiler=None) -> dict:
        companies = max(1, contacts // 100)
        with _fake_hubspot_process(contacts=contacts, companies=companies) as fake:
            organization = organization_create(slug=f"syncbench-{uuid.uuid4().hex[:8]}").organization
            connection = connection_create(
                organization=organization,
                kind="hubspot",
                name="bench",
                config={"base_url": fake.url, "requests_per_second": 0, "search_requests_per_second": 0},
                credentials={"token": fake.token},
            )
            rss_before = _rss_bytes()
            cpu_before = _cpu_seconds()
            started = time.perf_counter()
            if profiler is not None:
                profiler.enable()
            run = connection_sync(connection_id=connection.pk, full=True)
            if profiler is not None:
                profiler.disable()
            ended = time.perf_counter()
            cpu = _cpu_seconds() - cpu_before
        server_cpu = fake.cpu
        synced = Contact.objects.filter(connection=connection, deleted_at__isnull=True).count()
        if run.status != "succeeded" or synced != contacts or run.created != contacts + companies:
            raise SystemExit(
                f"sync of {contacts:,} contacts: {run.status} created={run.created} failed={run.failed} "
                f"contacts in db={synced:,}: {run.error_summary}"
            )
        seconds = ended - started
        print(
            f"sync {contacts:,} contacts + {companies:,} companies: {seconds:.2f}s wall, "
            f"CPU: {cpu:.2f}s this process (sync), {server_cpu:.2f}s fake server process "
            "(the rest of the wall time: waiting on PostgreSQL or for a free core)",
            flush=True,
        )
        return {
            "contacts": contacts,
            "records": contacts + companies,
            "seconds": seconds,
            "rss_before": rss_before,
            "cpu": cpu,
            "server_cpu": server_cpu,
            "rss_peak": sampler.peak(started, ended),
            "organization": organization,
            "connection": connection,
        }

    profiler = None
    if profile:
        import cProfile

        profiler = cProfile.Profile()
    with RssSampler() as sampler:
        small_result = one_sync(small, sampler)
        large_result = one_sync(large, sampler, profiler)

    with tempfile.TemporaryDirectory(prefix="salesai-syncbench-") as folder:
        dump = Path(folder) / "contacts.csv"
        columns = _contact_columns(db_connection)
        _dump_contacts(db_connection, dump, columns, large_result["connection"].pk)
        raw_s = _copy_ceiling_raw(db_connection, dump, columns, large)
        shaped_s = _copy_ceiling_shaped(db_connection, dump, columns, large)
        size_mb = dump.stat().st_size / 1e6
    for result in (small_result, large_result):
        result["organization"].delete()

    rows = large
    width = 40
    print()
    print(f"contacts dumped for the ceilings: {rows:,} rows, {size_mb:.1f} MB CSV (all core_contact columns but id)")
    print(f"{'path':<{width}} {'seconds':>8} {'records/s':>10} {'vs raw':>7} {'vs shaped':>9} {'peak RSS':>10}")
    print(f"{'-' * width} {'-' * 8} {'-' * 10} {'-' * 7} {'-' * 9} {'-' * 10}")
    print(
        f"{'COPY -> text table, no indexes':<{width}} {raw_s:>8.2f} {rows / raw_s:>10,.0f} {1:>7.2f} "
        f"{shaped_s / raw_s:>9.2f} {'':>10}"
    )
    print(
        f"{'COPY -> core_contact-shaped table':<{width}} {shaped_s:>8.2f} {rows / shaped_s:>10,.0f} "
        f"{raw_s / shaped_s:>7.2f} {1:>9.2f} {'':>10}"
    )
    for result in (small_result, large_result):
        label = f"HubSpot sync, {result['contacts']:,} contacts"
        per_s = result["records"] / result["seconds"]
        # Ratio of rates: records/s of the sync over contacts/s of the COPY.
        print(
            f"{label:<{width}} {result['seconds']:>8.2f} {per_s:>10,.0f} {per_s / (rows / raw_s):>7.2f} "
            f"{per_s / (rows / shaped_s):>9.2f} {result['rss_peak'] / 2**20:>8.0f}MB"
        )
    print()
    for result in (small_result, large_result):
        print(
            f"RSS {result['contacts']:>9,} contacts: before sync {result['rss_before'] / 2**20:.0f} MB, "
            f"peak during sync {result['rss_peak'] / 2**20:.0f} MB "
            f"(+{(result['rss_peak'] - result['rss_before']) / 2**20:.0f} MB)"
        )
    grown = (large_result["rss_peak"] - small_result["rss_peak"]) / 2**20
    large_rate = large_result["records"] / large_result["seconds"]
    print(f"peak RSS growth from {small:,} to {large:,} contacts: {grown:+.0f} MB")
    print(
        f"target: >= 10,000 records/s -> {large_rate:,.0f} records/s ({'met' if large_rate >= 10_000 else 'NOT met'})"
    )

    if profiler is not None:
        import pstats

        profiler.dump_stats(profile)
        print()
        pstats.Stats(profiler).sort_stats("tottime").print_stats(15)
    return 0


def _contact_columns(db_connection) -> list[str]:
    with db_connection.cursor() as cursor:
        cursor.execute(
            "SELECT column_name FROM information_schema.columns WHERE table_name = 'core_contact' "
            "AND column_name <> 'id' ORDER BY ordinal_position"
        )
        return [name for (name,) in cursor.fetchall()]


def _dump_contacts(db_connection, path: Path, columns: list[str], connection_id: int) -> None:
    statement = (
        f"COPY (SELECT {', '.join(columns)} FROM core_contact WHERE connection_id = {int(connection_id)}) "
        "TO STDOUT (FORMAT csv, HEADER true)"
    )
    with db_connection.cursor() as cursor, path.open("wb") as handle, cursor.cursor.copy(statement) as copy:
        for chunk in copy:
            handle.write(chunk)


def _copy_ceiling_raw(db_connection, path: Path, columns: list[str], expected: int) -> float:
    """COPY the dumped rows into an index-free table of text columns: the fastest way PostgreSQL takes them."""
    with db_connection.cursor() as cursor:
        cursor.execute("DROP TABLE IF EXISTS syncbench_copy_raw")
        cursor.execute(f"CREATE TABLE syncbench_copy_raw ({', '.join(f'{c} text' for c in columns)})")
        elapsed = _copy_file(cursor, "COPY syncbench_copy_raw FROM STDIN (FORMAT csv, HEADER true)", path)
        cursor.execute("SELECT count(*) FROM syncbench_copy_raw")
        (loaded,) = cursor.fetchone()
        cursor.execute("DROP TABLE syncbench_copy_raw")
    assert loaded == expected, (loaded, expected)
    return elapsed


def _copy_ceiling_shaped(db_connection, path: Path, columns: list[str], expected: int) -> float:
    """COPY the dumped rows into a scratch copy of core_contact: same types, defaults, indexes (unique key
    included) and organization/connection/company foreign keys. The fastest way they land in a table like ours."""
    with db_connection.cursor() as cursor:
        cursor.execute("DROP TABLE IF EXISTS syncbench_copy_shaped")
        cursor.execute("CREATE TABLE syncbench_copy_shaped (LIKE core_contact INCLUDING ALL)")
        cursor.execute(
            "ALTER TABLE syncbench_copy_shaped "
            "ADD FOREIGN KEY (organization_id) REFERENCES core_organization (id) DEFERRABLE INITIALLY DEFERRED, "
            "ADD FOREIGN KEY (connection_id) REFERENCES crm_connectors_crmconnection (id) "
            "DEFERRABLE INITIALLY DEFERRED, "
            "ADD FOREIGN KEY (company_id) REFERENCES core_company (id) DEFERRABLE INITIALLY DEFERRED"
        )
        elapsed = _copy_file(
            cursor, f"COPY syncbench_copy_shaped ({', '.join(columns)}) FROM STDIN (FORMAT csv, HEADER true)", path
        )
        cursor.execute("SELECT count(*) FROM syncbench_copy_shaped")
        (loaded,) = cursor.fetchone()
        cursor.execute("DROP TABLE syncbench_copy_shaped")
    assert loaded == expected, (loaded, expected)
    return elapsed


def _copy_file(cursor, statement: str, path: Path) -> float:
    # Django runs in autocommit here: the timing includes the commit (and its deferred FK checks).
    started = time.perf_counter()
    with cursor.cursor.copy(statement) as copy, path.open("rb") as handle:
        while chunk := handle.read(1 << 20):
            copy.write(chunk)
    return time.perf_counter() - started


if __name__ == "__main__":
    sys.exit(main())
