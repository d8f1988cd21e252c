"""Broadcast to 100,000 contacts: preview time, outbox write time, peak memory, send throughput.

Builds a registry of N contacts (SMS and WhatsApp, French and Bambara, some opted out) in a
fresh database, then:

1. **plan** (in a fresh process, so its peak memory is the planner's own): create a broadcast to
   everyone, time `planner.preview` (one GROUP BY) and `planner.start` (the outbox written in
   one transaction), and read the process's peak RSS;
2. **capacity**: the fake Twilio (tests/fake_twilio.py, its own process) at LATENCY seconds per
   request and CONCURRENCY requests in flight (beyond: 429 / 20429, like Twilio's concurrency
   limit) — the messages per second CONCURRENCY plain HTTP clients get from it, measured in this
   run. The limit keeps the capacity Twilio-like (latency-bound) rather than a measure of the
   fake's own CPU on a 2-core machine; the fake closes every connection, for the probe and the
   workers alike;
3. **send**: WORKERS `essbot worker` processes of THREADS threads send the broadcast through the
   real path (queue, rate limiter at a high setting, claim, twilio-python, record) for SECONDS,
   then the broadcast is cancelled; throughput = messages accepted / time from the first claim
   to the last acceptance, compared with the capacity.

    python bench/broadcast.py [--contacts 100000] [--seconds 60] [--workers 2] [--threads 8]
        [--latency 0.05] [--concurrency 10] [--database-url URL] [--redis-url URL]

Targets (issue 7): preview <= 1 s, outbox <= 10 s, peak memory <= 300 MB, throughput >= 90 %
of capacity with 2 workers. Without --database-url a temporary SQLite file is used, and the
queue is SqliteHuey unless --redis-url is given. A PostgreSQL database given here is emptied.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import random
import resource
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

TARGETS = {"preview_s": 1.0, "outbox_s": 10.0, "peak_mb": 300.0, "ratio": 0.90}


def populate(app, n: int, seed: int = 7) -> dict[str, int]:
    """Insert `n` contacts (and an actor for 80 % of them) in batches; return counts by kind."""
    import sqlalchemy as sa

    from bot.db import transaction
    from bot.engine.schema import load_dialogs
    from bot.models import Actor, Contact, utcnow

    rng = random.Random(seed)
    quartiers = load_dialogs().places("registration").names()
    sectors = ["artisanat_production", "commerce", "textile", "agriculture", "restauration"]
    now = utcnow()
    counts = {"sms": 0, "whatsapp_open": 0, "whatsapp_closed": 0, "both": 0, "opted_out": 0,
              "console": 0}
    c, a = Contact.__table__, Actor.__table__
    batch_c, batch_a = [], []

    def flush() -> None:
        with transaction(app) as conn:
            conn.execute(sa.insert(c), batch_c)
            ids = dict(conn.execute(sa.select(c.c.phone, c.c.id).where(
                c.c.phone.in_([row["phone"] for row in batch_c]))).all())
            for row in batch_a:
                row["contact_id"] = ids.pop(row.pop("phone"))
            if batch_a:
                conn.execute(sa.insert(a), batch_a)
        batch_c.clear()
        batch_a.clear()

    for i in range(n):
        r = rng.random()
        kind = ("sms" if r < 0.58 else "whatsapp_open" if r < 0.70 else "whatsapp_closed"
                if r < 0.83 else "both" if r < 0.95 else "opted_out" if r < 0.98 else "console")
        counts[kind] += 1
        phone = f"+2237{i:07d}"
        sms_at = now - timedelta(days=rng.randint(1, 300)) if kind in ("sms", "both",
                                                                         "opted_out") else None
        wa_at = (now - timedelta(hours=rng.randint(1, 20)) if kind in ("whatsapp_open", "both")
                 else now - timedelta(days=rng.randint(2, 90)) if kind == "whatsapp_closed"
                 else None)
        batch_c.append({"phone": phone, "language": "bm" if rng.random() < 0.4 else "fr",
                        "last_channel": "whatsapp" if wa_at else "sms" if sms_at else "console",
                        "last_inbound_sms_at": sms_at, "last_inbound_whatsapp_at": wa_at,
                        "opted_out": kind == "opted_out", "created_at": now, "updated_at": now})
        if rng.random() < 0.8:
            batch_a.append({"phone": phone, "quartier": rng.choice(quartiers),
                            "sector": rng.choice(sectors), "kind": "individu",
                            "birth_year": rng.randint(1950, 2008),
                            "needs": rng.sample(["formation", "financement", "equipement"], 1),
                            "registered_at": now, "created_at": now, "updated_at": now})
        if len(batch_c) >= 5000:
            flush()
    if batch_c:
        flush()
    return counts


def plan_phase() -> None:
    """In a fresh process: create the broadcast, time preview and outbox, print JSON."""
    from bot import create_app
    from bot.broadcasts import planner

    app = create_app()
    text_fr = ("Formation gratuite en gestion pour les artisans et coopératives, lundi 9h à la "
               "mairie de la Commune III. Inscription au service ESS.")
    text_bm = "Kalan bɛ kɛ tɛnɛnlon 9h mairie la. Aw ka aw tɔgɔ sɛbɛn ESS la."
    bid = planner.create(app, title="Formation gestion", text_fr=text_fr, text_bm=text_bm)
    t0 = time.perf_counter()
    preview = planner.preview(app, bid)
    preview_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    plan = planner.start(app, bid)
    outbox_s = time.perf_counter() - t0
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"broadcast": bid, "preview_s": preview_s, "outbox_s": outbox_s,
                      "peak_mb": peak_mb, "recipients": preview["recipients"],
                      "pending": plan["pending"], "by_channel": plan["by_channel"],
                      "parts": plan["parts"], "skipped": plan["skipped"]}))


def main() -> None:
    """Parse the options and run the bench (or its plan phase) in a temporary folder."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--contacts", type=int, default=100_000)
    parser.add_argument("--seconds", type=float, default=60.0, help="sending time measured")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--threads", type=int, default=8, help="threads per worker")
    parser.add_argument("--latency", type=float, default=0.05, help="fake Twilio, s/request")
    parser.add_argument("--concurrency", type=int, default=10, help="fake Twilio, in flight")
    parser.add_argument("--database-url", default=None, help="[a temporary SQLite file]")
    parser.add_argument("--redis-url", default=None, help="[SqliteHuey]")
    parser.add_argument("--phase", choices=["plan"], help=argparse.SUPPRESS)
    parser.add_argument("--keep", action="store_true", help="keep the temporary folder")
    args = parser.parse_args()
    if args.phase == "plan":
        plan_phase()
        return
    logging.basicConfig(level=logging.WARNING)
    tmp = Path(tempfile.mkdtemp(prefix="essbot-bench-broadcast-"))
    procs: list[subprocess.Popen] = []
    try:
        run(args, tmp, procs)
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.send_signal(signal.SIGINT)
        for proc in procs:
            try:
                proc.wait(15)
            except subprocess.TimeoutExpired:
                proc.kill()
        if args.keep:
            print(f"files in {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)


def run(args: argparse.Namespace, tmp: Path, procs: list[subprocess.Popen]) -> None:
    """Registry, plan phase, capacity probe, workers, report; started processes go in `procs`."""
    import sqlalchemy as sa

    fake = subprocess.Popen([sys.executable, str(ROOT / "tests" / "fake_twilio.py"), "--latency",
                             str(args.latency), "--concurrency", str(args.concurrency),
                             "--no-bodies"], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                            text=True, cwd=ROOT)
    procs.append(fake)
    fake_url = fake.stdout.readline().strip()
    url = args.database_url or f"sqlite:///{tmp / 'bench.db'}"
    env = {k: v for k, v in os.environ.items() if k not in ("REDIS_URL",)}
    env.update({
        "DATABASE_URL": url, "ESSBOT_INSTANCE_PATH": str(tmp / "instance"),
        "TWILIO_ACCOUNT_SID": "AC" + "0" * 32, "TWILIO_AUTH_TOKEN": "bench" * 6,
        "TWILIO_API_BASE_URL": fake_url, "TWILIO_SMS_FROM": "+15005550006",
        "TWILIO_WHATSAPP_FROM": "whatsapp:+14155238886", "TWILIO_HTTP_TIMEOUT": "5",
        "ESSBOT_BROADCAST_LEASE": "30", "ESSBOT_BROADCAST_TICK": "5",
        "ESSBOT_SEND_RATE_PARTS": "100000", "ESSBOT_SEND_RATE_WHATSAPP": "100000",
        "ESSBOT_QUEUE_NAME": f"essbot-bench-{uuid.uuid4().hex[:8]}", "ESSBOT_PRICE_PER_PART": "25",
    })
    if args.redis_url:
        env["REDIS_URL"] = args.redis_url
    os.environ.update(env)
    if not args.redis_url:
        os.environ.pop("REDIS_URL", None)

    from bot import create_app
    from bot.broadcasts import planner
    from bot.broadcasts.models import Broadcast, Outbox
    from bot.broadcasts.tasks import BroadcastQueue
    from bot.db import get_engine
    from bot.migrate import upgrade
    from bot.models import Base

    if args.database_url:
        engine = sa.create_engine(url.replace("postgresql://", "postgresql+psycopg://", 1)
                                  if url.startswith("postgresql://") else url)
        Base.metadata.drop_all(engine)
        with engine.begin() as conn:
            conn.execute(sa.text("DROP TABLE IF EXISTS alembic_version"))
        engine.dispose()
    upgrade(url)
    app = create_app()
    t0 = time.perf_counter()
    counts = populate(app, args.contacts)
    print(f"registry: {args.contacts} contacts in {time.perf_counter() - t0:.1f} s "
          f"({', '.join(f'{k} {v}' for k, v in counts.items())}); database "
          f"{'SQLite' if url.startswith('sqlite') else 'PostgreSQL'}, queue "
          f"{'Redis' if args.redis_url else 'SqliteHuey'}")

    out = subprocess.run([sys.executable, __file__, "--phase", "plan"], env=os.environ.copy(),
                         capture_output=True, text=True, cwd=ROOT, check=True)
    plan = json.loads(out.stdout.strip().splitlines()[-1])
    bid = plan["broadcast"]
    print(f"preview: {plan['preview_s']:.3f} s for {plan['recipients']} recipients "
          f"{plan['by_channel']}, skipped {plan['skipped']}")
    print(f"outbox:  {plan['outbox_s']:.2f} s for {plan['pending']} rows to send "
          f"(+ skipped rows), one transaction")
    print(f"memory:  {plan['peak_mb']:.0f} MB peak RSS of the planning process")

    queue = BroadcastQueue(app)
    t0 = time.perf_counter()
    ids = planner.pending_ids(app, bid)
    tasks = queue.enqueue(ids)
    print(f"enqueue: {tasks} tasks ({len(ids)} ids) in {time.perf_counter() - t0:.2f} s")
    del ids

    from tests.fake_twilio import measure_capacity

    capacity = measure_capacity(fake_url, 5.0, args.concurrency)
    print(f"fake Twilio capacity: {capacity:.0f} messages/s ({args.concurrency} in flight at "
          f"{args.latency * 1000:.0f} ms; theoretical {args.concurrency / args.latency:.0f})")

    logs = [open(tmp / f"worker-{i}.log", "w") for i in range(args.workers)]
    for i in range(args.workers):
        procs.append(subprocess.Popen([sys.executable, "-m", "bot.broadcasts.cli", "worker",
                                       "--threads", str(args.threads)], env=os.environ.copy(),
                                      cwd=ROOT, stdout=logs[i], stderr=subprocess.STDOUT))
    o = Outbox.__table__
    deadline = time.monotonic() + args.seconds + 5  # workers start in about a second
    while time.monotonic() < deadline:
        time.sleep(1)
        with get_engine(app).connect() as conn:
            state = conn.execute(sa.select(Broadcast.__table__.c.state).where(
                Broadcast.__table__.c.id == bid)).scalar()
        if state != "sending":
            break
    if state == "sending":
        planner.cancel(app, bid)
    for proc in procs[1:]:
        proc.send_signal(signal.SIGINT)
    for proc in procs[1:]:
        proc.wait(30)
    workers_mb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    with get_engine(app).connect() as conn:
        sent, first, last = conn.execute(sa.select(
            sa.func.count(), sa.func.min(o.c.claimed_at), sa.func.max(o.c.sent_at)).where(
            o.c.broadcast_id == bid, o.c.state == "sent")).one()
        by_state = dict(conn.execute(sa.select(o.c.state, sa.func.count()).where(
            o.c.broadcast_id == bid).group_by(o.c.state)).all())
    elapsed = (last - first).total_seconds() if sent else 0.0
    throughput = sent / elapsed if elapsed else 0.0
    ratio = throughput / capacity if capacity else 0.0
    print(f"send:    {sent} messages in {elapsed:.1f} s = {throughput:.0f} messages/s with "
          f"{args.workers} workers x {args.threads} threads; rows {by_state}")
    print(f"         {ratio:.0%} of the fake's capacity; worker peak RSS {workers_mb:.0f} MB")
    results = {"preview_s": plan["preview_s"], "outbox_s": plan["outbox_s"],
               "peak_mb": plan["peak_mb"], "ratio": ratio}
    verdicts = []
    for name, target in TARGETS.items():
        ok = results[name] >= target if name == "ratio" else results[name] <= target
        verdicts.append(f"{name} {'ok' if ok else 'MISSED'}")
    print("targets: " + ", ".join(verdicts))


if __name__ == "__main__":
    main()
