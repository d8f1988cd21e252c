"""Issue 13, Twilio side: a signed request that is not a genuine inbound message is refused.

Twilio signs the URL followed by the sorted names and values with no separator, so the very
signature of a recorded request also validates every re-split of that string. Each recorded
inbound request (tests/data/twilio, copies of shared/samples/twilio) is cut every other way
that keeps its signature valid; every cut must be refused with 403 and store nothing.
"""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from twilio.request_validator import RequestValidator

from bot.channels import twilio as tw
from bot.db import session_scope
from bot.models import Contact, Message
from tests.conftest import (
    AUTH_TOKEN, MESSAGES_URL, PUBLIC_URL, all_samples, inbound_params, load_sample, sign,
)

INBOUND_SAMPLES = [n for n in all_samples() if "inbound" in n]


def resplits(params: dict[str, str]) -> list[dict[str, str]]:
    """Every form that moves one boundary of the signed string (name|value or value|name)
    and still carries the same signature (checked with twilio's RequestValidator)."""
    tokens: list[str] = []
    for name in sorted(params):
        tokens += [name, params[name]]
    out = []
    seen = set()
    for j in range(len(tokens) - 1):
        left, right = tokens[j], tokens[j + 1]
        for shift in range(-len(left), len(right) + 1):
            if shift == 0:
                continue
            new = list(tokens)
            if shift < 0:
                new[j], new[j + 1] = left[:shift], left[shift:] + right
            else:
                new[j], new[j + 1] = left + right[:shift], right[shift:]
            names = new[0::2]
            if len(set(names)) != len(names) or any(not n for n in names):
                continue
            form = dict(zip(names, new[1::2]))
            key = tuple(sorted(form.items()))
            if form == params or key in seen:
                continue
            if "".join(k + v for k, v in sorted(form.items())) != \
                    "".join(k + v for k, v in sorted(params.items())):
                continue  # the names sort otherwise: the signature no longer matches
            seen.add(key)
            out.append(form)
    return out


def count(app, model) -> int:
    with session_scope(app) as s:
        return s.execute(sa.select(sa.func.count()).select_from(model)).scalar_one()


@pytest.mark.parametrize("name", INBOUND_SAMPLES)
def test_every_resplit_of_a_recorded_request_is_refused_and_stores_nothing(app, client, name):
    sample = load_sample(name)
    path = sample["url"][len(PUBLIC_URL):]
    validator = RequestValidator(sample["auth_token"])
    forms = resplits(sample["params"])
    assert len(forms) > 50, "the sample should allow many re-splits"
    for form in forms:
        # Each one really carries Twilio's valid signature.
        assert validator.validate(sample["url"], form, sample["x_twilio_signature"])
        resp = client.post(path, data=form,
                           headers={"X-Twilio-Signature": sample["x_twilio_signature"]})
        assert resp.status_code == 403, (form, resp.data)
    assert count(app, Message) == 0 and count(app, Contact) == 0
    # The recorded request itself is still accepted.
    resp = client.post(path, data=sample["params"],
                       headers={"X-Twilio-Signature": sample["x_twilio_signature"]})
    assert resp.status_code == 200


def test_a_captured_stop_replayed_with_a_shorter_sid_is_refused(app, signed_post):
    """The attack of the issue: MessageSid cut short, the rest moved into the next name."""
    params = inbound_params("STOP")
    assert signed_post(MESSAGES_URL, params).status_code == 200
    signature = sign(MESSAGES_URL, params)
    sid = params["MessageSid"]
    forged = dict(params)
    # "MessageSid" + sid + "NumMedia" + "0"  ==  "MessageSid" + sid[:-3] + sid[-3:]+"NumMedia" …
    del forged["NumMedia"]
    forged["MessageSid"] = forged["SmsSid"] = forged["SmsMessageSid"] = sid[:-3]
    forged[sid[-3:] + "NumMedia"] = "0"
    before = count(app, Message)
    resp = signed_post(MESSAGES_URL, forged, signature=signature)
    assert resp.status_code == 403
    assert count(app, Message) == before


@pytest.mark.parametrize("sid", ["SM1", "SMnobody", "XX" + "0" * 32, "SM" + "g" * 32,
                                 "SM" + "0" * 33, "MG" + "0" * 32, "sm" + "0" * 32])
def test_sids_that_twilio_never_sends_are_refused(app, signed_post, sid):
    resp = signed_post(MESSAGES_URL, inbound_params("Bonjour", sid=sid))
    assert resp.status_code == 403
    assert count(app, Message) == 0


