"""SMS gateway webhook answer time against the app's wait (about 5 s, docs/sms-gateway.md).

Serves the bot on a loopback port (werkzeug, threaded, SQLite in a temporary folder), posts
signed ``sms:received`` bodies from distinct phones, several at a time, and prints p50, p99
and the slowest answer time in milliseconds, and the slowest answer as a share of the 5 s
the phone waits. Replies are queued, not sent (the queue is a file in the temporary folder):
what the phone waits for is the store-and-process step alone.

    python bench/smsgate_webhook.py [--requests 300] [--concurrency 8]

Every request goes to 127.0.0.1 only; the run is bounded by --requests.
"""

from __future__ import annotations

import argparse
import concurrent.futures as cf
import json
import os
import statistics
import tempfile
import threading
import time
import uuid
from datetime import datetime, timezone
from pathlib import Path

import requests

APP_WAIT_S = 5.0
KEY = "bench-signing-key"


def _body(i: int) -> bytes:
    doc = {"deviceId": "bench", "event": "sms:received", "id": uuid.uuid4().hex,
           "payload": {"messageId": f"{i:08x}", "message": "Bonjour", "sender": f"+2237{i:07d}",
                       "receivedAt": datetime.now(timezone.utc).isoformat()}}
    return json.dumps(doc).encode()


def main() -> None:
    """Run the measurement and print the figures (see the module docstring)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=300)
    parser.add_argument("--concurrency", type=int, default=8)
    args = parser.parse_args()

    from werkzeug.serving import make_server

    from bot import create_app
    from bot.channels.smsgate import signature_for
    from bot.migrate import upgrade

    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite:///{Path(tmp) / 'bench.db'}"
        upgrade(url)
        os.environ["ESSBOT_INSTANCE_PATH"] = tmp  # the instance folder is read from there
        app = create_app({"DATABASE_URL": url, "ESSBOT_QUEUE_PATH": str(Path(tmp) / "queue.db"),
                          "SMSGATE_SIGNING_KEY": KEY, "ESSBOT_SMS_PROVIDER": "smsgate",
                          "SMSGATE_URL": "http://127.0.0.1:9", "SMSGATE_USERNAME": "u",
                          "SMSGATE_PASSWORD": "p"})
        server = make_server("127.0.0.1", 0, app, threaded=True)
        thread = threading.Thread(target=server.serve_forever, daemon=True)
        thread.start()
        target = f"http://127.0.0.1:{server.server_port}/webhooks/smsgate"

        def one(i: int) -> tuple[int, float]:
            body = _body(i)
            stamp = str(int(time.time()))
            headers = {"Content-Type": "application/json", "X-Timestamp": stamp,
                       "X-Signature": signature_for(KEY, body, stamp)}
            started = time.perf_counter()
            status = requests.post(target, data=body, headers=headers, timeout=30).status_code
            return status, time.perf_counter() - started

        try:
            with cf.ThreadPoolExecutor(args.concurrency) as pool:
                results = list(pool.map(one, range(args.requests)))
        finally:
            server.shutdown()
            thread.join(5)
    times = sorted(t for _, t in results)
    errors = sum(1 for s, _ in results if s != 200)
    p50 = statistics.median(times) * 1000
    p99 = times[max(0, int(len(times) * 0.99) - 1)] * 1000
    worst = times[-1] * 1000
    print(f"requests {len(results)}  concurrency {args.concurrency}  non-200 {errors}")
    print(f"answer time ms: p50 {p50:.1f}  p99 {p99:.1f}  max {worst:.1f}")
    print(f"slowest answer / the app's {APP_WAIT_S:.0f} s wait: {worst / (APP_WAIT_S * 1000):.3f}")


if __name__ == "__main__":
    main()
