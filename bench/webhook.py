"""Webhook throughput and latency: the bot against a bare Flask app, same server, same load.

Starts `essbot serve` (gunicorn, gthread) and bench/bare_app.py under the same worker and
thread counts, drives each with the same signed Twilio requests from distinct phones
(`wrk` with a Lua script when installed, else a Python load generator) and prints
requests/s, p50 and p99 latency, errors and the ratio bot / bare Flask — on SQLite and,
when the local server answers, on PostgreSQL.

    python bench/webhook.py [--duration 10] [--connections 32] [--workers 2] [--threads 8]

Every request goes to 127.0.0.1 only; each run is bounded by --duration.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
import urllib.request
from pathlib import Path

from twilio.request_validator import RequestValidator

ROOT = Path(__file__).resolve().parent.parent
TOKEN = "0123456789abcdef0123456789abcdef"
PATH = "/webhooks/twilio/messages"
PG_ADMIN = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"


def free_port() -> int:
    """A free TCP port on 127.0.0.1 (the OS picks it; a tiny race with other programs)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_up(port: int, proc: subprocess.Popen, timeout: float = 30) -> None:
    """Wait until the server on `port` answers; raises RuntimeError if `proc` exits or
    `timeout` seconds pass."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode}")
        try:
            with socket.create_connection(("127.0.0.1", port), 0.2):
                return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError("server did not start")


def make_requests(n: int, base: str, first: int) -> list[tuple[str, str]]:
    """n signed form bodies, each from a different phone, as (body, signature)."""
    validator = RequestValidator(TOKEN)
    out = []
    for i in range(first, first + n):
        sid = f"SM{i:032d}"
        params = {"MessageSid": sid, "SmsSid": sid, "AccountSid": "AC" + "0" * 32,
                  "From": f"+2236{i:07d}", "To": "+15005550006", "Body": "Bonjour",
                  "NumMedia": "0", "NumSegments": "1", "SmsStatus": "received",
                  "ApiVersion": "2010-04-01"}
        out.append((urllib.parse.urlencode(params),
                    validator.compute_signature(base + PATH, params)))
    return out


LUA = """
local reqs = dofile("%(data)s")
local counter = 0
local nthreads = 0
function setup(thread)
  thread:set("tid", nthreads)
  nthreads = nthreads + 1
  for _, t in ipairs(all_threads or {}) do end
end
function init(args)
  counter = 0
end
function request()
  local idx = (tid + counter * %(threads)d) %% #reqs + 1
  counter = counter + 1
  local r = reqs[idx]
  return wrk.format("POST", "%(path)s", {["Content-Type"] = "application/x-www-form-urlencoded",
                     ["X-Twilio-Signature"] = r[2]}, r[1])
