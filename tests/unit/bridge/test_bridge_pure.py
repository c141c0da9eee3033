"""Pure parts of the bridge with a fake clock: mapping, backoff, link health, rate limit, message
age, Azure SAS tokens, and the cloud profiles' rules."""

from __future__ import annotations

import base64
import hashlib
import hmac
from urllib.parse import quote, unquote

import pytest
from pydantic import ValidationError

from gateway.bridge.azure import SasRenewal, sas_token, username
from gateway.bridge.backoff import Backoff
from gateway.bridge.config import BridgeConfig
from gateway.bridge.health import LinkHealth
from gateway.bridge.limits import ArrivalClock, TokenBucket
from gateway.bridge.mapping import Direction, Mapper, TopicMap
from gateway.config import ConfigError, parse
from gateway.mqtt.enums import QoS

# -- mapping ---------------------------------------------------------------------------------


def test_mapping_rewrites_prefixes_both_ways_and_caps_qos():
    m = Mapper((TopicMap("sensors/#", Direction.BOTH, "edge/", "gw1/", QoS(2), QoS(1), False),))
    assert m.local_subscriptions() == [("edge/sensors/#", 2)]
    assert m.remote_subscriptions() == [("gw1/sensors/#", 1)]
    out = m.outbound("edge/sensors/t1", QoS(2), True)
    assert (out.topic, out.qos, out.retain) == ("gw1/sensors/t1", 1, False)
    inb = m.inbound("gw1/sensors/t1", QoS(1), True)
    assert (inb.topic, inb.qos, inb.retain) == ("edge/sensors/t1", 1, False)
    assert m.outbound("other/sensors/t1", QoS(1), False) is None
    assert m.inbound("gw1/other", QoS(1), False) is None


def test_first_matching_mapping_wins_and_directions_are_kept_apart():
    m = Mapper(
        (
            TopicMap("a/#", Direction.OUT, "", "x/"),
            TopicMap("#", Direction.OUT, "", "y/"),
            TopicMap("cmd/#", Direction.IN, "local/", ""),
        )
    )
    assert m.outbound("a/b", QoS(1), False).topic == "x/a/b"
    assert m.outbound("b", QoS(1), False).topic == "y/b"
    assert m.outbound("local/cmd/1", QoS(1), False).topic == "y/local/cmd/1"
    assert m.inbound("cmd/1", QoS(1), False).topic == "local/cmd/1"
    assert m.inbound("a/b", QoS(1), False) is None


# -- backoff ---------------------------------------------------------------------------------


def test_backoff_is_full_jitter_exponential_and_capped():
    b = Backoff(1, 30, rand=lambda: 1.0)
    assert [b.next_delay() for _ in range(7)] == [1, 2, 4, 8, 16, 30, 30]
    b0 = Backoff(1, 30, rand=lambda: 0.0)
    assert b0.next_delay() == 0  # full jitter reaches zero


def test_backoff_resets_only_after_a_stable_connection():
    b = Backoff(1, 30, stable_after=10, rand=lambda: 1.0)
    for _ in range(4):
        b.next_delay()
    b.connected(100)
    b.disconnected(105)  # flapping: keeps growing
    assert b.next_delay() == 16
    b.connected(200)
    b.disconnected(211)
    assert b.next_delay() == 1


# -- link health -----------------------------------------------------------------------------


def test_link_is_stuck_when_no_ack_arrives_within_the_timeout():
    h = LinkHealth(ack_timeout=5)
    assert not h.stuck(0) and h.deadline() is None
    h.sent(1, 10)
    assert not h.stuck(15)
    assert h.stuck(15.1)
    assert h.deadline() == 15


def test_a_slow_cloud_that_still_acknowledges_is_not_stuck():
    h = LinkHealth(ack_timeout=5)
    h.sent(1, 0)
    h.sent(2, 0)
    h.acked(2, 4)
    assert not h.stuck(8)  # message 1 is old but an ack came at t=4
    assert h.stuck(9.5)
    h.acked(1, 9.5)
    assert not h.stuck(100)


def test_reconnect_restarts_the_clock_for_resent_messages():
    h = LinkHealth(ack_timeout=5)
    h.sent(1, 0)
    h.reset(50)
    assert not h.stuck(54) and h.stuck(55.5)


def test_ids_the_cloud_forgot_are_no_longer_awaited():
    h = LinkHealth(ack_timeout=5)
    h.sent(1, 0)
    h.sent(2, 0)
    h.forget_all()  # the cloud had no session: these go out again under new ids
    h.reset(50)
    assert h.outstanding == 0 and h.deadline() is None and not h.stuck(1000)


# -- rate limit and message age --------------------------------------------------------------


def test_token_bucket_limits_rate_after_the_burst():
    b = TokenBucket(rate=10, burst=3, now=0)
    assert [b.take(0) for _ in range(4)] == [True, True, True, False]
    assert b.wait(0) == pytest.approx(0.1)
    assert b.take(0.1) and not b.take(0.1)
    assert TokenBucket(0, 1, 0).take(0) and TokenBucket(0, 1, 0).unlimited


