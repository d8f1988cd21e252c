"""Write the recorded-format SMS gateway webhook requests of this folder (run from anywhere:
``python tests/data/smsgate/make_samples.py``); review the diff before committing.

Each file is one request as the phone posts it (docs/sms-gateway.md "Incoming SMS"): the raw
``body`` text (signatures are over these exact bytes), the ``headers`` (X-Signature,
X-Timestamp), the ``signing_key`` the bot is configured with, ``now`` (our clock, Unix seconds,
when the request arrives: tests set the clock to it) and what the bot must answer (``expect``:
HTTP status and, for a 400, words of the reason).
"""

from __future__ import annotations

import hashlib
import hmac
import json
from pathlib import Path

DIR = Path(__file__).resolve().parent
KEY = "essbot-test-signing-key"
DEVICE = "ffffffffceb0b1db0000018e937c815b"
T = 1795947300  # 2026-11-29T10:15:00Z


def sign(body: str, stamp: str, key: str = KEY) -> str:
    return hmac.new(key.encode(), body.encode() + stamp.encode(), hashlib.sha256).hexdigest()


def received(text: str, sender: str, at: str, message_id: str, event_id: str) -> str:
    return json.dumps({"deviceId": DEVICE, "event": "sms:received", "id": event_id,
                       "webhookId": "wh-received",
                       "payload": {"messageId": message_id, "message": text, "sender": sender,
                                   "recipient": "+22376000000", "simNumber": 1,
                                   "receivedAt": at}}, ensure_ascii=False)


def status(event: str, message_id: str, extra: dict) -> str:
    return json.dumps({"deviceId": DEVICE, "event": event, "id": f"ev-{event[4:]}-{message_id}",
                       "webhookId": f"wh-{event[4:]}",
                       "payload": {"messageId": message_id, "phoneNumber": "+22370000101",
                                   **extra}})


def sample(name: str, description: str, body: str, expect: dict, *, stamp: int = T,
           now: int = T + 2, key: str = KEY, signature: str | None = None,
           headers: dict | None = None) -> None:
    hdrs = {"Content-Type": "application/json", "X-Timestamp": str(stamp),
            "X-Signature": signature if signature is not None else sign(body, str(stamp), key)}
    if headers is not None:
        hdrs = headers
    doc = {"description": description, "url": "https://essbot.example.org/webhooks/smsgate",
           "method": "POST", "signing_key": KEY, "now": now, "headers": hdrs, "body": body,
           "expect": expect}
    (DIR / f"{name}.json").write_text(json.dumps(doc, ensure_ascii=False, indent=2) + "\n",
                                      encoding="utf-8")


def main() -> None:
    fr = received("Bonjour", "+22370000101", "2026-11-29T10:14:58.000+00:00", "a1b2c3d4",
                  "ev-0001")
    sample("sms-received-french", "A French greeting from an Orange Mali number.", fr,
           {"status": 200, "stored": True})
    sample("sms-received-bambara", "A Bambara greeting typed plainly, Moov Africa Malitel.",
           received("i ni ce", "+22365000102", "2026-11-29T10:14:59.000+00:00", "b2c3d4e5",
                    "ev-0002"), {"status": 200, "stored": True})
    sample("sms-received-retry", "The phone's retry of sms-received-french (same SMS, "
           "delivered again 10 s later with a new delivery id): not processed twice.",
           received("Bonjour", "+22370000101", "2026-11-29T10:14:58.000+00:00", "a1b2c3d4",
                    "ev-0001-retry"), {"status": 200, "duplicate_of": "sms-received-french"},
           stamp=T + 10, now=T + 11)
    sample("sms-received-reused-message-id", "Another SMS from the same person whose "
           "messageId repeats sms-received-french's (not guaranteed unique): a new message.",
           received("1", "+22370000101", "2026-11-29T10:16:02.000+00:00", "a1b2c3d4",
                    "ev-0003"), {"status": 200, "stored": True}, stamp=T + 64, now=T + 65)
    sample("forged-signature", "Signed with another key.", fr, {"status": 403},
           signature=sign(fr, str(T), "not-the-signing-key"))
    sample("tampered-body", "The signature of sms-received-french over a changed text.",
           fr.replace("Bonjour", "STOP"), {"status": 403}, signature=sign(fr, str(T)))
    sample("stale-timestamp", "A correct signature 6 minutes old (a replay).", fr,
           {"status": 403}, now=T + 360)
    sample("future-timestamp", "A correct signature 6 minutes in the future.", fr,
           {"status": 403}, now=T - 360)
    sample("missing-signature", "No X-Signature header.", fr, {"status": 403},
           headers={"Content-Type": "application/json", "X-Timestamp": str(T)})
    sample("malformed-json", "Signed, but the body is cut short.",
           fr[: len(fr) // 2], {"status": 400, "reason": "not JSON"})
    sample("missing-sender", "Signed sms:received without a sender.",
           json.dumps({"deviceId": DEVICE, "event": "sms:received", "id": "ev-0004",
                       "webhookId": "wh-received",
                       "payload": {"messageId": "c3", "message": "Bonjour",
                                   "receivedAt": "2026-11-29T10:14:58.000+00:00"}}),
           {"status": 400, "reason": "payload.sender (or payload.phoneNumber) is required"})
    sample("payload-not-object", "Signed, payload is a list.",
           json.dumps({"deviceId": DEVICE, "event": "sms:received", "id": "ev-0005",
                       "payload": ["Bonjour"]}),
           {"status": 400, "reason": "payload must be a JSON object"})
    sample("system-ping", "The gateway's health ping.",
           json.dumps({"deviceId": DEVICE, "event": "system:ping", "id": "ev-ping",
                       "webhookId": "wh-ping", "payload": {"health": {"status": "pass"}}}),
           {"status": 200})
    sample("sms-sent", "Our message 41 left the phone.",
           status("sms:sent", "essbot-41", {"sentAt": "2026-11-29T10:15:01.000+00:00",
                                            "partsCount": 1}),
           {"status": 200, "message_status": "sent"})
    sample("sms-delivered", "Our message 41 reached the handset.",
           status("sms:delivered", "essbot-41",
                  {"deliveredAt": "2026-11-29T10:15:04.000+00:00"}),
           {"status": 200, "message_status": "delivered"})
    sample("sms-failed", "Our message 41 could not be sent by the phone.",
           status("sms:failed", "essbot-41", {"failedAt": "2026-11-29T10:15:02.000+00:00",
                                              "reason": "RESULT_ERROR_GENERIC_FAILURE"}),
           {"status": 200, "message_status": "failed",
            "reason": "RESULT_ERROR_GENERIC_FAILURE"})


if __name__ == "__main__":
    main()
