"""The Twilio webhooks end to end: signatures, storage, TwiML, deduplication, media."""

from __future__ import annotations

import concurrent.futures as cf
import xml.etree.ElementTree as ET

import pytest
import sqlalchemy as sa

from bot.db import session_scope
from bot.models import Contact, Conversation, Message
from tests.conftest import (
    MESSAGES_URL, PUBLIC_URL, all_samples, inbound_params, load_sample, sign,
)

INBOUND_SAMPLES = [n for n in all_samples() if "inbound" in n]


def rows(app, model, *where):
    with session_scope(app) as s:
        return list(s.execute(sa.select(model).where(*where).order_by(model.id)).scalars())


def twiml_bodies(response) -> list[str]:
    root = ET.fromstring(response.data)
    assert root.tag == "Response"
    return [m.text or "" for m in root.findall("Message")]


@pytest.mark.parametrize("name", INBOUND_SAMPLES)
def test_every_inbound_sample_is_stored_and_answered(app, client, name):
    sample = load_sample(name)
    path = sample["url"][len(PUBLIC_URL):]
    resp = client.post(path, data=sample["params"],
                       headers={"X-Twilio-Signature": sample["x_twilio_signature"]})
    assert resp.status_code == 200
    assert resp.mimetype == "application/xml"
    bodies = twiml_bodies(resp)
    assert bodies and all(0 < len(b) <= 1600 for b in bodies)

    params = sample["params"]
    [inbound] = rows(app, Message, Message.provider_sid == params["MessageSid"])
    assert inbound.direction == "in"
    assert inbound.body == params["Body"]
    assert inbound.channel == ("whatsapp" if params["From"].startswith("whatsapp:") else "sms")
    assert inbound.processed_at is not None and inbound.processing_error is None
    [contact] = rows(app, Contact)
    assert contact.phone == params["From"].removeprefix("whatsapp:")
    if inbound.channel == "whatsapp":
        assert contact.last_inbound_whatsapp_at is not None and contact.last_inbound_sms_at is None
    else:
        assert contact.last_inbound_sms_at is not None
    replies = rows(app, Message, Message.reply_to_id == inbound.id)
    assert [r.body for r in replies] == bodies
    assert all(r.channel == inbound.channel for r in replies)
    if int(params.get("NumMedia", 0)):
        assert inbound.media == [{"url": params["MediaUrl0"],
                                  "content_type": params["MediaContentType0"]}]


def test_reply_asks_new_contact_for_language_in_both_languages(app, signed_post):
    resp = signed_post(MESSAGES_URL, inbound_params("Bonjour, je veux m'inscrire"))
    [body] = twiml_bodies(resp)
    assert "1 Francais" in body and "2 Bamanankan" in body  # ç folded to GSM-7 on SMS


def test_whatsapp_reply_keeps_unicode_and_sms_reply_is_gsm7(app, signed_post):
    from bot import sms

    signed_post(MESSAGES_URL, inbound_params("salut", phone="+22375000001", channel="whatsapp"))
    [wa] = twiml_bodies(signed_post(MESSAGES_URL, inbound_params(
        "1", phone="+22375000001", channel="whatsapp")))
    assert "santé" in wa or "sante" in wa
    signed_post(MESSAGES_URL, inbound_params("salut", phone="+22370000001"))
    [sms_body] = twiml_bodies(signed_post(MESSAGES_URL, inbound_params("2", phone="+22370000001")))
    assert sms.analyze(sms_body).encoding == "GSM-7"


def test_voice_note_is_stored_as_media_and_answered_politely(app, signed_post):
    params = inbound_params("", channel="whatsapp", NumMedia="1", MessageType="audio",
                            MediaUrl0="https://api.twilio.com/x/Media/ME1",
                            MediaContentType0="audio/ogg")
    [body] = twiml_bodies(signed_post(MESSAGES_URL, params))
    assert "reçu" in body
    [msg] = rows(app, Message, Message.direction == "in")
    assert msg.media[0]["content_type"] == "audio/ogg"
    assert msg.attributes["MessageType"] == "audio"


@pytest.mark.parametrize("tamper", ["unsigned", "wrong-token", "tampered-body", "other-url"])
def test_forged_requests_are_refused_and_store_nothing(app, client, signed_post, tamper):
    sample = load_sample("sms-inbound-french")
    params = dict(sample["params"])
    if tamper == "unsigned":
        resp = client.post("/webhooks/twilio/messages", data=params)
    elif tamper == "wrong-token":
        resp = signed_post(MESSAGES_URL, params, token="0" * 32)
    elif tamper == "tampered-body":
        signature = sample["x_twilio_signature"]
        params["Body"] = "STOP"
        resp = signed_post(MESSAGES_URL, params, signature=signature)
    else:
        resp = signed_post(MESSAGES_URL, params,
                           signature=sign("https://evil.example.org/webhooks/twilio/messages",
                                          params))
    assert resp.status_code == 403
    assert b"Forbidden" in resp.data and b"signature" not in resp.data.lower()
    assert rows(app, Message) == [] and rows(app, Contact) == []