end
"""


def _ms(value: str) -> float:
    num, unit = re.match(r"([\d.]+)(\w+)", value).groups()
    return float(num) * {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60000.0}[unit]


def run_wrk(port: int, reqs: list[tuple[str, str]], connections: int, duration: int,
            workdir: Path) -> dict:
    """Drive 127.0.0.1:`port` with wrk for `duration` seconds over `connections` connections,
    cycling through the signed requests `reqs`; return ``{"rps", "p50", "p99" (ms), "errors"
    (non-2xx and socket errors), "requests"}``. Raises CalledProcessError if wrk fails."""
    threads = 2
    data = workdir / "reqs.lua"
    with data.open("w") as fh:
        fh.write("return {\n")
        for body, sig in reqs:
            fh.write(f'{{"{body}","{sig}"}},\n')
        fh.write("}\n")
    script = workdir / "load.lua"
    script.write_text(LUA % {"data": data, "threads": threads, "path": PATH})
    out = subprocess.run(
        ["wrk", f"-t{threads}", f"-c{connections}", f"-d{duration}s", "--latency", "-s",
         str(script), f"http://127.0.0.1:{port}"],
        capture_output=True, text=True, timeout=duration + 60, check=True).stdout
    total = int(re.search(r"(\d+) requests in", out).group(1))
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    sock = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    return {
        "rps": float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1)),
        "p50": _ms(re.search(r"^\s+50%\s+(\S+)$", out, re.M).group(1)),
        "p99": _ms(re.search(r"^\s+99%\s+(\S+)$", out, re.M).group(1)),
        "errors": (int(non2xx.group(1)) if non2xx else 0)
        + (sum(int(x) for x in sock.groups()) if sock else 0),
        "requests": total,
    }


class _Client:
    """One keep-alive connection that posts signed requests and reconnects after an error."""

    def __init__(self, port: int):
        import http.client

        self._factory = lambda: http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        self.conn = self._factory()

    def post(self, body: str, sig: str) -> bool:
        """Post one request; True when the server answered 200."""
        try:
            self.conn.request("POST", PATH, body, {
                "Content-Type": "application/x-www-form-urlencoded", "X-Twilio-Signature": sig})
            resp = self.conn.getresponse()
            resp.read()
            return resp.status == 200
        except OSError:
            self.conn = self._factory()
            return False


def _drive(connections: int, worker) -> tuple[list[float], int, float]:
    """Run `worker(k)` for k in range(connections), one thread each; each returns
    (latencies in seconds, error count). Returns all latencies, errors, elapsed seconds."""
    results: list[tuple[list[float], int]] = []
    lock = threading.Lock()

    def run(k: int) -> None:
        out = worker(k)
        with lock:
            results.append(out)

    threads = [threading.Thread(target=run, args=(k,)) for k in range(connections)]
    start = time.time()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    latencies = [x for lat, _ in results for x in lat]
    return latencies, sum(e for _, e in results), time.time() - start


def _figures(latencies: list[float], errors: int, seconds: float) -> dict:
    q = statistics.quantiles(latencies, n=100)
    return {"rps": len(latencies) / seconds, "p50": q[49] * 1000, "p99": q[98] * 1000,
            "errors": errors, "requests": len(latencies)}


def run_python(port: int, reqs: list[tuple[str, str]], connections: int, duration: int,
               workdir: Path) -> dict:
    """Closed-loop load from `connections` threads with keep-alive connections."""
    stop = time.time() + duration
    counter = iter(range(10**9))

    def worker(_k: int) -> tuple[list[float], int]:
        client, lat, errors = _Client(port), [], 0
        while time.time() < stop:
            body, sig = reqs[next(counter) % len(reqs)]
            t0 = time.perf_counter()
            errors += not client.post(body, sig)
            lat.append(time.perf_counter() - t0)
        return lat, errors

    return _figures(*_drive(connections, worker))


def run_fixed_rate(port: int, reqs: list[tuple[str, str]], connections: int, duration: int,
                   rate: float) -> dict:
    """Open-loop load: `rate` requests/s spread over `connections` keep-alive connections.

    Latency is measured from each request's scheduled time, so a stalled server shows
    up in the figures (no coordinated omission).
    """
    start = time.perf_counter() + 0.2
    total = int(rate * duration)

    def worker(k: int) -> tuple[list[float], int]:
        client, lat, errors = _Client(port), [], 0
        for j in range(k, total, connections):
            due = start + j / rate
            delay = due - time.perf_counter()
            if delay > 0:
                time.sleep(delay)
            body, sig = reqs[j % len(reqs)]
            errors += not client.post(body, sig)
            lat.append(time.perf_counter() - due)
        return lat, errors

    latencies, errors, _elapsed = _drive(connections, worker)
    return _figures(latencies, errors, duration)


def measure(cmd: list[str], env: dict, port: int, reqs, args, workdir: Path,
            sign_base: str) -> dict:
    """Start the server `cmd`, run the saturating load then the fixed-rate load; stop it.

    `sign_base` is the public URL the requests are signed for (the bot checks it).
    """
    # Server logs go to a file: an unread pipe would fill and stall the workers.
    log = open(workdir / f"server-{port}.log", "w")
    proc = subprocess.Popen(cmd, env=env, stdout=log, stderr=subprocess.STDOUT, cwd=ROOT)
    try:
        wait_up(port, proc)
        # Warm up every worker on requests the measured run does not use.
        for body, sig in make_requests(20, f"http://127.0.0.1:{port}", 9 * 10**6):
            req = urllib.request.Request(f"http://127.0.0.1:{port}{PATH}", body.encode(),
                                         {"X-Twilio-Signature": sig})
            urllib.request.urlopen(req, timeout=10).read()
        loader = run_wrk if shutil.which("wrk") and not args.python_load else run_python
        result = loader(port, reqs, args.connections, args.duration, workdir)
        result["wrapped"] = result["requests"] > len(reqs)
        if args.rate:
            # Fresh requests (other phones) for the fixed-rate run.
            fixed = make_requests(int(args.rate * args.duration), sign_base, 5 * 10**6)
            result["fixed"] = run_fixed_rate(port, fixed, args.connections, args.duration,
                                             args.rate)
        return result
    finally:
        proc.terminate()
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()


def pg_available() -> bool:
    """Whether the local PostgreSQL (127.0.0.1, user postgres) accepts a connection."""
    try:
        import psycopg

        psycopg.connect("host=127.0.0.1 user=postgres dbname=postgres", connect_timeout=2).close()
        return True
    except Exception:  # noqa: BLE001 — any failure means "skip PostgreSQL"
        return False


def pg_exec(sql: str) -> None:
    """Run one statement on the local PostgreSQL's `postgres` database in autocommit
    (CREATE/DROP DATABASE)."""
    import psycopg

    with psycopg.connect("host=127.0.0.1 user=postgres dbname=postgres", autocommit=True) as c:
        c.execute(sql)


def bench_backend(name: str, args, workdir: Path) -> tuple[dict, dict]:
    """Serve the bot and the bare app on `name` ("sqlite" or "postgresql"), load both saturated
    and at a fixed rate; return (bot, bare) figures as dicts of runs."""
    bot_port, bare_port = free_port(), free_port()
    env = dict(os.environ, TWILIO_AUTH_TOKEN=TOKEN,
               ESSBOT_PUBLIC_URL=f"http://127.0.0.1:{bot_port}",
               ESSBOT_INSTANCE_PATH=str(workdir / f"instance-{name}"))
    db_name = None
    if name == "sqlite":
        env["DATABASE_URL"] = f"sqlite:///{workdir / 'bench.db'}"
    else:
        db_name = f"essbot_bench_{os.getpid()}"
        pg_exec(f"DROP DATABASE IF EXISTS {db_name}")
        pg_exec(f"CREATE DATABASE {db_name}")
        env["DATABASE_URL"] = f"postgresql+psycopg://postgres@127.0.0.1:5432/{db_name}"
        subprocess.run([sys.executable, "-m", "bot.cli", "db", "upgrade"], env=env, cwd=ROOT,
                       check=True, capture_output=True)
    try:
        reqs = make_requests(args.requests, f"http://127.0.0.1:{bot_port}", 0)
        serve = [sys.executable, "-m", "bot.cli", "serve", "--no-queue-worker",
                 "--port", str(bot_port),
                 "--workers", str(args.workers), "--threads", str(args.threads)]
        bot = measure(serve, env, bot_port, reqs, args, workdir, env["ESSBOT_PUBLIC_URL"])
        bare_cmd = [sys.executable, str(ROOT / "bench" / "bare_app.py"), str(bare_port),
                    str(args.workers), str(args.threads)]
        bare = measure(bare_cmd, dict(os.environ, PYTHONPATH=str(ROOT)), bare_port, reqs, args,
                       workdir, env["ESSBOT_PUBLIC_URL"])
    finally:
        if db_name:
            pg_exec(f"DROP DATABASE IF EXISTS {db_name} WITH (FORCE)")
    return bot, bare


def main() -> None:
    """Parse the options, run the benchmark on each available backend and print the table and
    ratios."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=int, default=10, help="seconds per run")
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--threads", type=int, default=8)
    parser.add_argument("--requests", type=int, default=40000,
                        help="distinct signed requests prepared (distinct phones)")
    parser.add_argument("--python-load", action="store_true", help="use the Python load generator")
    parser.add_argument("--backends", default="sqlite,postgresql")
    parser.add_argument("--keep-logs", action="store_true", help="keep server logs")
    parser.add_argument("--rate", type=float, default=100.0,
                        help="requests/s of the fixed-rate latency run (0: skip it)")
    args = parser.parse_args()

    loader = "wrk" if shutil.which("wrk") and not args.python_load else "python"
    print(f"load: {loader}, {args.connections} connections, {args.duration} s; server: gunicorn "
          f"gthread {args.workers} workers x {args.threads} threads; {os.cpu_count()} CPUs")
    print(f"{'backend':<11}{'app':<6}{'req/s':>9}{'p50 ms':>9}{'p99 ms':>9}{'errors':>8}")
    with tempfile.TemporaryDirectory(prefix="essbot-bench-") as tmp:
        if args.keep_logs:
            tmp = tempfile.mkdtemp(prefix="essbot-bench-logs-")
            print(f"logs in {tmp}")
        for name in args.backends.split(","):
            if name == "postgresql" and not pg_available():
                print("postgresql: not reachable on 127.0.0.1:5432, skipped")
                continue
            bot, bare = bench_backend(name, args, Path(tmp))
            for label, r in (("bot", bot), ("bare", bare)):
                print(f"{name:<11}{label:<6}{r['rps']:>9.0f}{r['p50']:>9.1f}{r['p99']:>9.1f}"
                      f"{r['errors']:>8}  saturated"
                      + ("  (requests reused)" if r["wrapped"] and label == "bot" else ""))
                if "fixed" in r:
                    f = r["fixed"]
                    print(f"{name:<11}{label:<6}{f['rps']:>9.0f}{f['p50']:>9.1f}{f['p99']:>9.1f}"
                          f"{f['errors']:>8}  fixed rate {args.rate:g}/s")
            print(f"{name:<11}ratio bot/bare (saturated req/s): {bot['rps'] / bare['rps']:.2f}")


if __name__ == "__main__":
    main()
