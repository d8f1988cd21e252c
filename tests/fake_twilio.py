"""A fake Twilio REST server on loopback, for broadcast tests and bench/broadcast.py.

Serves what twilio-python calls for Messages (docs/twilio.md "Outbound"):
``POST /2010-04-01/Accounts/{sid}/Messages.json`` (create) and ``GET …/Messages.json?To=…``
(list, most recent first — used by reconciliation). Behaviours, all configurable:

- ``latency`` seconds per request (create and list);
- ``concurrency``: requests in flight beyond it get 429 / 20429 at once (Twilio's "too many
  concurrent requests") — this bounds the server's capacity at ``concurrency / latency``;
- ``throttle(n)``: the next n creates get 429 / 20429 (a burst);
- numbers in ``invalid`` → 400 / 21211, ``landline`` → 400 / 21614, ``stopped`` → 400 / 21610;
- WhatsApp free text to numbers in ``window_closed`` → 400 / 63016 (``window_mode="sync"``) or
  accepted then a ``failed`` / 63016 status callback (``"async"``, what Twilio really does);
- ``fail_after_create(n, status)``: the next n creates are stored, then answered 500 (or
  ``hang`` seconds late) — an outcome the client cannot know;
- status callbacks: with ``callback_target`` (the app's base URL) every accepted message gets
  the statuses of ``callback_plan(message)`` posted, signed with ``auth_token`` over the
  public URL Twilio would have called (``StatusCallback``), possibly out of order / repeated;
- every request is recorded (``requests``; ``creates()`` gives the accepted messages).

Run alone (``python tests/fake_twilio.py --port 8099 --latency 0.05``) for manual tests.
"""

from __future__ import annotations

import itertools
import json
import random
import threading
import time
from collections import defaultdict
from email.utils import format_datetime
from datetime import datetime, timezone
from typing import Callable, Iterable
from urllib.parse import urlsplit

from werkzeug.wrappers import Request, Response

from tests.loopback import LoopbackServer

# The account of the recorded requests (shared/samples/twilio): inbound webhooks must carry
# the configured TWILIO_ACCOUNT_SID (issue 13).
ACCOUNT = "AC" + "0" * 31 + "1"


def _error(status: int, code: int, message: str) -> Response:
    return Response(json.dumps({"code": code, "message": message, "status": status,
                                "more_info": f"https://www.twilio.com/docs/errors/{code}"}),
                    status=status, mimetype="application/json")


