"""The pure parts of `edge-gateway pub` / `sub`: Mosquitto's command line and mosquitto_sub's output.
(tests/integration/test_cli_mosquitto.py runs the same command lines against the real tools.)"""

from __future__ import annotations

import pytest

from gateway.mqtt_tools.options import SESSION_NEVER_EXPIRES, HelpRequested, UsageError, parse
from gateway.mqtt_tools.output import FormatError, Message, check_format, render


def test_defaults_are_mosquittos():
    opts = parse("pub", ["-t", "t", "-m", "m"])
    assert (opts.host, opts.effective_port, opts.protocol, opts.qos, opts.keepalive) == (
        "localhost",
        1883,
        4,
        0,
        60,
    )
    assert parse("pub", ["-t", "t", "-m", "m", "--cafile", "ca"]).effective_port == 8883
    assert parse("sub", ["-t", "t", "-p", "1884"]).effective_port == 1884


def test_h_is_the_host_and_help_is_long_only():
    assert parse("pub", ["-h", "10.0.0.2", "-t", "t", "-m", "m"]).host == "10.0.0.2"
    with pytest.raises(HelpRequested):
        parse("pub", ["--help"])


@pytest.mark.parametrize(
    ("value", "protocol"),
    [("mqttv31", 3), ("31", 3), ("mqttv311", 4), ("311", 4), ("mqttv5", 5), ("5", 5)],
)
def test_protocol_versions(value, protocol):
    assert parse("sub", ["-t", "t", "-V", value]).protocol == protocol


def test_property_switches_to_mqtt5_and_keeps_user_properties():
    opts = parse(
        "pub",
        [
            "-t",
            "t",
            "-m",
            "m",
            "-D",
            "publish",
            "user-property",
            "k",
            "v",
            "-D",
            "publish",
            "message-expiry-interval",
            "30",
        ],
    )
    assert opts.protocol == 5
    assert opts.props("publish") == [("user-property", ("k", "v")), ("message-expiry-interval", 30)]


def test_url_gives_credentials_host_port_and_topic():
    opts = parse("pub", ["-L", "mqtt://u:p@gw.local:1999/a/b", "-m", "x"])
    assert (opts.username, opts.password, opts.host, opts.port, opts.topics) == (
        "u",
        "p",
        "gw.local",
        1999,
        ["a/b"],
    )


def test_persistent_v5_session_needs_a_client_id():
    with pytest.raises(UsageError, match="client id"):
        parse("sub", ["-t", "t", "-c", "-V", "5"])
    opts = parse("sub", ["-t", "t", "-c", "-V", "5", "-i", "me"])
    assert opts.session_expiry == SESSION_NEVER_EXPIRES


def test_unsupported_flags_say_so():
    with pytest.raises(UsageError, match="--psk is not supported"):
        parse("pub", ["-t", "t", "-m", "m", "--psk", "00"])


@pytest.mark.parametrize(
    ("fmt", "error"),
    [
        ("%", "Incomplete format specifier"),
        ("%5", "Incomplete format specifier"),
        ("%Z", "Invalid format specifier 'Z'"),
        ("@", "Incomplete format specifier"),
        ("\\", "Incomplete escape specifier"),
        ("\\q", "Invalid escape specifier 'q'"),
    ],
)
def test_bad_formats_are_refused_with_mosquittos_words(fmt, error):
    with pytest.raises(FormatError, match=error):
        check_format(fmt)


MSG = Message("a/b", b"hello", qos=1, retain=True, mid=7)


@pytest.mark.parametrize(
    ("fmt", "out"),
    [
        ("%t %p", b"a/b hello"),
        ("%q%r %l %m", b"11 5 7"),
        ("[%6t][%-6t][%.1t]", b"[   a/b][a/b   ][a]"),
        ("[%05l][%-3l|]", b"[00005][5  |]"),
        ("%x|%X|%4x", b"68656c6c6f|68656C6C6F|6865"),
        ("%3p|%-7p|", b"hel|hello  |"),
        ("@@ %% \\t", b"@ % \t"),
    ],
)
def test_format_specifiers(fmt, out):
    assert render(fmt, False, True, MSG, 0.0) == out + b"\n"


def test_plain_verbose_and_empty_payloads_as_mosquitto_sub():
    empty = Message("x", b"")
    assert render(None, False, True, MSG, 0) == b"hello\n"
    assert render(None, True, False, MSG, 0) == b"a/b hello"
    assert render(None, False, True, empty, 0) is None  # nothing at all, not even a newline
    assert render(None, True, True, empty, 0) == b"x (null)\n"


def test_json_output_and_a_payload_that_is_not_json():
    line = render("%j", False, False, Message("t", b'say "hi"\n'), 0)
    assert line.endswith(b'"payloadlen":9,"payload":"say \\"hi\\"\\n"}')
    assert render("%J", False, False, Message("t", b'{"a":1}'), 0).endswith(b'"payload":{"a":1}}')
    with pytest.raises(FormatError, match="not valid JSON on topic t"):
        render("%J", False, False, Message("t", b"nope"), 0)
