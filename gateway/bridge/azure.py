"""Azure IoT Hub device authentication: SAS tokens from the device key (pure, `now` passed in).

A token is `SharedAccessSignature sr=<uri>&sig=<sig>&se=<expiry>` where `<uri>` is the URL-encoded
`<hub host>/devices/<device id>` and `<sig>` is the URL-encoded base64 HMAC-SHA256, keyed with the
base64-decoded device key, of `<uri>\\n<expiry>` (Azure IoT Hub docs, "Control access to IoT Hub
using SAS tokens"). The MQTT username is `<hub host>/<device id>/?api-version=2021-04-12` and the
client id is the device id. Tokens are renewed `renew_before` seconds before they expire: the
bridge reconnects with the new one.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from dataclasses import dataclass
from urllib.parse import quote

API_VERSION = "2021-04-12"


def sas_token(hub_host: str, device_id: str, device_key_b64: str, expiry: int) -> str:
    uri = quote(f"{hub_host}/devices/{device_id}", safe="")
    key = base64.b64decode(device_key_b64)
    digest = hmac.new(key, f"{uri}\n{expiry}".encode(), hashlib.sha256).digest()
    sig = quote(base64.b64encode(digest).decode(), safe="")
    return f"SharedAccessSignature sr={uri}&sig={sig}&se={expiry}"


def username(hub_host: str, device_id: str) -> str:
    return f"{hub_host}/{device_id}/?api-version={API_VERSION}"


def device_topics(device_id: str) -> tuple[str, str]:
    """(the device-to-cloud topic prefix, the cloud-to-device filter)."""
    return f"devices/{device_id}/messages/events/", f"devices/{device_id}/messages/devicebound/#"


@dataclass
class SasRenewal:
    """Issues tokens valid for `ttl` seconds and says when the next one is due (wall clock)."""

    hub_host: str
    device_id: str
    device_key_b64: str
    ttl: int = 3600
    renew_before: int = 300
    expires_at: int = 0

    def issue(self, wall_now: float) -> str:
        self.expires_at = int(wall_now) + self.ttl
        return sas_token(self.hub_host, self.device_id, self.device_key_b64, self.expires_at)

    def renew_at(self) -> float:
        return self.expires_at - self.renew_before

    def due(self, wall_now: float) -> bool:
        return self.expires_at == 0 or wall_now >= self.renew_at()
