"""The status page's HTML from a snapshot: every part present, text escaped."""

from gateway.web.history import History
from gateway.web.page import render_page

SNAPSHOT = {
    "status": {
        "id": "gw",
        "version": "1.0",
        "uptime": 90.0,
        "time": 0.0,
        "clock_synced": False,
        "cpu_temperature": 51.2,
        "throttling": {
            "raw": "0x50005",
            "now": ["under-voltage", "throttled"],
            "since_boot": ["under-voltage"],
        },
        "disk_free": 3 * 1024**3,
        "store": {"state": "full", "file bytes": 2048},
        "status_line": "1 client(s)",
    },
    "sensors": [
        {
            "name": "attic",
            "type": "bme280",
            "interval": 30.0,
            "online": False,
            "age": 400.0,
            "last_error": "<script>alert(1)</script>",
            "reads": 3,
            "failures": 2,
            "state_topic": "edge/sensor/attic",
            "values": {"temperature": {"value": 21.456, "unit": "°C"}},
        }
    ],
    "relays": [
        {
            "name": "pump",
            "title": "Pump",
            "kind": "gpio",
            "available": True,
            "state": "ON",
            "level": 1.0,
            "pwm": False,
            "limits": {"max_on_seconds": 600, "min_off_seconds": 60, "interlock": ["valve"]},
            "switches": 4,
            "last": {
                "event": "refused",
                "reason": "interlock",
                "detail": "valve is on",
                "at": 0,
                "age": 5,
            },
        }
    ],
    "bridges": [
        {
            "name": "cloud",
            "state": "backoff",
            "queue/messages": 12,
            "queue/bytes": 4096,
            "queue/oldest_age": 33.5,
            "messages/sent": 7,
            "messages/acked": 6,
            "messages/dropped": 1,
            "last_error": "connection refused",
        }
    ],
    "broker": {
        "clients/connected": 1,
        "messages/dropped/queue_full": 3,
        "limits/max_connections": 2,
        "connections/open": 2,
    },
}


def test_every_part_of_the_snapshot_is_on_the_page_and_escaped():
    history = History(3600, 10, 0.0)
    html = render_page(SNAPSHOT, history, 100.0, csrf="tok", user="alice", logins=True)
    assert "<script>alert(1)</script>" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    for text in (
        "OFFLINE",
        "21.46",
        "°C",
        "7 min ago",
        "NO",
        "51.2 °C",
        "under-voltage, throttled (since boot: under-voltage)",
        "3.0 GiB",
        "full, 2.0 KiB",
        "Pump",
        "refused (interlock: valve is on)",
        "max on 600 s; min off 60 s; interlocked with valve",
        "backoff",
        "12 msg, 4.0 KiB",
        "33.5 s",
        "7 / 6",
        "connection refused",
        "queue_full 3",
        "max_connections 2",
        'content="tok"',
        "alice",
        "Log out",
    ):
        assert text in html, text
    assert html.count('data-relay="pump"') == 3  # On, Off, Toggle


def test_loopback_requests_must_name_this_machine():
    import socket

    from gateway.web.routes import host_allowed

    for good in (
        "127.0.0.1:8080",
        "localhost",
        "LOCALHOST:80",
        "[::1]:8080",
        "::1",
        "",
        f"{socket.gethostname()}.local:8443",
        "10.0.0.5",
    ):
        assert host_allowed(good), good
    for bad in ("evil.example:8080", "attacker.com", "127.0.0.1.nip.io"):
        assert not host_allowed(bad), bad
