"""check-config beyond the schema (gateway.preflight): every shipped config passes with no
warning but the documented ones; pins shared by a bus are not clashes; a bridge mapping that matches
nothing the gateway publishes and a min_free_bytes larger than the disk are warnings."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import trustme

from gateway.broker.auth.passwords import PasswordFile
from gateway.cli import main
from gateway.config import load, parse
from gateway.mqtt.topics import filters_overlap
from gateway.preflight import check
from gateway.preflight.pins import pin_problems

ROOT = Path(__file__).resolve().parents[2]
#: warnings a shipped config is expected to give, and why
EXPECTED_WARNINGS = {
    # the package's plain 1883 listener is for LAN devices that cannot do TLS (README, security)
    "gateway.package.toml": [
        "broker.listeners[lan]: passwords cross the network in clear text (no tls)"
    ],
}


def image_root(tmp_path: Path) -> Path:
    """A root file system holding every file the shipped configs name, as provisioning makes them."""
    root = tmp_path / "root"
    etc = root / "etc" / "edge-gateway"
    (etc / "tls").mkdir(parents=True)
    (etc / "secrets").mkdir()
    (root / "var" / "lib" / "edge-gateway").mkdir(parents=True)
    cert = trustme.CA().issue_cert("gateway.local")
    for folder, key_folder in ((etc / "tls", etc / "tls"), (etc, etc / "secrets")):
        cert.cert_chain_pems[0].write_to_path(folder / "server.crt")
        cert.private_key_pem.write_to_path(key_folder / "server.key")
        (key_folder / "server.key").chmod(0o640)
    users = PasswordFile()
    users.set("admin", "secret", iterations=1000)
    users.save(etc / "passwd")
    return root


def shipped_configs() -> list[Path]:
    """config/*.toml; the cloud examples (config/examples/) name cloud CAs and credentials of
    their own and are checked, with those files made, by their own tests."""
    return sorted((ROOT / "config").glob("*.toml"))


@pytest.mark.parametrize("config", shipped_configs(), ids=lambda p: p.name)
def test_every_shipped_config_passes_check_config(config, tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)  # the demo's relative state_dir
    root = image_root(tmp_path)
    assert main(["check-config", "--root", str(root), str(config)]) == 0, capsys.readouterr().err
    warnings = [line.split(": warning: ", 1)[1] for line in capsys.readouterr().err.splitlines()]
    assert warnings == EXPECTED_WARNINGS.get(config.name, [])


def test_the_example_config_has_no_pin_clash():
    assert pin_problems(load(ROOT / "config" / "gateway.toml")) == []


def sensors(*tables: dict) -> dict:
    return {"gateway": {"state_dir": "/tmp"}, "sensors": list(tables)}


def test_devices_on_one_bus_share_its_pins():
    config = parse(
        {
            **sensors(
                {"type": "bme280", "name": "a"},
                {"type": "sht3x", "name": "b"},
                {"type": "nmea", "name": "gps", "port": "/dev/serial0"},
                {"type": "pms5003", "name": "air", "port": "/dev/serial0"},
                {"type": "ds18b20", "name": "t1", "device_id": "28-0316a2795aff"},
                {"type": "ds18b20", "name": "t2", "device_id": "28-0316a2795afe"},
                {"type": "mcp3008", "name": "adc"},
                {"type": "max31855", "name": "tc", "chip_select": 1},
            ),
            "relays": [{"name": "v", "kind": "pcf8574", "address": 0x20, "pin": 0}],
        }
    )
    assert pin_problems(config) == []


def test_two_spi_devices_on_one_chip_select_and_a_dht_on_the_1wire_pin_clash():
    config = parse(
        sensors(
            {"type": "mcp3008", "name": "adc"},
            {"type": "max31855", "name": "tc"},
            {"type": "ds18b20", "name": "t", "device_id": "28-0316a2795aff"},
            {"type": "dht22", "name": "h"},
        )
    )
    assert pin_problems(config) == [
        "sensors[h].gpiopin: BCM 4 is also used by 1-Wire on BCM 4 (sensors[t].gpiopin)",
        "sensors[adc].chip_select: BCM 8 is also used by sensors[tc].chip_select",
    ]


def test_a_mapping_that_matches_nothing_the_gateway_publishes_is_warned():
    def bridge(prefix: str, pattern: str) -> dict:
        return {
            "bridges": [
                {
                    "name": "cloud",
                    "host": "example.com",
                    "topics": [{"pattern": pattern, "local_prefix": prefix}],
                }
            ],
            "gateway": {"state_dir": "/tmp"},
            "sensors": [{"type": "simulated", "name": "attic"}],
        }

    warned = check(parse(bridge("edge/", "sensors/#")), drivers=False).warnings
    assert warned == [
        "bridges[cloud].topics[0]: 'edge/sensors/#' (local_prefix + pattern) matches "
        "nothing the gateway publishes (edge/status, edge/sensor/attic, ...); it "
        "forwards only what MQTT clients publish there"
    ]
    for prefix, pattern in (("edge/", "sensor/#"), ("", "edge/+/attic"), ("edge/", "#")):
        assert check(parse(bridge(prefix, pattern)), drivers=False).warnings == []


@pytest.mark.parametrize(
    "a, b, overlap",
    [
        ("a/#", "a", True),
        ("a/+", "a/b/c", False),
        ("+/b", "a/+", True),
        ("#", "$SYS/x", False),
        ("$SYS/#", "$SYS/broker", True),
        ("a/b", "a/c", False),
        ("a/+/c", "a/#", True),
    ],
)
def test_filters_overlap(a, b, overlap):
    assert filters_overlap(a, b) is overlap and filters_overlap(b, a) is overlap


def test_min_free_bytes_larger_than_the_file_system_is_warned(tmp_path):
    size = shutil.disk_usage(tmp_path).total
    config = parse(
        {"gateway": {"state_dir": str(tmp_path / "state")}, "store": {"min_free_bytes": size + 1}}
    )
    [warning] = check(config, drivers=False).warnings
    assert (
        warning.startswith(f"store.min_free_bytes: {size + 1} (")
        and "the whole file system" in warning
    )
    fits = parse(
        {"gateway": {"state_dir": str(tmp_path / "state")}, "store": {"min_free_bytes": size // 2}}
    )
    assert check(fits, drivers=False).warnings == []


def test_a_systemd_credential_outside_the_service_is_a_warning_not_an_error(monkeypatch):
    monkeypatch.delenv("INVOCATION_ID", raising=False)
    monkeypatch.delenv("CREDENTIALS_DIRECTORY", raising=False)
    config = parse(
        {
            "gateway": {"state_dir": "/tmp"},
            "bridges": [
                {
                    "name": "cloud",
                    "host": "example.com",
                    "username": "gw",
                    "password_file": "/run/credentials/edge-gateway.service/nope",
                    "topics": [{"pattern": "edge/#"}],
                }
            ],
        }
    )
    found = check(config, drivers=False)
    assert found.errors == []
    assert found.warnings == [
        "bridges[cloud].password_file: /run/credentials/edge-gateway.service/"
        "nope: not checked: a systemd credential is readable only inside the "
        "service (LoadCredential=); check-config sees it when run as the "
        "service's ExecStartPre="
    ]
    monkeypatch.setenv("INVOCATION_ID", "0123")  # under systemd: missing is missing
    assert check(config, drivers=False).errors == [
        "bridges[cloud].password_file: /run/credentials/edge-gateway.service/nope: file does not "
        "exist"
    ]


def test_two_listeners_on_one_port_and_a_state_dir_under_a_file_are_errors(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("")
    config = parse(
        {
            "gateway": {"state_dir": str(blocker / "state")},
            "broker": {
                "listeners": [
                    {"name": "lo", "port": 1883},
                    {"name": "lan", "host": "0.0.0.0", "port": 1883},
                    {"name": "tools", "port": 0},
                ]
            },
            "web": {"enabled": True, "port": 1884},
        }
    )
    assert check(config, drivers=False).errors == [
        "broker.listeners[lan]: port 1883 on 0.0.0.0 is also broker.listeners[lo]'s",
        f"gateway.state_dir: {blocker / 'state'} cannot be made: {blocker} is a file",
    ]