def test_status_callback_with_forged_signature_is_refused(app, client):
    sample = load_sample("status-delivered")
    resp = client.post("/webhooks/twilio/status", data=sample["params"],
                       headers={"X-Twilio-Signature": "x" + sample["x_twilio_signature"][1:]})
    assert resp.status_code == 403


def test_no_auth_token_means_503_never_unsigned_traffic(app, client):
    app.config["TWILIO_AUTH_TOKEN"] = None
    sample = load_sample("sms-inbound-french")
    resp = client.post("/webhooks/twilio/messages", data=sample["params"],
                       headers={"X-Twilio-Signature": sample["x_twilio_signature"]})
    assert resp.status_code == 503
    assert b"TWILIO_AUTH_TOKEN" in resp.data
    assert rows(app, Message) == []


def test_same_message_sid_twice_is_processed_once_with_the_same_reply(app, signed_post):
    params = inbound_params("Bonjour")
    first = signed_post(MESSAGES_URL, params)
    second = signed_post(MESSAGES_URL, params)
    assert first.status_code == second.status_code == 200
    assert first.data == second.data
    assert len(rows(app, Message, Message.direction == "in")) == 1
    assert len(rows(app, Message, Message.direction == "out")) == 1
    [conv] = rows(app, Conversation)
    assert conv.version == 1  # created once, never changed again


def test_same_message_sid_concurrently_is_processed_once(app, live_server):
    import requests

    signed_post_first = inbound_params("Bonjour", phone="+22370000077")
    requests.post(live_server + "/webhooks/twilio/messages", data=signed_post_first,
                  headers={"X-Twilio-Signature": sign(MESSAGES_URL, signed_post_first)}, timeout=30)
    params = inbound_params("2", phone="+22370000077")  # choose Bambara, once
    headers = {"X-Twilio-Signature": sign(MESSAGES_URL, params)}

    def post(_):
        return requests.post(live_server + "/webhooks/twilio/messages", data=params,
                             headers=headers, timeout=30)

    with cf.ThreadPoolExecutor(10) as pool:
        responses = list(pool.map(post, range(10)))
    assert {r.status_code for r in responses} == {200}
    assert len({r.content for r in responses}) == 1
    inbound = rows(app, Message, Message.provider_sid == params["MessageSid"])
    assert len(inbound) == 1
    assert len(rows(app, Message, Message.reply_to_id == inbound[0].id)) == 1
    [conv] = rows(app, Conversation)
    assert conv.version == 2  # welcome, then one language choice
    [contact] = rows(app, Contact)
    assert contact.language == "bm"


def test_unreadable_sender_gets_empty_twiml_not_an_error(app, signed_post):
    params = inbound_params("hello")
    params["From"] = "MAIRIE"
    resp = signed_post(MESSAGES_URL, params)
    assert resp.status_code == 200
    assert twiml_bodies(resp) == []


def test_health_and_readiness(client):
    assert client.get("/healthz").json == {"status": "ok"}
    assert client.get("/readyz").json == {"status": "ready"}


def test_malformed_message_sid_is_not_stored_nor_logged(app, signed_post, caplog):
    params = inbound_params("bonjour", sid="SM1\nforged log line")
    resp = signed_post(MESSAGES_URL, params)
    # Issue 13: a SID Twilio never sends is refused (403), not answered with empty TwiML.
    assert resp.status_code == 403
    assert rows(app, Message) == []
    assert "forged log line" not in caplog.text


def test_oversized_body_is_cut_and_flagged(app, signed_post):
    signed_post(MESSAGES_URL, inbound_params("x" * 100_000))
    [msg] = rows(app, Message, Message.direction == "in")
    assert len(msg.body) == 4096 and msg.attributes["truncated_from"] == 100_000


def test_database_down_answers_503_so_twilio_retries(app, signed_post, monkeypatch):
    import sqlalchemy.exc

    def down(*args, **kwargs):
        raise sqlalchemy.exc.OperationalError("connect", {}, ConnectionRefusedError("refused"))

    monkeypatch.setattr("bot.conversations._store", down)
    resp = signed_post(MESSAGES_URL, inbound_params("bonjour"))
    assert resp.status_code == 503 and resp.headers["Retry-After"] == "5"
    assert b"database unavailable" in resp.data and b"Traceback" not in resp.data
