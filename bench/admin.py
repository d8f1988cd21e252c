"""Staff interface on a 50,000-actor registry: dashboard and filtered registry page times.

Builds a fresh database (a temporary SQLite file, or the PostgreSQL database given with
--database-url, which is emptied), seeds COUNT demo actors with `essbot actors seed-demo`'s
function (bot.demo.seed_demo), creates a staff account, logs in with Flask's test client (the
app in this process: the figures exclude the HTTP server and the network, and include
everything else: routing, login check, queries, charts, templates), then times REQUESTS
requests of each page after WARMUP requests, and prints the median, the 95th percentile, the
ratio of the p95 to the 500 ms target, the median CPU time of this process (which includes
SQLite's work but not PostgreSQL's; less sensitive than wall time to other work on a shared
machine, whose load average is printed) and the page size (target: about 200 KB at most):

- the dashboard with its cache emptied before each request (the cost when the registry has just
  changed, and the first view of each period), for "tout" and "30j";
- the dashboard with its cache, the registry unchanged between two views (with
  ESSBOT_DASHBOARD_MAX_AGE=0, so that each view also checks the registry's fingerprint: the
  dearer of the two cached paths);
- the registry page filtered on the most common quartier and sector of the seeded data
  (``--registry-path``, with ``{quartier}`` and ``{sector}`` filled in; the page is printed as
  measured, and flagged when it does not show the quartier, e.g. a placeholder page);
- the full exports of the registry (every actor), as an agent: the CSV streamed with and
  without gzip, the Excel file sent at once (the old way) and written by the background job
  (bot/registry/jobs.py, what the worker runs): wall time, peak Python memory allocated during
  the export (tracemalloc, measured in a second, separate run: it slows the code), and bytes
  sent to the browser (``--no-exports`` skips them).

    python bench/admin.py [--count 50000] [--requests 20] [--warmup 3] [--seed 1]
        [--database-url postgresql+psycopg://postgres@127.0.0.1:5432/bench_admin]
        [--registry-path "/admin/registry?quartier={quartier}&sector={sector}"] [--no-exports]
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import statistics
import sys
import tempfile
import time
import urllib.parse
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

TARGET_MS = 500.0
TARGET_KB = 200.0
EMAIL, PASSWORD = "bench@mairie.test", "banc-d-essai-admin-1"


def percentile(values: list[float], q: float) -> float:
    """The q-quantile (0-1) of `values` by linear interpolation (numpy's default)."""
    ordered = sorted(values)
    pos = (len(ordered) - 1) * q
    low = int(pos)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (pos - low)


def measure(client, path: str, n: int, warmup: int, before=None) -> dict:
    """Time `n` GETs of `path` after `warmup` ones; `before()` runs before each (untimed).
    Returns {"median_ms", "p95_ms", "cpu_ms" (median CPU time of this process: the app,
    and SQLite, which runs inside it; not PostgreSQL's server), "kb", "status", "body"}."""
    times, cpu = [], []
    response = None
    for i in range(warmup + n):
        if before is not None:
            before()
        t0, c0 = time.perf_counter(), time.process_time()
        response = client.get(path)
        elapsed = (time.perf_counter() - t0) * 1000
        used = (time.process_time() - c0) * 1000
        if response.status_code != 200:
            raise SystemExit(f"{path}: HTTP {response.status_code}")
        if i >= warmup:
            times.append(elapsed)
            cpu.append(used)
    return {"median_ms": statistics.median(times), "p95_ms": percentile(times, 0.95),
            "cpu_ms": statistics.median(cpu),
            "kb": len(response.data) / 1024, "status": response.status_code,
            "body": response.data.decode("utf-8", "replace")}


def main() -> None:
    """Parse the options, seed the database, time the pages and print the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=50_000, help="demo actors")
    parser.add_argument("--requests", type=int, default=20, help="timed requests per page")
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--database-url", default=None,
                        help="PostgreSQL database to use (emptied) [a temporary SQLite file]")
    parser.add_argument("--registry-path",
                        default="/admin/registry?quartier={quartier}&sector={sector}",
                        help="registry page to time; {quartier} and {sector} are filled in")
    parser.add_argument("--no-exports", dest="exports", action="store_false",
                        help="skip the full exports")
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="essbot-bench-admin-"))
    try:
        run(args, tmp)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def run(args: argparse.Namespace, tmp: Path) -> None:
    """Database, seed, login, measurements, report."""
    import logging

    import sqlalchemy as sa

    url = args.database_url or f"sqlite:///{tmp / 'bench.db'}"
    os.environ["ESSBOT_INSTANCE_PATH"] = str(tmp / "instance")
    os.environ.pop("REDIS_URL", None)
    logging.disable(logging.INFO)

    from bot import create_app
    from bot.admin.dashboard import dashboard_data  # noqa: F401  (the module under test)
    from bot.admin.staff import create_staff
    from bot.db import get_engine, make_engine
    from bot.demo import seed_demo
    from bot.migrate import upgrade
    from bot.models import Actor, Base

    if args.database_url:
        engine = make_engine(url, pool_size=1)
        Base.metadata.drop_all(engine)
        with engine.begin() as conn:
            conn.execute(sa.text("DROP TABLE IF EXISTS alembic_version"))
        engine.dispose()
    upgrade(url)
    app = create_app({"DATABASE_URL": url, "ESSBOT_LOGIN_RATE": "",
                      "ESSBOT_DASHBOARD_MAX_AGE": 0})
    database = "SQLite" if url.startswith("sqlite") else "PostgreSQL"
    result = seed_demo(app, args.count, seed=args.seed)
    print(f"{database}: {result.actors} demo actors ({result.unfinished} unfinished, "
          f"{result.deleted} deleted), {result.contacts} contacts seeded in "
          f"{result.seconds:.1f} s (bot.demo.seed_demo)")
    if not url.startswith("sqlite"):
        with get_engine(app).begin() as conn:
            conn.execute(sa.text("ANALYZE"))
    create_staff(app, EMAIL, "viewer", PASSWORD, name="Banc d'essai")

    a = Actor.__table__
    with get_engine(app).connect() as conn:
        registered = a.c.registered_at.is_not(None)
        quartier = conn.execute(sa.select(a.c.quartier).where(registered, a.c.quartier.is_not(
            None)).group_by(a.c.quartier).order_by(sa.func.count().desc()).limit(1)).scalar()
        sector = conn.execute(sa.select(a.c.sector).where(registered, a.c.sector.is_not(None))
                              .group_by(a.c.sector).order_by(sa.func.count().desc())
                              .limit(1)).scalar()

    client = app.test_client()
    page = client.get("/admin/login").data.decode()
    token = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', page).group(1)
    response = client.post("/admin/login", data={"email": EMAIL, "password": PASSWORD,
                                                 "csrf_token": token})
    if response.status_code != 302:
        raise SystemExit(f"login failed: HTTP {response.status_code}")

    cache = app.extensions.setdefault("essbot.dashboard_cache", {})
    registry_path = args.registry_path.format(quartier=urllib.parse.quote(quartier),
                                              sector=urllib.parse.quote(sector))
    runs = [
        ("dashboard, period 'tout', no cache", "/admin/?periode=tout", cache.clear),
        ("dashboard, period '30j', no cache", "/admin/?periode=30j", cache.clear),
        ("dashboard, period 'tout', cached", "/admin/?periode=tout", None),
        ("registry, filtered", registry_path, None),
    ]
    print(f"{args.requests} timed requests per page after {args.warmup} warm-up requests "
          f"(Flask test client, in process); targets: p95 <= {TARGET_MS:.0f} ms, page <= "
          f"~{TARGET_KB:.0f} KB; load average before: {os.getloadavg()[0]:.1f} on "
          f"{os.cpu_count()} cores")
    print(f"{'page':<40} {'median ms':>10} {'p95 ms':>8} {'p95/500ms':>10} {'CPU ms':>7} "
          f"{'KB':>7}")
    for label, path, before in runs:
        got = measure(client, path, args.requests, args.warmup, before)
        print(f"{label:<40} {got['median_ms']:>10.1f} {got['p95_ms']:>8.1f} "
              f"{got['p95_ms'] / TARGET_MS:>10.2f} {got['cpu_ms']:>7.1f} {got['kb']:>7.1f}")
        if path == registry_path:
            shown = quartier in got["body"] or quartier.replace("'", "&#39;") in got["body"]
            print(f"  measured: GET {path}" + ("" if shown else
                  "  (the page does not show the quartier: a placeholder page? the figure "
                  "is not the registry's)"))
    if args.exports:
        exports(app, result.actors)


def _agent_client(app):
    """A test client logged in as an agent (exports need the role); returns (client, token)."""
    from bot.admin.staff import create_staff

    create_staff(app, "agent-" + EMAIL, "agent", PASSWORD, name="Banc d'essai (agent)")
    client = app.test_client()
    page = client.get("/admin/login").data.decode()
    token = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', page).group(1)
    client.post("/admin/login", data={"email": "agent-" + EMAIL, "password": PASSWORD,
                                      "csrf_token": token})
    page = client.get("/admin/registry").data.decode()
    return client, re.search(r'name="csrf_token"[^>]*value="([^"]+)"', page).group(1)


def exports(app, actors: int) -> None:
    """Time the full exports (see the module docstring) and print one line each."""
    import tracemalloc

    from bot.registry.jobs import create_job, run_job

    client, token = _agent_client(app)

    def post(fmt: str, accept: str) -> int:
        response = client.post("/admin/registry/export", data={"csrf_token": token,
                                                               "format": fmt},
                               headers={"Accept-Encoding": accept})
        if response.status_code != 200:
            raise SystemExit(f"export {fmt}: HTTP {response.status_code}")
        return sum(len(chunk) for chunk in response.response)  # consumes the stream

    def job() -> int:
        job_token = create_job(app, "xlsx", {}, staff_id=None, total=actors,
                               download_name="bench.xlsx")
        run_job(app, job_token)
        from bot.registry.jobs import job_file

        return job_file(app, job_token).stat().st_size

    runs = [
        ("CSV, streamed, gzip", lambda: post("csv", "gzip")),
        ("CSV, streamed, uncompressed", lambda: post("csv", "identity")),
        ("Excel, sent at once", lambda: post("xlsx", "gzip")),
        ("Excel, background job (worker)", job),
    ]
    app.config["ESSBOT_EXPORT_INLINE_ROWS"] = 10 ** 9  # "sent at once" stays inline
    print(f"\nFull exports of the registry ({actors} actors), as an agent:")
    print(f"{'export':<34} {'seconds':>8} {'peak MB':>8} {'MB sent':>8}")
    for label, run_one in runs:
        t0 = time.perf_counter()
        size = run_one()
        seconds = time.perf_counter() - t0
        tracemalloc.start()
        run_one()
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
        sent = "(file)" if "job" in label else f"{size / 1e6:.2f}"
        extra = f"  file {size / 1e6:.2f} MB" if "job" in label else ""
        print(f"{label:<34} {seconds:>8.1f} {peak / 1e6:>8.1f} {sent:>8}{extra}")


if __name__ == "__main__":
    main()
