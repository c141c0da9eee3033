"""mosquitto_pub / mosquitto_sub's command lines, parsed the way Mosquitto 2.0 parses them.

The flags, their defaults and their error texts follow Mosquitto's client/client_shared.c: `-h` is
the host (help is `--help` only), `-V` takes mqttv31|mqttv311|mqttv5 or 31|311|5 and defaults to
3.1.1, `-p` defaults to 1883 (8883 with `--cafile`/`--capath`), a publish topic may not hold a
wildcard, `-W` and `-C` need a positive number, `-D` adds an MQTT 5 property (and switches to 5.0).
One difference, on purpose: a usage error is one line (Mosquitto adds a blank line and "Use
'mosquitto_pub --help' to see usage."). The exit status of a usage error is 1, as Mosquitto's.

Flags Mosquitto has and these tools do not (TLS engines, PSK, SOCKS proxies, SRV lookups) are
refused with a line saying so, never silently ignored.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal

from gateway.mqtt.errors import ProtocolError
from gateway.mqtt.topics import validate_topic_filter, validate_topic_name

Tool = Literal["pub", "sub"]
MQTT_MAX_PAYLOAD = 268_435_455
SESSION_NEVER_EXPIRES = 0xFFFFFFFF

# -V values (paho's protocol constants: 3 = MQTT 3.1 "MQIsdp", 4 = 3.1.1, 5 = 5.0)
PROTOCOLS = {"mqttv31": 3, "31": 3, "mqttv311": 4, "311": 4, "mqttv5": 5, "5": 5}
TLS_VERSIONS = ("tlsv1.3", "tlsv1.2", "tlsv1.1")
UNSUPPORTED = {  # Mosquitto flags these tools do not offer, and why
    "--psk": "TLS-PSK (Python's ssl module has no PSK client before 3.13)",
    "--psk-identity": "TLS-PSK (Python's ssl module has no PSK client before 3.13)",
    "--proxy": "SOCKS proxies",
    "--tls-engine": "OpenSSL engines",
    "--tls-engine-kpass-sha1": "OpenSSL engines",
    "--keyform": "OpenSSL engines",
    "-S": "SRV lookups",
}

# -D: property name -> (type, the packets it may go in), as libmosquitto's property table
_INT_BITS = {"byte": 8, "int16": 16, "int32": 32, "varint": 28}
PROPERTIES: dict[str, tuple[str, frozenset[str]]] = {
    "payload-format-indicator": ("byte", frozenset({"publish", "will"})),
    "message-expiry-interval": ("int32", frozenset({"publish", "will"})),
    "content-type": ("string", frozenset({"publish", "will"})),
    "response-topic": ("string", frozenset({"publish", "will"})),
    "correlation-data": ("binary", frozenset({"publish", "will"})),
    "subscription-identifier": ("varint", frozenset({"subscribe"})),
    "session-expiry-interval": ("int32", frozenset({"connect", "disconnect"})),
    "authentication-method": ("string", frozenset({"connect"})),
    "authentication-data": ("binary", frozenset({"connect"})),
    "request-problem-information": ("byte", frozenset({"connect"})),
    "will-delay-interval": ("int32", frozenset({"will"})),
    "request-response-information": ("byte", frozenset({"connect"})),
    "receive-maximum": ("int16", frozenset({"connect"})),
    "topic-alias-maximum": ("int16", frozenset({"connect"})),
    "topic-alias": ("int16", frozenset({"publish"})),
    "maximum-packet-size": ("int32", frozenset({"connect"})),
    "user-property": (
        "string-pair",
        frozenset({"connect", "publish", "will", "subscribe", "unsubscribe", "disconnect"}),
    ),
}
_COMMANDS = (
    "connect",
    "publish",
    "subscribe",
    "unsubscribe",
    "disconnect",
    "will",
    "auth",
    "connack",
    "puback",
    "pubrec",
    "pubrel",
    "pubcomp",
    "suback",
    "unsuback",
)


class UsageError(Exception):
    """A command line the tool refuses: one line on stderr, exit status 1."""


class HelpRequested(Exception):  # a request, not an error
    """`--help`: the usage text is printed (exit status 1, as Mosquitto's)."""


class VersionRequested(Exception):
    """`--version`."""


Mode = Literal["message", "file", "stdin-file", "stdin-line", "null"]


@dataclass
class Options:
    tool: Tool
    host: str = "localhost"
    port: int | None = None  # None: 1883, or 8883 with TLS
    unix_path: str | None = None
    bind_address: str = ""
    protocol: int = 4
    client_id: str | None = None
    id_prefix: str | None = None
    keepalive: int = 60
    clean_session: bool = True
    session_expiry: int = -1  # -1: not given
    username: str | None = None
    password: str | None = None
    password_file: str | None = None  # our addition: keeps the password out of `ps`
    qos: int = 0
    retain: bool = False
    topics: list[str] = field(default_factory=list)
    mode: Mode | None = None
    message: bytes | None = None
    file: str | None = None
    repeat: int = 1
    repeat_delay: float = 0.0
    max_inflight: int = 20
    will_topic: str | None = None
    will_payload: bytes | None = None
    will_qos: int = 0
    will_retain: bool = False
    cafile: str | None = None
    capath: str | None = None
    cert: str | None = None
    key: str | None = None
    insecure: bool = False
    tls_version: str | None = None
    tls_alpn: str | None = None
    ciphers: str | None = None
    tls_use_os_certs: bool = False
    nodelay: bool = False
    debug: bool = False
    quiet: bool = False
    # sub only
    verbose: bool = False
    count: int = 0
    timeout: int = 0
    no_retain: bool = False
    retained_only: bool = False
    remove_retained: bool = False
    retain_as_published: bool = False
    filter_out: list[str] = field(default_factory=list)
    unsubscribe: list[str] = field(default_factory=list)
    exit_after_sub: bool = False
    eol: bool = True
    format: str | None = None
    pretty: bool = False
    random_filter: float = 100.0
    # -D: command -> [(property name, value)], value a str, bytes, int or (key, value)
    properties: dict[str, list[tuple[str, object]]] = field(default_factory=dict)

    @property
    def tls(self) -> bool:
        return bool(
            self.cafile
            or self.capath
            or self.tls_use_os_certs
            or (self.port == 8883 and not self.unix_path)
        )

    @property
    def effective_port(self) -> int:
        if self.port is not None:
            return self.port
        return 8883 if (self.cafile or self.capath) else 1883

    def props(self, command: str) -> list[tuple[str, object]]:
        return self.properties.get(command, [])


# -- the option table: flag -> (field, kind, tools) -------------------------------------------------
# kinds: "flag" sets True, "str" takes one argument; everything else has a method below.
_BOTH: frozenset[Tool] = frozenset({"pub", "sub"})
_PUB: frozenset[Tool] = frozenset({"pub"})
_SUB: frozenset[Tool] = frozenset({"sub"})
_Handler = Callable[["Options", list[str], int], int]  # (opts, args, index) -> the next index

_SIMPLE: dict[str, tuple[str, str, frozenset[Tool], str]] = {
    # flag: (field, kind, tools, what "no argument" calls it)
    "-h": ("host", "str", _BOTH, "host"),
    "--host": ("host", "str", _BOTH, "host"),
    "-u": ("username", "str", _BOTH, "username"),
    "--username": ("username", "str", _BOTH, "username"),
    "-P": ("password", "str", _BOTH, "password"),
    "--pw": ("password", "str", _BOTH, "password"),
    "--password-file": ("password_file", "str", _BOTH, "file"),
    "-A": ("bind_address", "str", _BOTH, "address"),
    "--cafile": ("cafile", "str", _BOTH, "file"),
    "--capath": ("capath", "str", _BOTH, "directory"),
    "--cert": ("cert", "str", _BOTH, "file"),
    "--key": ("key", "str", _BOTH, "file"),
    "--ciphers": ("ciphers", "str", _BOTH, "ciphers"),
    "--tls-alpn": ("tls_alpn", "str", _BOTH, "protocol"),
    "--insecure": ("insecure", "flag", _BOTH, ""),
    "--tls-use-os-certs": ("tls_use_os_certs", "flag", _BOTH, ""),
    "--nodelay": ("nodelay", "flag", _BOTH, ""),
    "-d": ("debug", "flag", _BOTH, ""),
    "--debug": ("debug", "flag", _BOTH, ""),
    "--quiet": ("quiet", "flag", _BOTH, ""),
    "--will-retain": ("will_retain", "flag", _BOTH, ""),
    "-r": ("retain", "flag", _PUB, ""),
    "--retain": ("retain", "flag", _PUB, ""),
    "-v": ("verbose", "flag", _SUB, ""),
    "--verbose": ("verbose", "flag", _SUB, ""),
    "-N": ("eol", "flag-off", _SUB, ""),
    "-E": ("exit_after_sub", "flag", _SUB, ""),
    "--retained-only": ("retained_only", "flag", _SUB, ""),
    "--remove-retained": ("remove_retained", "flag", _SUB, ""),
    "--retain-as-published": ("retain_as_published", "flag", _SUB, ""),
    "--pretty": ("pretty", "flag", _SUB, ""),
}


def parse(tool: Tool, argv: list[str]) -> Options:
    """Options from a command line; raises UsageError, HelpRequested or VersionRequested."""
    opts = Options(tool)
    args = list(argv)
    i = 0
    while i < len(args):
        i = _one(opts, args, i)
    _finish(opts)
    return opts


def _need(args: list[str], i: int, what: str) -> str:
    if i + 1 >= len(args):
        raise UsageError(f"Error: {args[i]} argument given but no {what} specified.")
    return args[i + 1]


def _one(opts: Options, args: list[str], i: int) -> int:
    """Apply the option at args[i]; returns the index of the next one."""
    flag = args[i]
    if flag in _SIMPLE:
        name, kind, tools, what = _SIMPLE[flag]
        if opts.tool not in tools:
            raise UsageError(f"Error: Unknown option '{flag}'.")
        if kind == "flag":
            setattr(opts, name, True)
            return i + 1
        if kind == "flag-off":
            setattr(opts, name, False)
            return i + 1
        setattr(opts, name, _need(args, i, what))
        return i + 2
    handler = _HANDLERS.get(flag)
    if handler is None or opts.tool not in handler[1]:
        if flag in UNSUPPORTED:
            raise UsageError(
                f"Error: {flag} is not supported by edge-gateway {opts.tool} ({UNSUPPORTED[flag]})."
            )
        raise UsageError(f"Error: Unknown option '{flag}'.")
    return handler[0](opts, args, i)


def _int_arg(text: str) -> int:
    """C's atoi: leading digits, 0 if none (so Mosquitto's range errors show the same number)."""
    text = text.strip()
    sign, digits = (-1, text[1:]) if text[:1] == "-" else (1, text.lstrip("+"))
    number = ""
    for char in digits:
        if not char.isdigit():
            break
        number += char
    return sign * int(number) if number else 0


def _float_arg(text: str) -> float:
    try:
        return float(text)
    except ValueError:
        return 0.0


def _port(opts: Options, args: list[str], i: int) -> int:
    port = _int_arg(_need(args, i, "port"))
    if not 0 <= port <= 65535:
        raise UsageError(f"Error: Invalid port given: {port}")
    opts.port = port
    return i + 2


def _qos(opts: Options, args: list[str], i: int) -> int:
    qos = _int_arg(_need(args, i, "QoS"))
    if not 0 <= qos <= 2:
        raise UsageError(f"Error: Invalid QoS given: {qos}")
    opts.qos = qos
    return i + 2


def _protocol(opts: Options, args: list[str], i: int) -> int:
    value = _need(args, i, "version")
    if value not in PROTOCOLS:
        raise UsageError("Error: Invalid protocol version argument given.")
    opts.protocol = PROTOCOLS[value]
    return i + 2


def _keepalive(opts: Options, args: list[str], i: int) -> int:
    value = _int_arg(_need(args, i, "keepalive"))
    if not 5 <= value <= 65535:
        raise UsageError(
            "Error: Invalid keepalive given, it must be between 5 and 65535 inclusive."
        )
    opts.keepalive = value
    return i + 2


def _client_id(opts: Options, args: list[str], i: int) -> int:
    if opts.id_prefix is not None:
        raise UsageError("Error: -i and -I argument cannot be used together.")
    opts.client_id = _need(args, i, "id")
    return i + 2


def _id_prefix(opts: Options, args: list[str], i: int) -> int:
    if opts.client_id is not None:
        raise UsageError("Error: -i and -I argument cannot be used together.")
    opts.id_prefix = _need(args, i, "id prefix")
    return i + 2


def _topic(opts: Options, args: list[str], i: int) -> int:
    add_topic(opts, _need(args, i, "topic"))
    return i + 2


def add_topic(opts: Options, topic: str) -> None:
    try:
        if opts.tool == "pub":
            validate_topic_name(topic)
        else:
            validate_topic_filter(topic)
    except ProtocolError:
        if opts.tool == "pub":
            raise UsageError(
                f"Error: Invalid publish topic '{topic}', does it contain '+' or '#'?"
            ) from None
        raise UsageError(
            f"Error: Invalid subscription topic '{topic}', are all '+' and '#' wildcards correct?"
        ) from None
    if opts.tool == "pub":
        opts.topics = [topic]
    else:
        opts.topics.append(topic)


def _filter_list(kind: str, attr: str) -> _Handler:
    def handler(opts: Options, args: list[str], i: int) -> int:
        value = _need(args, i, "topic filter" if kind == "filter" else "unsubscribe topic")
        try:
            validate_topic_filter(value)
        except ProtocolError:
            raise UsageError(
                f"Error: Invalid {kind} topic '{value}', are all '+' and '#' wildcards correct?"
            ) from None
        getattr(opts, attr).append(value)
        return i + 2

    return handler


def _set_mode(opts: Options, mode: Mode) -> None:
    if opts.mode is not None:
        raise UsageError("Error: Only one type of message can be sent at once.")
    opts.mode = mode


def _message(opts: Options, args: list[str], i: int) -> int:
    value = _need(args, i, "message")
    _set_mode(opts, "message")
    opts.message = os.fsencode(value)
    return i + 2


def _file(opts: Options, args: list[str], i: int) -> int:
    _set_mode(opts, "file")
    opts.file = _need(args, i, "file")
    return i + 2


def _mode(mode: Mode) -> _Handler:
    def handler(opts: Options, args: list[str], i: int) -> int:
        _set_mode(opts, mode)
        return i + 1

    return handler


def _count(opts: Options, args: list[str], i: int) -> int:
    value = _int_arg(_need(args, i, "count"))
    if value < 1:
        raise UsageError(f'Error: Invalid message count "{value}".')
    opts.count = value
    return i + 2


def _timeout(opts: Options, args: list[str], i: int) -> int:
    value = _int_arg(_need(args, i, "timeout"))
    if value < 1:
        raise UsageError(f'Error: Invalid timeout "{value}".')
    opts.timeout = value
    return i + 2


def _no_retain(opts: Options, args: list[str], i: int) -> int:
    opts.no_retain = True
    return i + 1


def _format(opts: Options, args: list[str], i: int) -> int:
    from gateway.mqtt_tools.output import FormatError, check_format

    value = _need(args, i, "format")
    try:
        check_format(value)
    except FormatError as exc:
        raise UsageError(str(exc)) from None
    opts.format = value
    return i + 2


def _repeat(opts: Options, args: list[str], i: int) -> int:
    value = _int_arg(_need(args, i, "count"))
    if value < 1:
        raise UsageError("Error: --repeat argument must be >0.")
    opts.repeat = value
    return i + 2


def _repeat_delay(opts: Options, args: list[str], i: int) -> int:
    value = _float_arg(_need(args, i, "time"))
    if value < 0:
        raise UsageError("Error: --repeat-delay argument must be >=0.0.")
    opts.repeat_delay = value
    return i + 2


def _max_inflight(opts: Options, args: list[str], i: int) -> int:
    value = _int_arg(_need(args, i, "max_inflight"))
    if value < 1:
        raise UsageError("Error: Maximum inflight messages must be greater than 0.")
    opts.max_inflight = value
    return i + 2


def _random_filter(opts: Options, args: list[str], i: int) -> int:
    value = _float_arg(_need(args, i, "chance"))
    if not 0.1 <= value <= 100.0:
        raise UsageError("Error: --random-filter chance must be between 0.1-100.0")
    opts.random_filter = value
    return i + 2


def _clean(opts: Options, args: list[str], i: int) -> int:
    opts.clean_session = False
    return i + 1


def _session_expiry(opts: Options, args: list[str], i: int) -> int:
    value = _need(args, i, "session expiry interval")
    if value == "∞":
        opts.session_expiry = SESSION_NEVER_EXPIRES
        return i + 2
    try:
        number = int(value, 0)
    except ValueError:
        raise UsageError("Error: session-expiry-interval not a number.") from None
    if not -1 <= number <= SESSION_NEVER_EXPIRES:
        raise UsageError("Error: session-expiry-interval out of range.")
    opts.session_expiry = SESSION_NEVER_EXPIRES if number == -1 else number
    return i + 2


def _will_topic(opts: Options, args: list[str], i: int) -> int:
    value = _need(args, i, "will topic")
    try:
        validate_topic_name(value)
    except ProtocolError:
        raise UsageError(
            f"Error: Invalid will topic '{value}', does it contain '+' or '#'?"
        ) from None
    opts.will_topic = value
    return i + 2


def _will_payload(opts: Options, args: list[str], i: int) -> int:
    opts.will_payload = os.fsencode(_need(args, i, "will payload"))
    return i + 2


def _will_qos(opts: Options, args: list[str], i: int) -> int:
    value = _int_arg(_need(args, i, "will QoS"))
    if not 0 <= value <= 2:
        raise UsageError(f"Error: Invalid will QoS {value}.")
    opts.will_qos = value
    return i + 2


def _tls_version(opts: Options, args: list[str], i: int) -> int:
    value = _need(args, i, "version")
    if value not in TLS_VERSIONS:
        raise UsageError(
            f"Error: Invalid TLS version '{value}' (one of {', '.join(TLS_VERSIONS)})."
        )
    opts.tls_version = value
    return i + 2


def _unix(opts: Options, args: list[str], i: int) -> int:
    opts.unix_path = _need(args, i, "socket path")
    opts.port = 0
    return i + 2


def _url(opts: Options, args: list[str], i: int) -> int:
    """-L mqtt(s)://[username[:password]@]host[:port]/topic"""
    url = _need(args, i, "URL")
    lower = url.lower()
    if lower.startswith("mqtt://"):
        rest, opts.port = url[7:], 1883
    elif lower.startswith("mqtts://"):
        rest, opts.port, opts.tls_use_os_certs = url[8:], 8883, True
    else:
        raise UsageError("Error: unsupported URL scheme.")
    location, slash, topic = rest.partition("/")
    if not slash:
        raise UsageError("Error: Invalid URL for -L argument specified - topic missing.")
    add_topic(opts, topic)
    if "@" in location:
        credentials, _, location = location.partition("@")
        user, colon, password = credentials.partition(":")
        opts.username = user
        if colon:
            opts.password = password
    host, colon, port = location.partition(":")
    opts.host = host
    if colon:
        opts.port = _int_arg(port)
    return i + 2


def _property(opts: Options, args: list[str], i: int) -> int:
    """-D command identifier value  (user-property: -D command user-property key value)."""
    if i + 3 >= len(args):
        raise UsageError("Error: --property argument given but not enough arguments specified.")
    command, name = args[i + 1].lower(), args[i + 2]
    if command not in _COMMANDS:
        raise UsageError("Error: Invalid command given in --property argument.")
    if name not in PROPERTIES:
        raise UsageError("Error: Invalid property name given in --property argument.")
    kind, allowed = PROPERTIES[name]
    if command not in allowed:
        raise UsageError(
            f"Error: {name} property not allowed for {command} in --property argument."
        )
    if (
        command == "subscribe" and name not in ("subscription-identifier", "user-property")
    ) or command in (
        "auth",
        "connack",
        "puback",
        "pubrec",
        "pubrel",
        "pubcomp",
        "suback",
        "unsuback",
    ):
        raise UsageError(
            f"Error: {name} property not supported for {command} in --property argument."
        )
    if kind == "string-pair":
        if i + 4 >= len(args):
            raise UsageError("Error: --property argument given but not enough arguments specified.")
        value: object = (args[i + 3], args[i + 4])
        after = i + 5
    else:
        value, after = _property_value(name, kind, args[i + 3]), i + 4
    opts.properties.setdefault(command, []).append((name, value))
    opts.protocol = 5
    return after


def _property_value(name: str, kind: str, text: str) -> object:
    if kind in _INT_BITS:
        number = _int_arg(text)
        if not 0 <= number < (1 << _INT_BITS[kind]):
            raise UsageError(f"Error: Property value ({number}) out of range for property {name}.")
        return number
    if kind == "binary":
        data = os.fsencode(text)
        if len(data) > 65535:
            raise UsageError(f"Error: Property value too long for property {name}.")
        return data
    return text


def _help(opts: Options, args: list[str], i: int) -> int:
    raise HelpRequested


def _version(opts: Options, args: list[str], i: int) -> int:
    raise VersionRequested


_HANDLERS: dict[str, tuple[_Handler, frozenset[Tool]]] = {
    "-p": (_port, _BOTH),
    "--port": (_port, _BOTH),
    "-q": (_qos, _BOTH),
    "--qos": (_qos, _BOTH),
    "-V": (_protocol, _BOTH),
    "--protocol-version": (_protocol, _BOTH),
    "-k": (_keepalive, _BOTH),
    "--keepalive": (_keepalive, _BOTH),
    "-i": (_client_id, _BOTH),
    "--id": (_client_id, _BOTH),
    "-I": (_id_prefix, _BOTH),
    "--id-prefix": (_id_prefix, _BOTH),
    "-t": (_topic, _BOTH),
    "--topic": (_topic, _BOTH),
    "-T": (_filter_list("filter", "filter_out"), _SUB),
    "--filter-out": (_filter_list("filter", "filter_out"), _SUB),
    "-U": (_filter_list("unsubscribe", "unsubscribe"), _SUB),
    "--unsubscribe": (_filter_list("unsubscribe", "unsubscribe"), _SUB),
    "-m": (_message, _PUB),
    "--message": (_message, _PUB),
    "-f": (_file, _PUB),
    "--file": (_file, _PUB),
    "-s": (_mode("stdin-file"), _PUB),
    "--stdin-file": (_mode("stdin-file"), _PUB),
    "-l": (_mode("stdin-line"), _PUB),
    "--stdin-line": (_mode("stdin-line"), _PUB),
    "-n": (_mode("null"), _PUB),
    "--null-message": (_mode("null"), _PUB),
    "--repeat": (_repeat, _PUB),
    "--repeat-delay": (_repeat_delay, _PUB),
    "-M": (_max_inflight, _BOTH),
    "-C": (_count, _SUB),
    "-W": (_timeout, _SUB),
    "-R": (_no_retain, _SUB),
    "-F": (_format, _SUB),
    "--random-filter": (_random_filter, _SUB),
    "-c": (_clean, _BOTH),
    "--disable-clean-session": (_clean, _BOTH),
    "-x": (_session_expiry, _BOTH),
    "--will-topic": (_will_topic, _BOTH),
    "--will-payload": (_will_payload, _BOTH),
    "--will-qos": (_will_qos, _BOTH),
    "--tls-version": (_tls_version, _BOTH),
    "--unix": (_unix, _BOTH),
    "-L": (_url, _BOTH),
    "--url": (_url, _BOTH),
    "-D": (_property, _BOTH),
    "--property": (_property, _BOTH),
    "--help": (_help, _BOTH),
    "--version": (_version, _BOTH),
}


def _finish(opts: Options) -> None:
    """The checks Mosquitto makes once the whole line is read (client_config_load)."""
    if opts.tool == "sub" and opts.no_retain and opts.retained_only:
        raise UsageError("Error: Combining '-R' and '--retained-only' makes no sense.")
    if opts.will_payload is not None and opts.will_topic is None:
        raise UsageError("Error: Will payload given, but no will topic given.")
    if opts.will_retain and opts.will_topic is None:
        raise UsageError("Error: Will retain given, but no will topic given.")
    if (opts.cert is None) != (opts.key is None):
        raise UsageError("Error: Both certfile and keyfile must be provided if one of them is set.")
    if opts.password is not None and opts.password_file is not None:
        raise UsageError("Error: -P and --password-file cannot be used together.")
    _session_rules(opts)
    if opts.tool == "sub" and not opts.topics:
        raise UsageError("Error: You must specify a topic to subscribe to.")
    if opts.tool == "pub" and (not opts.topics or opts.mode is None):
        raise UsageError("Error: Both topic and message must be supplied.")


def _session_rules(opts: Options) -> None:
    needs_id = opts.id_prefix is not None or opts.client_id is None
    if opts.protocol == 5:
        if not opts.clean_session and opts.session_expiry == -1:
            opts.session_expiry = SESSION_NEVER_EXPIRES  # -c alone: a session that never expires
        if opts.session_expiry == SESSION_NEVER_EXPIRES and needs_id:
            raise UsageError(
                "Error: You must provide a client id if you are using an infinite "
                "session expiry interval."
            )
    elif not opts.clean_session and needs_id:
        raise UsageError("Error: You must provide a client id if you are using the -c option.")