def test_arrival_clock_never_overestimates_age():
    c = ArrivalClock(seq=100, now=0, resolution=1)
    c.record(110, 5)  # messages 101..110 arrived by t=5
    c.record(120, 20)
    assert c.arrived(95) == 0  # before the run started: counted from the start
    assert c.arrived(105) == 5
    assert c.arrived(115) == 20
    assert c.age(105, 30) == 25
    c.record(125, 20.5)
    assert c.arrived(121) == 20.5 and c.arrived(115) == 20
    c.record(130, 20.8)  # within one resolution step of t=20: the last checkpoint is widened
    assert c.arrived(123) == 20.8 and c.arrived(115) == 20
    c.prune(121)  # checkpoints before the one covering 121 go
    assert c.arrived(121) == 20.8 and c.arrived(50) == 20


def test_arrival_clock_turns_an_age_limit_into_the_last_number_old_enough():
    c = ArrivalClock(seq=100, now=0, resolution=1)
    c.record(110, 5)
    c.record(120, 20)
    assert c.last_before(0) is None  # nothing had arrived before the run started
    assert c.last_before(0.5) == 100 and c.last_before(5) == 100  # 101..110 arrived by t=5
    assert c.last_before(5.5) == 110 and c.last_before(100) == 120
    for cutoff in (0.5, 5, 5.5, 20, 21):  # the same line as arrived(): before the cutoff or not
        last = c.last_before(cutoff)
        assert all((n <= last) == (c.arrived(n) < cutoff) for n in range(90, 121))


# -- Azure SAS -------------------------------------------------------------------------------


def test_sas_token_matches_the_documented_construction():
    key = base64.b64encode(b"0123456789abcdef0123456789abcdef").decode()
    token = sas_token("hub.azure-devices.net", "dev1", key, 1_700_000_000)
    uri = quote("hub.azure-devices.net/devices/dev1", safe="")
    expected = base64.b64encode(
        hmac.new(base64.b64decode(key), f"{uri}\n1700000000".encode(), hashlib.sha256).digest()
    ).decode()
    fields = dict(
        part.split("=", 1) for part in token.removeprefix("SharedAccessSignature ").split("&")
    )
    assert fields == {"sr": uri, "sig": quote(expected, safe=""), "se": "1700000000"}
    assert unquote(fields["sig"]) == expected
    assert (
        username("hub.azure-devices.net", "dev1")
        == "hub.azure-devices.net/dev1/?api-version=2021-04-12"
    )


def test_sas_token_is_renewed_before_it_expires():
    r = SasRenewal(
        "hub.azure-devices.net", "dev1", base64.b64encode(b"k").decode(), ttl=3600, renew_before=300
    )
    assert r.due(1000)
    r.issue(1000)
    assert r.expires_at == 4600 and not r.due(4299) and r.due(4300)


# -- profiles (check-config) -----------------------------------------------------------------

BASE = {"name": "c", "host": "h.example", "topics": [{"pattern": "a/#"}]}


def _problems(**values) -> str:
    with pytest.raises(ValidationError) as info:
        BridgeConfig.model_validate({**BASE, **values})
    return str(info.value)


def test_aws_profile_rejects_qos2_and_needs_a_client_certificate():
    text = _problems(profile="aws-iot", topics=[{"pattern": "a/#", "remote_qos": 2}])
    assert "requires a client certificate" in text and "no QoS 2" in text


def test_aws_on_443_gets_its_alpn_and_refuses_another():
    tls = {"cert_file": "c.pem", "key_file": "k.pem"}
    cfg = BridgeConfig.model_validate({**BASE, "profile": "aws-iot", "port": 443, "tls": tls})
    assert cfg.effective_alpn() == ("x-amzn-mqtt-ca",)
    assert "needs ALPN" in _problems(profile="aws-iot", port=443, tls={**tls, "alpn": ["mqtt"]})
    assert "client_id must equal thing_name" in _problems(
        profile="aws-iot", tls=tls, thing_name="t1", client_id="other"
    )


def test_azure_profile_rules():
    azure = {"device_id": "dev1", "device_key_file": "/run/credentials/key"}
    text = _problems(profile="azure-iot-hub", azure=azure)
    assert "MQTT 3.1.1 only" in text and "devices/dev1/messages/events/" in text
    assert "no retained messages" in text
    ok = BridgeConfig.model_validate(
        {
            **BASE,
            "profile": "azure-iot-hub",
            "protocol": "3.1.1",
            "azure": azure,
            "topics": [
                {"pattern": "#", "remote_prefix": "devices/dev1/messages/events/", "retain": False},
                {
                    "pattern": "#",
                    "direction": "in",
                    "remote_prefix": "devices/dev1/messages/devicebound/",
                },
            ],
        }
    )
    assert ok.effective_client_id("gw") == "dev1" and ok.effective_status_topic("gw") is None


def test_hivemq_needs_credentials_and_secrets_are_files():
    assert "requires username and password_file" in _problems(profile="hivemq-cloud")
    assert "extra" in _problems(password="inline")  # no inline password key exists


def test_check_config_reports_bridge_problems_with_their_key():
    with pytest.raises(ConfigError) as info:
        parse({"bridges": [{**BASE, "profile": "aws-iot"}, {**BASE}]})
    text = "\n".join(info.value.problems)
    assert "bridges[0]" in text and "client certificate" in text
    with pytest.raises(ConfigError) as info:
        parse({"bridges": [BASE, BASE]})
    assert "unique" in "\n".join(info.value.problems)
    assert parse({"bridges": [BASE]}).bridges[0].effective_status_topic("gw") == "gw/status"
