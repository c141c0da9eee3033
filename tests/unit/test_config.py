"""The config file: examples load, mistakes are reported with the file, the key and the problem."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from gateway.config import ConfigError, load, parse

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("name", ["gateway.toml", "demo.toml"])
def test_example_configs_load(name):
    config = load(ROOT / "config" / name)
    assert config.broker.listeners


def test_example_config_documents_every_broker_key():
    text = (ROOT / "config" / "gateway.toml").read_text()
    from gateway.config import BrokerConfig, GatewaySection, ListenerConfig, TlsConfig

    for model in (BrokerConfig, GatewaySection, ListenerConfig, TlsConfig):
        for key in model.model_fields:
            documented = f"{key} =" in text or f"[[broker.{key}]]" in text or f".{key}]" in text
            assert documented, f"{model.__name__}.{key} undocumented"


def test_misspelt_key_is_an_error_with_its_path(tmp_path):
    path = tmp_path / "bad.toml"
    path.write_text("[broker]\nmax_packet_sise = 10\n[[broker.listeners]]\nport = 70000\n")
    with pytest.raises(ConfigError) as info:
        load(path)
    problems = info.value.problems
    assert any(p.startswith("broker.max_packet_sise: Extra inputs") for p in problems)
    assert any(p.startswith("broker.listeners[0].port:") for p in problems)
    assert str(path) in str(info.value)


def test_toml_syntax_error_names_the_file(tmp_path):
    path = tmp_path / "broken.toml"
    path.write_text("[broker\n")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load(path)


def test_missing_file_is_a_config_error(tmp_path):
    with pytest.raises(ConfigError, match="cannot read"):
        load(tmp_path / "nope.toml")


def test_default_is_one_loopback_listener():
    config = parse({})
    [listener] = config.broker.listeners
    assert listener.host == "127.0.0.1" and listener.anonymous_allowed


def test_anonymous_on_lan_listener_is_refused_by_default_and_warned_when_allowed():
    lan = parse({"broker": {"listeners": [{"name": "lan", "host": "0.0.0.0"}]}})
    assert lan.broker.listeners[0].anonymous_allowed is False
    assert lan.warnings() == []
    opened = parse(
        {"broker": {"listeners": [{"name": "lan", "host": "0.0.0.0", "allow_anonymous": True}]}}
    )
    assert any("anonymous" in w for w in opened.warnings())


def test_duplicate_sensor_names_are_refused():
    with pytest.raises(ConfigError, match="used twice"):
        parse({"sensors": [{"type": "simulated", "name": "a"}, {"type": "simulated", "name": "a"}]})


def test_check_config_cli_prints_every_error_and_fails(tmp_path):
    path = tmp_path / "bad.toml"
    path.write_text('[gateway]\nlog_level = "LOUD"\n[broker]\nreceive_maximum = 0\n')
    result = subprocess.run(
        [sys.executable, "-m", "gateway.cli", "check-config", str(path)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 1
    assert f"{path}: gateway.log_level:" in result.stderr
    assert f"{path}: broker.receive_maximum:" in result.stderr
    assert "2 error(s)" in result.stderr


def test_check_config_cli_ok_and_warning(tmp_path):
    path = tmp_path / "ok.toml"
    path.write_text('[[broker.listeners]]\nhost = "0.0.0.0"\nallow_anonymous = true\n')
    result = subprocess.run(
        [sys.executable, "-m", "gateway.cli", "check-config", str(path)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert "warning: broker.listeners[default]: anonymous clients allowed" in result.stderr
    assert "OK" in result.stdout


def test_gateway_id_defaults_to_the_provisioned_id_then_the_host_name(tmp_path):
    from gateway.config import default_gateway_id

    id_file = tmp_path / "gateway-id"
    id_file.write_text("gw-0123abcd\n")
    assert default_gateway_id(id_file) == "gw-0123abcd"
    id_file.write_text("not a valid id!\n")
    fallback = default_gateway_id(id_file)
    assert fallback and all(c.isalnum() or c in "_-" for c in fallback)
    assert default_gateway_id(tmp_path / "missing") == fallback


def test_auth_names_the_scram_method_without_importing_scram():
    """gateway.broker.auth.gateway_auth keeps its own copy of the method name so that hashlib
    (OpenSSL) is loaded only when a SCRAM or password file is configured."""
    from gateway.broker.auth import gateway_auth, scram

    assert gateway_auth.SCRAM_METHOD == scram.METHOD


def test_problems_name_list_items_and_show_values_as_written():
    """Items by name (by index when names repeat), no pydantic tag or "Value error," prefix, the
    refused value shown (an I2C address in hex)."""
    with pytest.raises(ConfigError) as info:
        parse(
            {
                "sensors": [
                    {"type": "bme281", "name": "x"},
                    {"name": "y"},
                    {"type": "bme280", "name": "attic", "address": 0x80},
                ],
                "relays": [{"name": "p", "pin": 1, "min_off_seconds": -1}],
                "bridges": [
                    {"name": "c", "host": "h", "profile": "aws-iot", "topics": [{"pattern": "a/#"}]}
                ],
            }
        )
    problems = info.value.problems
    assert problems[0].startswith(
        "sensors[x]: type = 'bme281' is not known; expected one of 'bme280', "
    )
    assert problems[1:] == [
        "sensors[y]: the key 'type' is missing",
        "sensors[attic].address: Input should be less than or equal to 0x77 (got 0x80)",
        "relays[p].min_off_seconds: Input should be greater than 0 (got -1)",
        "bridges[c]: profile aws-iot requires a client certificate (tls.cert_file)",
    ]