def test_mm_sids_and_upper_case_hex_are_accepted(app, signed_post):
    for sid in ("MM" + "a" * 32, "SM" + "ABCDEF0123456789" * 2):
        assert signed_post(MESSAGES_URL, inbound_params("Bonjour", sid=sid)).status_code == 200
    assert count(app, Message) >= 2


def test_account_sid_must_be_this_account_when_configured(app, signed_post):
    app.config["TWILIO_ACCOUNT_SID"] = "AC" + "f" * 32
    other = inbound_params("Bonjour")  # AccountSid AC000…001: another account
    assert signed_post(MESSAGES_URL, other).status_code == 403
    mine = inbound_params("Bonjour", AccountSid="AC" + "f" * 32)
    assert signed_post(MESSAGES_URL, mine).status_code == 200
    missing = inbound_params("Bonjour")
    del missing["AccountSid"]
    assert signed_post(MESSAGES_URL, missing).status_code == 403
    status = {"MessageSid": "SM" + "1" * 32, "MessageStatus": "delivered",
              "AccountSid": "AC" + "0" * 31 + "1"}
    assert signed_post(f"{PUBLIC_URL}/webhooks/twilio/status", status).status_code == 403
    assert count(app, Message) == 2  # the accepted message and its reply only


def test_sms_sid_aliases_must_match_message_sid(app, signed_post):
    params = inbound_params("Bonjour")
    params["SmsSid"] = tw.SIMULATED_SID_PREFIX + "x"
    assert signed_post(MESSAGES_URL, params).status_code == 403
    assert count(app, Message) == 0


def test_unknown_new_fields_are_still_accepted(app, signed_post):
    params = inbound_params("Bonjour", SomethingTwilioAddsLater="1", MediaUrl0="https://x/y",
                            MediaContentType0="image/jpeg", NumMedia="1")
    assert signed_post(MESSAGES_URL, params).status_code == 200
    assert AUTH_TOKEN  # the samples' token signs these


# --- property: no signed body answers 5xx --------------------------------------------------------

_SEEN: dict[int, int] = {}
_text = st.text(max_size=40)
_fields = st.dictionaries(
    st.sampled_from(["Body", "ProfileName", "NumMedia", "MediaUrl0", "MediaContentType0",
                     "Latitude", "Longitude", "ButtonPayload", "ButtonText", "MessageType",
                     "NumSegments", "WaId", "ExternalUserId", "ErrorCode", "SmsStatus",
                     "AccountSid", "To", "Brand" + "New"]),
    st.one_of(_text, st.sampled_from(["0", "1", "10", "99999999999999999999", "-1", "x",
                                      "\x00", "audio/ogg", "image/", ""])), max_size=8)


