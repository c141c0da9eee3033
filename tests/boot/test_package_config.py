"""The config the Debian package installs (config/gateway.package.toml) starts on a bare device.

No hardware: the only files it names are those first-boot provisioning writes
(debian/edge-gateway-provision). The boot test starts the gateway with it for real; these checks
run everywhere, without root.
"""

from __future__ import annotations

import re
from pathlib import Path

from gateway.config import load

ROOT = Path(__file__).resolve().parents[2]
PACKAGE_CONFIG = ROOT / "config" / "gateway.package.toml"


def test_package_config_loads_with_nothing_but_password_listeners():
    config = load(PACKAGE_CONFIG)
    assert not config.sensors and not config.relays and not config.bridges
    tls, plain = config.broker.listeners
    assert (tls.host, tls.port, plain.host, plain.port) == ("0.0.0.0", 8883, "0.0.0.0", 1883)
    assert tls.tls is not None and plain.tls is None
    assert not tls.anonymous_allowed and not plain.anonymous_allowed
    assert config.warnings() == [
        "broker.listeners[lan]: passwords cross the network in clear text (no tls)"
    ]


def test_package_config_names_only_files_provisioning_writes():
    config = load(PACKAGE_CONFIG)
    provision = (ROOT / "debian" / "edge-gateway-provision").read_text()
    assert config.auth.password_file == Path("/etc/edge-gateway/passwd")
    assert "/etc/edge-gateway/passwd" in provision
    tls = config.broker.listeners[0].tls
    assert (tls.certfile, tls.keyfile) == (
        Path("/etc/edge-gateway/server.crt"),
        Path("/etc/edge-gateway/secrets/server.key"),
    )
    assert '"server.crt"' in provision and '"server.key"' in provision
    assert config.auth.acl_file is None and config.auth.scram_file is None
    assert config.gateway.state_dir == Path("/var/lib/edge-gateway")


def test_package_config_serves_the_web_surface_over_tls_on_the_lan():
    web = load(PACKAGE_CONFIG).web
    assert web.enabled and (web.host, web.port) == ("0.0.0.0", 8443)
    assert (web.certfile, web.keyfile) == (
        Path("/etc/edge-gateway/server.crt"),
        Path("/etc/edge-gateway/secrets/server.key"),
    )
    assert not web.anonymous_allowed


def test_debian_rules_installs_the_package_config_as_the_conffile():
    rules = (ROOT / "debian" / "rules").read_text()
    assert re.search(
        r"config/gateway\.package\.toml\s+debian/edge-gateway/etc/edge-gateway/"
        r"gateway\.toml",
        rules,
    )


def test_a_missing_tls_file_is_named_in_the_error(tmp_path):
    # The first boot test booted the package with the example config, whose TLS listener names
    # certificates a fresh device has not: the journal said only "[Errno 2] No such file or
    # directory". Now the message names the file.
    import pytest

    from gateway.broker.auth.tls import server_context

    missing = tmp_path / "server.crt"
    with pytest.raises(FileNotFoundError, match="TLS file missing") as info:
        server_context(str(missing), str(tmp_path / "server.key"))
    assert info.value.filename == str(missing) and str(missing) in str(info.value)
