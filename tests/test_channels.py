"""The Twilio REST client: built from settings, pointed at a fake Twilio, with a timeout."""

from __future__ import annotations

import json
import threading
import time
from datetime import datetime, timezone

import pytest
from werkzeug.serving import make_server
from werkzeug.wrappers import Request, Response

from bot.channels import twilio as tw
from bot.channels.console import inbound as console_inbound
from bot.phones import InvalidPhone

ACCOUNT = "AC" + "0" * 32


class FakeTwilio:
    """A loopback stand-in for api.twilio.com's Messages endpoint."""

    def __init__(self, delay: float = 0.0):
        self.delay = delay
        self.requests: list[dict] = []
        self.server = make_server("127.0.0.1", 0, self.app, threaded=True)
        self.url = f"http://127.0.0.1:{self.server.server_port}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @Request.application
    def app(self, request: Request) -> Response:
        time.sleep(self.delay)
        form = request.form.to_dict()
        self.requests.append({"path": request.path, "form": form,
                              "auth": (request.authorization.username
                                       if request.authorization else None)})
        if form.get("To") == "+15005550001":
            return Response(json.dumps({"code": 21211, "message": "Invalid 'To' Phone Number",
                                        "status": 400}), status=400, mimetype="application/json")
        sid = f"SM{len(self.requests):032d}"
        return Response(json.dumps({"sid": sid, "status": "queued", "to": form.get("To"),
                                    "body": form.get("Body")}), status=201,
                        mimetype="application/json")

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.server.shutdown()


def settings(base_url: str, **extra) -> dict:
    return {"TWILIO_ACCOUNT_SID": ACCOUNT, "TWILIO_AUTH_TOKEN": "secret",
            "TWILIO_API_BASE_URL": base_url, "TWILIO_SMS_FROM": "+15005550006",
            "TWILIO_WHATSAPP_FROM": "whatsapp:+14155238886", "TWILIO_HTTP_TIMEOUT": 2.0, **extra}


def test_send_sms_and_whatsapp_through_the_configured_base_url():
    with FakeTwilio() as fake:
        conf = settings(fake.url)
        client = tw.make_client(conf)
        sid = tw.send(client, conf, "sms", "+22370000001", "Bonjour", "https://x/status")
        tw.send(client, conf, "whatsapp", "+22375000001", "Bonjour")
    assert sid.startswith("SM")
    sms_req, wa_req = fake.requests
    assert sms_req["path"] == f"/2010-04-01/Accounts/{ACCOUNT}/Messages.json"
    assert sms_req["auth"] == ACCOUNT
    assert sms_req["form"] == {"To": "+22370000001", "From": "+15005550006", "Body": "Bonjour",
                               "StatusCallback": "https://x/status"}
    assert wa_req["form"]["To"] == "whatsapp:+22375000001"
    assert wa_req["form"]["From"] == "whatsapp:+14155238886"


def test_messaging_service_wins_over_a_number():
    with FakeTwilio() as fake:
        conf = settings(fake.url, TWILIO_MESSAGING_SERVICE_SID="MG" + "1" * 32)
        tw.send(tw.make_client(conf), conf, "sms", "+22370000001", "x")
    assert fake.requests[0]["form"]["MessagingServiceSid"] == "MG" + "1" * 32
    assert "From" not in fake.requests[0]["form"]


def test_twilio_error_code_reaches_the_caller():
    with FakeTwilio() as fake:
        conf = settings(fake.url)
        with pytest.raises(tw.TwilioRestException) as err:
            tw.send(tw.make_client(conf), conf, "sms", "+15005550001", "x")
    assert err.value.code == 21211


def test_slow_twilio_times_out_instead_of_hanging():
    with FakeTwilio(delay=3) as fake:
        conf = settings(fake.url, TWILIO_HTTP_TIMEOUT=0.5)
        started = time.monotonic()
        with pytest.raises(Exception) as err:
            tw.send(tw.make_client(conf), conf, "sms", "+22370000001", "x")
        assert time.monotonic() - started < 2.5
    assert "timed out" in str(err.value).lower() or "timeout" in type(err.value).__name__.lower()


def test_missing_credentials_or_sender_are_clear_errors():
    with pytest.raises(ValueError, match="TWILIO_AUTH_TOKEN"):
        tw.make_client({"TWILIO_ACCOUNT_SID": ACCOUNT})
    conf = settings("http://127.0.0.1:9", TWILIO_SMS_FROM=None)
    with pytest.raises(ValueError, match="TWILIO_SMS_FROM"):
        tw.send(tw.make_client(conf), conf, "sms", "+22370000001", "x")


def test_parse_inbound_reads_channel_media_location_and_buttons():
    now = datetime.now(timezone.utc)
    msg = tw.parse_inbound({"MessageSid": "SM1", "From": "whatsapp:+22375000009", "Body": "",
                            "Latitude": "12.65", "Longitude": "-8.0", "NumMedia": "x"}, now, "ML")
    assert (msg.channel, msg.address, msg.kind) == ("whatsapp", "+22375000009", "location")
    assert msg.attributes["Latitude"] == "12.65"
    button = tw.parse_inbound({"MessageSid": "SM2", "From": "whatsapp:+22375000008", "Body": "",
                               "ButtonText": "Oui", "ButtonPayload": "yes"}, now, "ML")
    assert button.text == "Oui"
    national = tw.parse_inbound({"MessageSid": "SM3", "From": "70 00 00 01"}, now, "ML")
    assert national.address == "+22370000001" and national.channel == "sms"
    with pytest.raises(ValueError):
        tw.parse_inbound({"From": "+22370000001"}, now, "ML")


def test_console_channel_builds_the_same_message_shape():
    msg = console_inbound("70000002", "salut", "whatsapp")
    assert (msg.address, msg.channel, msg.text) == ("+22370000002", "whatsapp", "salut")
    assert msg.provider_sid.startswith("CO")
    with pytest.raises(InvalidPhone):
        console_inbound("abc", "salut")


def test_twiml_escapes_and_caps_bodies():
    from bot.channels.base import OutboundReply

    xml = tw.twiml([OutboundReply(7, "<b>&" + "x" * 2000, "sms")], "https://h/webhooks/twilio/status")
    assert "&lt;b&gt;&amp;" in xml and 'action="https://h/webhooks/twilio/status?mid=7"' in xml
    assert xml.count("x") <= 1600