@settings(max_examples=5000, deadline=None, database=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(fields=_fields, body=st.text(max_size=300),
       sender=st.one_of(st.sampled_from(["+22370000101", "whatsapp:+22375000006", "70000102",
                                         "whatsapp:US.13491208655302741918", "MAIRIE", ""]),
                        _text),
       sid=st.one_of(st.integers(0, 2**128 - 1).map(lambda n: f"SM{n:032x}"),
                     st.integers(0, 2**128 - 1).map(lambda n: f"MM{n:032x}"), _text))
def test_no_signed_body_gets_a_5xx(app, client, fields, body, sender, sid):
    params = {"MessageSid": sid, "SmsSid": sid, "AccountSid": "AC" + "0" * 31 + "1",
              "From": sender, "To": "+15005550006", "Body": body, **fields}
    headers = {"X-Twilio-Signature": sign(MESSAGES_URL, params)}
    response = client.post(MESSAGES_URL[len(PUBLIC_URL):], data=params, headers=headers)
    assert response.status_code < 500, (params, response.data)
    _SEEN[response.status_code] = _SEEN.get(response.status_code, 0) + 1


def test_the_property_run_reached_the_store():
    """Run after the property test (file order): most signed bodies were stored and answered."""
    if _SEEN:
        assert sum(_SEEN.values()) >= 5000 and _SEEN.get(200, 0) > 1000, _SEEN


# --- point 6: WhatsApp senders that are not phone numbers ----------------------------------------

BSUID = "US.13491208655302741918"


@pytest.mark.parametrize("sender", [BSUID, "ML.ENT.11815799212886844830", "BR." + "a1" * 64])
def test_a_whatsapp_business_scoped_user_id_is_stored_and_answered(app, signed_post, sender):
    params = inbound_params("Bonjour", channel="whatsapp", ExternalUserId=sender,
                            ProfileName="Awa")
    params["From"] = f"whatsapp:{sender}"
    params.pop("WaId", None)  # no phone number comes with a username-only person
    resp = signed_post(MESSAGES_URL, params)
    assert resp.status_code == 200
    assert b"</Message>" in resp.data  # answered, not an empty TwiML
    with session_scope(app) as s:
        [contact] = s.execute(sa.select(Contact)).scalars().all()
        assert (contact.phone, contact.last_channel) == (sender, "whatsapp")
        inbound = s.execute(sa.select(Message).where(Message.direction == "in")).scalar_one()
        assert inbound.attributes["ExternalUserId"] == sender
        assert inbound.processed_at is not None
    # The conversation goes on with the same contact.
    again = inbound_params("1", channel="whatsapp")
    again["From"] = f"whatsapp:{sender}"
    assert signed_post(MESSAGES_URL, again).status_code == 200
    assert count(app, Contact) == 1


def test_external_user_id_is_kept_beside_a_phone_number(app, signed_post):
    params = inbound_params("Bonjour", channel="whatsapp", ExternalUserId=BSUID)
    assert signed_post(MESSAGES_URL, params).status_code == 200
    with session_scope(app) as s:
        inbound = s.execute(sa.select(Message).where(Message.direction == "in")).scalar_one()
        assert inbound.attributes["ExternalUserId"] == BSUID
        assert s.execute(sa.select(Contact.phone)).scalar_one() == "+22370000099"


def test_an_sms_sender_shaped_like_a_user_id_is_still_not_a_phone(app, signed_post):
    params = inbound_params("Bonjour")
    params["From"] = BSUID  # not WhatsApp: not an address Twilio would give
    resp = signed_post(MESSAGES_URL, params)
    assert resp.status_code == 200 and count(app, Message) == 0


# --- point 8: smaller holes ------------------------------------------------------------------

@pytest.mark.parametrize("code", [str(2**64), str(2**64 + 30003), "9" * 5000, "-30003",
                                  "30003.0", "３０００３", "0"])
def test_an_unreadable_error_code_keeps_the_status(app, signed_post, code):
    from bot.db import transaction

    sid = "SM" + "7" * 32
    with transaction(app) as conn:
        now = sa.func.now()
        contact = conn.execute(sa.insert(Contact.__table__).values(
            phone="+22370000123", created_at=now, updated_at=now)
            .returning(Contact.__table__.c.id)).scalar_one()
        conn.execute(sa.insert(Message.__table__).values(
            contact_id=contact, direction="out", channel="sms", body="x", media=[],
            attributes={}, status="sent", provider_sid=sid, created_at=now))
    resp = signed_post(f"{PUBLIC_URL}/webhooks/twilio/status",
                       {"MessageSid": sid, "MessageStatus": "undelivered", "ErrorCode": code})
    assert resp.status_code == 204
    with session_scope(app) as s:
        message = s.execute(sa.select(Message).where(Message.provider_sid == sid)).scalar_one()
        assert (message.status, message.error_code) == ("undelivered", None)


def test_error_codes_are_read_as_twilio_writes_them():
    assert tw.error_code_of("30003") == 30003 and tw.error_code_of(" 63016 ") == 63016
    assert tw.error_code_of(None) is None and tw.error_code_of("") is None
    assert tw.error_code_of(str(2**31)) is None


def test_a_whatsapp_sender_without_its_prefix_is_refused_at_start(tmp_path):
    from bot.config import load_settings

    with pytest.raises(ValueError, match="TWILIO_WHATSAPP_FROM must start with whatsapp:"):
        load_settings(tmp_path, {"TWILIO_WHATSAPP_FROM": "+14155238886"})
    assert load_settings(tmp_path, {"TWILIO_WHATSAPP_FROM": "whatsapp:+14155238886"})[
        "TWILIO_WHATSAPP_FROM"] == "whatsapp:+14155238886"


def test_essbot_serve_names_the_bad_whatsapp_sender(tmp_path, monkeypatch):
    from click.testing import CliRunner

    from bot.cli import main

    monkeypatch.setenv("ESSBOT_INSTANCE_PATH", str(tmp_path))
    monkeypatch.setenv("TWILIO_WHATSAPP_FROM", "+14155238886")
    result = CliRunner().invoke(main, ["serve"])
    # Refused before anything starts, naming the setting and its value (staff CLI: French).
    assert result.exit_code != 0
    assert "TWILIO_WHATSAPP_FROM" in result.output and "+14155238886" in result.output
    assert "Traceback" not in result.output
