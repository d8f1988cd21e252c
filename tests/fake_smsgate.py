"""A fake SMS Gateway for Android (SMSGate) API on loopback, modelled on tests/fake_twilio.py.

Serves what bot/channels/smsgate.py calls (docs/sms-gateway.md "Sending"):
``POST /messages`` (send; JSON ``{"textMessage": {"text"}, "phoneNumbers", "id", …}``),
``GET /messages/{id}`` (state) and ``POST /webhooks`` (registration, recorded only).
Behaviours, all configurable:

- Basic auth is checked on every request (``username``/``password``): 401 otherwise;
- the idempotency ``id`` is honoured: a repeated id returns the message already known and
  sends nothing (``sends()`` lists what the phone really sent, once per id); with
  ``conflict = True`` a repeated id is answered 409 Conflict, as the app does;
  ``hold(id, phone)`` plants a message of an earlier installation under `id`;
- ``latency`` seconds per request;
- ``throttle(n)``: the next n sends get 429; ``refuse(n, status)``: the next n sends get
  `status` without being stored (nothing sent);
- ``fail_after_accept(n, status, hang)``: the next n sends are stored (sent by the phone), then
  answered `status` (after `hang` extra seconds: longer than the client's timeout makes a
  timeout) — an outcome the client cannot know;
- numbers in ``failing`` (number → reason) are accepted, then fail on the phone: state
  ``Failed`` and an ``sms:failed`` event with the reason;
- with ``webhook_target`` (the app's base URL) and ``signing_key``, every accepted message gets
  ``sms:sent`` then ``sms:delivered`` (or ``sms:failed``) posted to
  ``{webhook_target}/webhooks/smsgate``, signed as the phone signs them (`signed_headers`);
- every request is recorded (``requests``: method, path, JSON, status, time, auth ok).

Helpers build what the phone posts to the bot: `received_event`, `status_event`,
`signed_headers`.

Run alone (``python tests/fake_smsgate.py --port 8098``) for manual tests.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import itertools
import json
import threading
import time
import uuid
from datetime import datetime, timezone
from typing import Any, Iterable, Mapping

from werkzeug.wrappers import Request, Response

from tests.loopback import LoopbackServer

USERNAME = "essbot"
PASSWORD = "gateway-password"
SIGNING_KEY = "essbot-test-signing-key"
DEVICE_ID = "ffffffffceb0b1db0000018e937c815b"


def signed_headers(body: bytes, key: str = SIGNING_KEY, timestamp: int | None = None) -> dict:
    """Headers the phone sends with a webhook `body`: X-Signature = hex HMAC-SHA256 of body +
    X-Timestamp (Unix seconds, default now), keyed with `key` (docs/sms-gateway.md)."""
    stamp = str(int(time.time()) if timestamp is None else timestamp)
    signature = hmac.new(key.encode(), body + stamp.encode(), hashlib.sha256).hexdigest()
    return {"Content-Type": "application/json", "X-Signature": signature, "X-Timestamp": stamp}


def received_event(sender: str, text: str, received_at: datetime | None = None,
                   message_id: str | None = None, event_id: str | None = None,
                   recipient: str = "+22376000000", sim_number: int = 1) -> bytes:
    """The JSON body of an ``sms:received`` webhook, in the format of docs/sms-gateway.md."""
    at = received_at or datetime.now(timezone.utc)
    doc = {"deviceId": DEVICE_ID, "event": "sms:received", "id": event_id or uuid.uuid4().hex,
           "webhookId": "wh-received",
           "payload": {"messageId": message_id or uuid.uuid4().hex[:16], "message": text,
                       "sender": sender, "recipient": recipient, "simNumber": sim_number,
                       "receivedAt": at.isoformat(timespec="milliseconds")}}
    return json.dumps(doc, ensure_ascii=False).encode("utf-8")


def status_event(event: str, message_id: str, phone: str, reason: str | None = None) -> bytes:
    """The JSON body of an ``sms:sent|delivered|failed`` webhook for our message id."""
    at = datetime.now(timezone.utc).isoformat(timespec="milliseconds")
    field = {"sms:sent": "sentAt", "sms:delivered": "deliveredAt",
             "sms:failed": "failedAt"}[event]
    payload: dict[str, Any] = {"messageId": message_id, "phoneNumber": phone, field: at}
    if event == "sms:sent":
        payload["partsCount"] = 1
    if reason is not None:
        payload["reason"] = reason
    doc = {"deviceId": DEVICE_ID, "event": event, "id": uuid.uuid4().hex,
           "webhookId": f"wh-{event.split(':')[1]}", "payload": payload}
    return json.dumps(doc).encode("utf-8")


def _json(status: int, doc: Any) -> Response:
    return Response(json.dumps(doc), status=status, mimetype="application/json")


class FakeSMSGate(LoopbackServer):
    """The fake gateway; use as a context manager (``with FakeSMSGate() as fake``)."""

    def __init__(self, latency: float = 0.0, *, username: str = USERNAME,
                 password: str = PASSWORD, failing: Mapping[str, str] | None = None,
                 webhook_target: str | None = None, signing_key: str = SIGNING_KEY,
                 port: int = 0):
        self.latency = latency
        self.username, self.password = username, password
        self.failing = dict(failing or {})
        self.webhook_target = webhook_target
        self.signing_key = signing_key
        self.requests: list[dict] = []
        self.messages: dict[str, dict] = {}
        self.webhooks: list[dict] = []
        self._sent: list[dict] = []
        self._lock = threading.Lock()
        self._throttle = 0
        self._refuse: list[int] = []
        self._fail_after: list[tuple[int, float]] = []
        self._ids = itertools.count(1)
        self._threads: list[threading.Thread] = []
        self.events_posted = 0
        self.conflict = False
        self._serve(port)

    # --- control -------------------------------------------------------------------------------

    def throttle(self, n: int) -> None:
        """The next `n` sends get 429 Too Many Requests (nothing stored)."""
        with self._lock:
            self._throttle += n

    def refuse(self, n: int, status: int = 500) -> None:
        """The next `n` sends get `status` and are not stored (nothing sent)."""
        with self._lock:
            self._refuse.extend([status] * n)

    def fail_after_accept(self, n: int, status: int = 500, hang: float = 0.0) -> None:
        """The next `n` sends are stored and sent, then answered `status` after `hang` s."""
        with self._lock:
            self._fail_after.extend([(status, hang)] * n)

    def hold(self, message_id: str, phone: str, state: str = "Delivered") -> None:
        """Plant a message the phone sent earlier (another installation, a database since
        restored) under `message_id`: it is in the phone's history, not in ``sends()``."""
        with self._lock:
            self.messages[message_id] = {"id": message_id, "to": phone, "text": "old",
                                         "sim": None, "state": state, "error": None,
                                         "at": time.time()}

    def sends(self) -> list[dict]:
        """Messages the phone sent (one per idempotency id), in order: ``id``, ``to``,
        ``text``, ``at`` (Unix time of acceptance)."""
        with self._lock:
            return list(self._sent)

    def per_recipient(self) -> dict[str, int]:
        """How many messages each number received."""
        counts: dict[str, int] = {}
        for message in self.sends():
            counts[message["to"]] = counts.get(message["to"], 0) + 1
        return counts

    def texts_to(self, phone: str) -> list[str]:
        """Texts sent to `phone`, in order."""
        return [m["text"] for m in self.sends() if m["to"] == phone]

    def wait_events(self, timeout: float = 10.0) -> None:
        """Wait until every status webhook thread has finished."""
        deadline = time.monotonic() + timeout
        for thread in list(self._threads):
            thread.join(max(0.0, deadline - time.monotonic()))

    # --- server --------------------------------------------------------------------------------

    def _authorised(self, request: Request) -> bool:
        header = request.headers.get("Authorization", "")
        expected = "Basic " + base64.b64encode(
            f"{self.username}:{self.password}".encode()).decode()
        return hmac.compare_digest(header.encode(), expected.encode())

    def _record(self, request: Request, status: int, doc: Any, auth: bool) -> None:
        with self._lock:
            self.requests.append({"method": request.method, "path": request.path, "json": doc,
                                  "status": status, "at": time.time(), "auth": auth})

    @Request.application
    def app(self, request: Request) -> Response:
        """The WSGI app: auth, latency, then the route."""
        auth = self._authorised(request)
        try:
            doc = json.loads(request.get_data() or b"null")
        except ValueError:
            doc = None
        if not auth:
            self._record(request, 401, doc, False)
            return _json(401, {"message": "Unauthorized"})
        if self.latency:
            time.sleep(self.latency)
        if request.method == "POST" and request.path == "/messages":
            return self._send(request, doc)
        if request.method == "GET" and request.path.startswith("/messages/"):
            message = self.messages.get(request.path[len("/messages/"):])
            self._record(request, 200 if message else 404, doc, True)
            if message is None:
                return _json(404, {"message": "message not found"})
            return _json(200, self._resource(message))
        if request.method == "POST" and request.path == "/webhooks":
            self._record(request, 201, doc, True)
            self.webhooks.append(doc)
            return _json(201, {"id": f"wh{len(self.webhooks)}", **(doc or {})})
        self._record(request, 404, doc, True)
        return _json(404, {"message": "not found"})

    def _send(self, request: Request, doc: Any) -> Response:
        if not isinstance(doc, dict) or not isinstance(doc.get("textMessage"), dict) \
                or not doc.get("phoneNumbers"):
            self._record(request, 400, doc, True)
            return _json(400, {"message": "textMessage and phoneNumbers are required"})
        with self._lock:
            if self._throttle > 0:
                self._throttle -= 1
                refused: int | None = 429
            else:
                refused = self._refuse.pop(0) if self._refuse else None
            known = self.messages.get(str(doc.get("id") or ""))
            fail = self._fail_after.pop(0) if self._fail_after and not refused \
                and known is None else None
        if refused:
            self._record(request, refused, doc, True)
            return _json(refused, {"message": "Too Many Requests" if refused == 429
                                   else f"refused with {refused}"})
        if known is not None and self.conflict:  # the app: 409 for an id it already has
            self._record(request, 409, doc, True)
            return _json(409, {"message": "message with this id already exists"})
        if known is not None:  # the idempotency id: answer what we have, send nothing
            self._record(request, 202, doc, True)
            return _json(202, self._resource(known))
        message_id = str(doc.get("id") or f"gw{next(self._ids)}")
        phone = doc["phoneNumbers"][0]
        failed = phone in self.failing
        message = {"id": message_id, "to": phone, "text": doc["textMessage"].get("text", ""),
                   "sim": doc.get("simNumber"),
                   "state": "Failed" if failed and not self.webhook_target else "Pending",
                   "error": self.failing.get(phone), "at": time.time()}
        with self._lock:
            self.messages[message_id] = message
            self._sent.append(message)
        self._record(request, 500 if fail else 202, doc, True)
        if self.webhook_target:
            events = ([("sms:failed", self.failing[phone])] if failed
                      else [("sms:sent", None), ("sms:delivered", None)])
            thread = threading.Thread(target=self._post_events, args=(message, events),
                                      daemon=True)
            self._threads.append(thread)
            thread.start()
        if fail is not None:
            time.sleep(fail[1])
            return _json(fail[0], {"message": "Internal Server Error"})
        return _json(202, self._resource(message))

    def _resource(self, message: dict) -> dict:
        return {"id": message["id"], "state": message["state"], "isHashed": False,
                "isEncrypted": False,
                "recipients": [{"phoneNumber": message["to"], "state": message["state"],
                                "error": message["error"]}]}

    def _post_events(self, message: dict, events: Iterable[tuple[str, str | None]]) -> None:
        import requests

        for event, reason in events:
            body = status_event(event, message["id"], message["to"], reason)
            message["state"] = {"sms:sent": "Sent", "sms:delivered": "Delivered",
                                "sms:failed": "Failed"}[event]
            try:
                requests.post(f"{self.webhook_target.rstrip('/')}/webhooks/smsgate", data=body,
                              headers=signed_headers(body, self.signing_key), timeout=10)
                with self._lock:
                    self.events_posted += 1
            except requests.RequestException:
                pass



def settings_for(fake: FakeSMSGate, **extra) -> dict:
    """App settings that send SMS through `fake`."""
    return {"ESSBOT_SMS_PROVIDER": "smsgate", "SMSGATE_URL": fake.url,
            "SMSGATE_USERNAME": fake.username, "SMSGATE_PASSWORD": fake.password,
            "SMSGATE_SIGNING_KEY": fake.signing_key, **extra}


if __name__ == "__main__":  # pragma: no cover
    import argparse
    import sys

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=0, help="0: any free port")
    parser.add_argument("--latency", type=float, default=0.0, help="seconds per request")
    args = parser.parse_args()
    with FakeSMSGate(args.latency, port=args.port) as fake:
        print(fake.url, flush=True)
        print(f"fake SMS gateway on {fake.url}, user {USERNAME!r} password {PASSWORD!r} "
              "(Ctrl-C to stop)", file=sys.stderr)
        try:
            while True:
                time.sleep(3600)
        except KeyboardInterrupt:
            pass
