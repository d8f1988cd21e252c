"""Partner API on a 50,000-actor registry: a full incremental sync, a filtered page, stats.

Builds a fresh database (a temporary SQLite file, or the PostgreSQL database given with
--database-url, which is emptied), seeds COUNT demo actors (bot.demo.seed_demo), creates a
read token, and calls the API with Flask's test client (the app in this process: the figures
include routing, the token lookup, the throttle's count over the audit log, the audit line
of each call, the queries and the JSON; not the HTTP server or the network). Prints:

- a full sync: every entry through ``GET /api/v1/actors?status=all&limit=500`` following the
  cursors — pages, seconds, entries per second, median and 95th percentile per page, and
  whether each entry came exactly once;
- the median of a page filtered on the most common quartier and sector (limit 100), of the
  statistics (``/api/v1/stats``) and of an incremental sync with nothing new (the call a
  partner makes every few minutes), against the staff pages' 500 ms target.

    python bench/api.py [--count 50000] [--requests 20] [--seed 1]
        [--database-url postgresql+psycopg://postgres@127.0.0.1:5432/bench_api]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

TARGET_MS = 500.0


def percentile(values: list[float], q: float) -> float:
    """The q-quantile (0-1) of `values` by linear interpolation."""
    ordered = sorted(values)
    pos = (len(ordered) - 1) * q
    low = int(pos)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (pos - low)


def timed(client, path: str, headers: dict) -> tuple[float, dict]:
    """(milliseconds, JSON body) of one GET; exits on a non-200 answer."""
    started = time.perf_counter()
    response = client.get(path, headers=headers)
    ms = (time.perf_counter() - started) * 1000
    if response.status_code != 200:
        sys.exit(f"{path}: {response.status_code} {response.get_data(as_text=True)[:300]}")
    return ms, response.get_json()


def main() -> None:
    """Parse the arguments and run the benchmark in a temporary folder."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--count", type=int, default=50000)
    parser.add_argument("--requests", type=int, default=20)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--database-url", default=None)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        os.environ["ESSBOT_INSTANCE_PATH"] = str(Path(tmp) / "instance")
        run(args, Path(tmp))


def run(args: argparse.Namespace, tmp: Path) -> None:
    """Seed, then print the figures (see the module docstring)."""
    import sqlalchemy as sa

    from bot import create_app
    from bot.api_tokens import create_token
    from bot.db import get_engine
    from bot.demo import seed_demo
    from bot.migrate import upgrade
    from bot.models import Actor, Base

    url = args.database_url or f"sqlite:///{tmp / 'bench.db'}"
    if args.database_url:
        engine = sa.create_engine(url)
        Base.metadata.drop_all(engine)
        with engine.begin() as conn:
            conn.execute(sa.text("DROP TABLE IF EXISTS alembic_version"))
        engine.dispose()
    upgrade(url)
    app = create_app({"DATABASE_URL": url, "ESSBOT_API_SYNC_LAG": 0.0,
                      "ESSBOT_API_RATE": "1000000 per minute"})
    result = seed_demo(app, args.count, seed=args.seed)
    print(f"seeded {result.actors} actors in {result.seconds:.1f} s; database "
          f"{url.split(':', 1)[0]}; load average {os.getloadavg()[0]:.2f}")
    _, token = create_token(app, "bench", "read")
    headers = {"Authorization": f"Token {token}"}
    client = app.test_client()

    page_ms: list[float] = []
    seen: Counter[int] = Counter()
    cursor = None
    started = time.perf_counter()
    while True:
        path = "/api/v1/actors?status=all&limit=500" + (f"&cursor={cursor}" if cursor else "")
        ms, body = timed(client, path, headers)
        page_ms.append(ms)
        seen.update(a["id"] for a in body["data"])
        cursor = body["next_cursor"]
        if not body["has_more"]:
            break
    total = time.perf_counter() - started
    with get_engine(app).connect() as conn:
        expected = conn.execute(sa.select(sa.func.count()).select_from(Actor)).scalar_one()
        quartier, sector = conn.execute(
            sa.select(Actor.quartier, Actor.sector).where(Actor.quartier.is_not(None),
                                                          Actor.sector.is_not(None))
            .group_by(Actor.quartier, Actor.sector)
            .order_by(sa.func.count().desc()).limit(1)).one()
    once = len(seen) == expected and set(seen.values()) == {1}
    print(f"full sync: {len(page_ms)} pages of 500, {len(seen)} entries in {total:.1f} s "
          f"({len(seen) / total:.0f} entries/s); per page median {statistics.median(page_ms):.0f}"
          f" ms, p95 {percentile(page_ms, 0.95):.0f} ms; every entry exactly once: {once}")

    from urllib.parse import quote

    cases = {
        "filtered page (limit 100)": f"/api/v1/actors?quartier={quote(quartier)}"
                                     f"&sector={quote(sector)}&limit=100",
        "statistics (tout)": "/api/v1/stats",
        "incremental sync, nothing new": f"/api/v1/actors?status=all&cursor={cursor}",
    }
    for name, path in cases.items():
        times = [timed(client, path, headers)[0] for _ in range(args.requests + 2)][2:]
        p95 = percentile(times, 0.95)
        print(f"{name}: median {statistics.median(times):.0f} ms, p95 {p95:.0f} ms "
              f"({p95 / TARGET_MS:.2f} of the {TARGET_MS:.0f} ms target)")


if __name__ == "__main__":
    main()
