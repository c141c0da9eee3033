"""paho-mqtt is imported with stand-ins for urllib.request and hashlib (gateway.bridge.cloud): the
bridge does not load them, and paho still reaches the real modules when it uses them."""

from __future__ import annotations

import json
import subprocess
import sys

CHECK = """
import json, sys
import gateway.bridge.cloud as cloud
loaded = {name: name in sys.modules for name in ("urllib.request", "hashlib", "http.client")}
paho = cloud.mqtt
digest = paho.hashlib.sha1(b"abc").hexdigest()          # paho's WebSocket handshake
proxies = type(paho.urllib.request.getproxies()).__name__  # paho's proxy look-up
import hashlib, urllib.request
print(json.dumps({"loaded": loaded, "digest": digest, "proxies": proxies,
                  "real": [type(hashlib).__name__, urllib.request is sys.modules["urllib.request"],
                           hasattr(hashlib, "sha256")]}))
"""


def test_the_bridge_does_not_load_what_paho_imports_but_never_uses():
    out = subprocess.run([sys.executable, "-c", CHECK], capture_output=True, text=True, check=True)
    got = json.loads(out.stdout)
    assert got["loaded"] == {"urllib.request": False, "hashlib": False, "http.client": False}
    assert got["digest"] == "a9993e364706816aba3e25717850c26c9cd0d89d"  # SHA-1("abc"), FIPS 180
    assert got["proxies"] == "dict"
    assert got["real"] == ["module", True, True]