class FakeTwilio(LoopbackServer):
    """The fake server; use as a context manager (``with FakeTwilio(latency=0.05) as fake``)."""

    def __init__(self, latency: float = 0.0, concurrency: int = 1000, *,
                 invalid: Iterable[str] = (), landline: Iterable[str] = (),
                 stopped: Iterable[str] = (), window_closed: Iterable[str] = (),
                 window_mode: str = "sync", auth_token: str | None = None,
                 callback_target: str | None = None,
                 callback_plan: Callable[[dict], list[tuple[str, int | None]]] | None = None,
                 record_bodies: bool = True, port: int = 0):
        self.latency = latency
        self.concurrency = concurrency
        self.invalid, self.landline = set(invalid), set(landline)
        self.stopped, self.window_closed = set(stopped), set(window_closed)
        self.window_mode = window_mode
        self.auth_token = auth_token
        self.callback_target = callback_target
        self.callback_plan = callback_plan or (lambda m: [("sent", None), ("delivered", None)])
        self.record_bodies = record_bodies
        self.requests: list[dict] = []
        self.messages: dict[str, dict] = {}
        self.by_to: dict[str, list[str]] = defaultdict(list)
        self._lock = threading.Lock()
        self._in_flight = 0
        self._throttle = 0
        self._fail_after: list[tuple[int, float]] = []
        self._sids = itertools.count(1)
        self.callbacks_posted = 0
        self._callback_threads: list[threading.Thread] = []
        self._serve(port)

    # --- control -------------------------------------------------------------------------------

    def throttle(self, n: int) -> None:
        """The next `n` create requests get 429 / 20429."""
        with self._lock:
            self._throttle += n

    def fail_after_create(self, n: int, status: int = 500, hang: float = 0.0) -> None:
        """The next `n` creates are stored, then answered with `status` (after `hang` extra
        seconds: longer than the client's timeout makes a timeout)."""
        with self._lock:
            self._fail_after.extend([(status, hang)] * n)

    def creates(self) -> list[dict]:
        """Messages the fake accepted (stored), in order."""
        with self._lock:
            return list(self.messages.values())

    def per_recipient(self) -> dict[str, int]:
        """How many messages each address (``To``) received."""
        counts: dict[str, int] = defaultdict(int)
        for message in self.creates():
            counts[message["to"]] += 1
        return dict(counts)

    def wait_callbacks(self, timeout: float = 10.0) -> None:
        """Wait until every status callback thread has finished."""
        deadline = time.monotonic() + timeout
        for thread in list(self._callback_threads):
            thread.join(max(0.0, deadline - time.monotonic()))

    # --- server --------------------------------------------------------------------------------

    @Request.application
    def app(self, request: Request) -> Response:
        """The WSGI app: concurrency check, latency, then list or create."""
        with self._lock:
            self._in_flight += 1
            busy = self._in_flight > self.concurrency
        try:
            if busy:
                self._record(request, 429)
                return _error(429, 20429, "Too Many Requests")
            if self.latency:
                time.sleep(self.latency)
            if not request.path.startswith(f"/2010-04-01/Accounts/{ACCOUNT}/Messages"):
                return _error(404, 20404, "The requested resource was not found")
            if request.method == "GET":
                self._record(request, 200)
                return self._list(request)
            return self._create(request)
        finally:
            with self._lock:
                self._in_flight -= 1

    def _record(self, request: Request, status: int) -> None:
        form = request.form.to_dict() if request.method == "POST" else {}
        if not self.record_bodies:
            form.pop("Body", None)
        entry = {"method": request.method, "path": request.path, "form": form,
                 "query": request.args.to_dict(), "status": status, "at": time.time()}
        with self._lock:
            self.requests.append(entry)

    def _create(self, request: Request) -> Response:
        form = request.form
        to = form.get("To", "")
        phone = to.split(":", 1)[-1]
        whatsapp = to.startswith("whatsapp:")
        with self._lock:
            if self._throttle > 0:
                self._throttle -= 1
                throttled = True
            else:
                throttled = False
            fail = self._fail_after.pop(0) if self._fail_after and not throttled else None
        if throttled:
            self._record(request, 429)
            return _error(429, 20429, "Too Many Requests")
        if phone in self.invalid:
            self._record(request, 400)
            return _error(400, 21211, "The 'To' number is not a valid phone number.")
        if phone in self.landline and not whatsapp:
            self._record(request, 400)
            return _error(400, 21614, "'To' number is not a valid mobile number")
        if phone in self.stopped:
            self._record(request, 400)
            return _error(400, 21610, "Attempt to send to unsubscribed recipient")
        closed = whatsapp and phone in self.window_closed and not form.get("ContentSid")
        if closed and self.window_mode == "sync":
            self._record(request, 400)
            return _error(400, 63016, "Failed to send freeform message because you are outside "
                                      "the allowed window.")
        now = datetime.now(timezone.utc)
        sid = f"SM{next(self._sids):032x}"
        sender = form.get("From") or form.get("MessagingServiceSid")
        message = {"sid": sid, "to": to, "from": sender,
                   "body": form.get("Body", "") if self.record_bodies else "",
                   "content_sid": form.get("ContentSid"),
                   "content_variables": form.get("ContentVariables"),
                   "status_callback": form.get("StatusCallback"), "status": "queued",
                   "direction": "outbound-api", "date_created": format_datetime(now, usegmt=True),
                   "created": now, "window_closed": closed}
        with self._lock:
            self.messages[sid] = message
            self.by_to[to].append(sid)
        self._record(request, 500 if fail else 201)
        if fail is not None:
            time.sleep(fail[1])
            return _error(fail[0], 20500, "Internal Server Error")
        if message["status_callback"] and self.callback_target:
            plan = [("failed", 63016)] if closed else self.callback_plan(message)
            thread = threading.Thread(target=self._post_callbacks, args=(message, plan),
                                      daemon=True)
            self._callback_threads.append(thread)
            thread.start()
        return Response(json.dumps(self._resource(message)), status=201,
                        mimetype="application/json")

    def _resource(self, message: dict) -> dict:
        return {"sid": message["sid"], "account_sid": ACCOUNT, "to": message["to"],
                "from": message["from"], "body": message["body"], "status": message["status"],
                "direction": message["direction"], "date_created": message["date_created"],
                "date_updated": message["date_created"], "date_sent": None,
                "num_segments": "1", "error_code": None, "error_message": None,
                "uri": f"/2010-04-01/Accounts/{ACCOUNT}/Messages/{message['sid']}.json"}

    def _list(self, request: Request) -> Response:
        to = request.args.get("To")
        size = min(int(request.args.get("PageSize") or 50), 1000)
        with self._lock:
            sids = list(self.by_to.get(to, [])) if to else list(self.messages)
            found = [self._resource(self.messages[s]) for s in reversed(sids)][:size]
        uri = f"/2010-04-01/Accounts/{ACCOUNT}/Messages.json"
        return Response(json.dumps({"messages": found, "page": 0, "page_size": size,
                                    "first_page_uri": uri, "next_page_uri": None,
                                    "previous_page_uri": None, "uri": uri, "start": 0,
                                    "end": len(found)}), mimetype="application/json")

    def _post_callbacks(self, message: dict, plan: list[tuple[str, int | None]]) -> None:
        import requests
        from twilio.request_validator import RequestValidator

        public = message["status_callback"]
        parts = urlsplit(public)
        target = self.callback_target.rstrip("/") + parts.path + (
            f"?{parts.query}" if parts.query else "")
        for status, code in plan:
            params = {"MessageSid": message["sid"], "MessageStatus": status,
                      "AccountSid": ACCOUNT, "To": message["to"], "ApiVersion": "2010-04-01"}
            if code:
                params["ErrorCode"] = str(code)
            signature = RequestValidator(self.auth_token or "").compute_signature(public, params)
            try:
                requests.post(target, data=params, headers={"X-Twilio-Signature": signature},
                              timeout=10)
                with self._lock:
                    self.callbacks_posted += 1
            except requests.RequestException:
                pass
            time.sleep(random.uniform(0, 0.01))

    # --- capacity ------------------------------------------------------------------------------

    def measure_capacity(self, seconds: float = 3.0, clients: int | None = None) -> float:
        """Messages per second this server accepts from `clients` plain HTTP clients (default:
        its concurrency limit) sending as fast as they can for `seconds` (`measure_capacity`).
        Messages sent this way are forgotten afterwards."""
        rate = measure_capacity(self.url, seconds, clients or self.concurrency)
        with self._lock:
            for sid in [s for s, m in self.messages.items() if m["to"].startswith("+1500555")]:
                self.by_to[self.messages[sid]["to"]].remove(sid)
                del self.messages[sid]
            self.requests = [r for r in self.requests
                             if not r["form"].get("To", "").startswith("+1500555")]
        return rate



