"""Any body at all gets a 200 and valid TwiML (property-based)."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.conftest import MESSAGES_URL, inbound_params

EDGE_BODIES = [
    "", " ", "\x00", "\x00\x01\x02\x1b", "x" * 5000, "🙏" * 800, "<Response><Message>hi</Message>",
    "]]>&amp;<!--", "STOP", "stop ", "ARRÊT", "a dabila", "START", "A DAMINE", "0", "?", "9",
    "\u202e\u200b\ufeff", "é" * 1601, "\r\n\r\n", "ɛɔɲŋ", "%(name)s %s {0}",
]


def check(resp) -> None:
    assert resp.status_code == 200
    root = ET.fromstring(resp.data)
    assert root.tag == "Response"
    for message in root.findall("Message"):
        assert 0 < len(message.text or "") <= 1600


@pytest.mark.parametrize("body", EDGE_BODIES)
def test_edge_bodies(app, signed_post, body):
    check(signed_post(MESSAGES_URL, inbound_params(body, phone="+22370005555")))


@settings(max_examples=60, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(body=st.text(max_size=2000), channel=st.sampled_from(["sms", "whatsapp"]))
def test_any_body_never_5xx_always_twiml(app, signed_post, body, channel):
    check(signed_post(MESSAGES_URL, inbound_params(body, phone="+22370006666", channel=channel)))
