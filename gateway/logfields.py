"""Journal fields for log records: ``log.info(..., extra=fields(sensor="bme280"))``.

Under systemd the journal handler (gateway.systemd.make_handler) sends every upper-case attribute
of a record as a journal field, so `journalctl -u edge-gateway CLIENT_ID=boot-sub SENSOR=greenhouse
BRIDGE=cloud RELAY=pump` finds one client's, sensor's, bridge's or relay's lines. On a terminal the
fields are ignored (the message text already names the thing). Names follow journald's rules:
upper-case letters, digits and underscores, not starting with an underscore.
"""

from __future__ import annotations

from typing import Any


def fields(**values: object) -> dict[str, object]:
    """``extra=`` with each keyword upper-cased; None and "" are left out."""
    return {
        key.upper(): value for key, value in values.items() if value is not None and value != ""
    }


def log_fields(client_id: str | None = None, conn: Any = None, **more: object) -> dict[str, object]:
    """The fields of a broker log line about one client: CLIENT_ID, PEER, LISTENER and any more."""
    if conn is not None:
        more.setdefault("peer", getattr(conn, "peer", None))
        more.setdefault("listener", getattr(conn, "listener", None))
    return fields(client_id=client_id, **more)