def measure_capacity(url: str, seconds: float, clients: int) -> float:
    """The ceiling any sender can reach on the fake at `url`: messages per second accepted
    (201) when `clients` plain HTTP clients (requests, one thread each) send as fast as they can
    for `seconds`. Recipients are the +1500555… test numbers."""
    import requests

    stop = time.monotonic() + seconds
    accepted = [0] * clients

    def hammer(i: int) -> None:
        session = requests.Session()
        target = f"{url}/2010-04-01/Accounts/{ACCOUNT}/Messages.json"
        while time.monotonic() < stop:
            r = session.post(target, data={"To": f"+1500555{i:04d}", "From": "+15005550006",
                                           "Body": "capacity"}, auth=(ACCOUNT, "x"), timeout=10)
            if r.status_code == 201:
                accepted[i] += 1

    started = time.monotonic()
    threads = [threading.Thread(target=hammer, args=(i,)) for i in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return sum(accepted) / (time.monotonic() - started)


def settings_for(fake: FakeTwilio, **extra) -> dict:
    """App settings that point the Twilio client at `fake`."""
    return {"TWILIO_ACCOUNT_SID": ACCOUNT, "TWILIO_API_BASE_URL": fake.url,
            "TWILIO_SMS_FROM": "+15005550006", "TWILIO_WHATSAPP_FROM": "whatsapp:+14155238886",
            **extra}


if __name__ == "__main__":  # pragma: no cover
    import argparse
    import logging
    import sys

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=0, help="0: any free port")
    parser.add_argument("--latency", type=float, default=0.05, help="seconds per request")
    parser.add_argument("--concurrency", type=int, default=16, help="requests in flight")
    parser.add_argument("--no-bodies", action="store_true", help="do not keep message bodies")
    args = parser.parse_args()
    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    with FakeTwilio(args.latency, args.concurrency, port=args.port,
                    record_bodies=not args.no_bodies) as fake:
        print(fake.url, flush=True)  # the first line is the base URL (bench/broadcast.py reads it)
        print(f"fake Twilio on {fake.url} (Ctrl-C to stop)", file=sys.stderr)
        try:
            while True:
                time.sleep(3600)
        except KeyboardInterrupt:
            pass
