"""A config that `check-config` passes runs, and one it refuses is refused by `run` too: with the
same `FILE: key: problem` line, exit code 1 (gateway.exitcodes) and no traceback. Each case runs
both commands as subprocesses, as an operator (or systemd) does."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import trustme

from gateway.broker.auth.passwords import PasswordFile
from gateway.cli import main
from tests.support.gateway_process import free_port, run_gateway

ROOT = Path(__file__).resolve().parents[2]


def edge_gateway(*args: str, timeout: float = 60) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "gateway.cli", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=ROOT,
    )


def check_config(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str]:
    """check-config in this process (the subprocess cases cover `run`): (exit code, stderr)."""
    capsys.readouterr()
    code = main(["check-config", *args])
    return code, capsys.readouterr().err


@pytest.fixture
def files(tmp_path: Path) -> dict[str, Path]:
    """Good files of every kind the config can name, and a few bad ones."""
    ca, other_ca = trustme.CA(), trustme.CA()
    cert = ca.issue_cert("gateway.local")
    stranger = other_ca.issue_cert("stranger")
    out = {
        "ca": tmp_path / "ca.pem",
        "cert": tmp_path / "server.crt",
        "key": tmp_path / "server.key",
        "other_key": tmp_path / "other.key",
        "junk": tmp_path / "junk.pem",
        "passwd": tmp_path / "passwd",
        "acl": tmp_path / "acl",
        "bad_passwd": tmp_path / "bad_passwd",
        "secret": tmp_path / "cloud-password",
    }
    ca.cert_pem.write_to_path(out["ca"])
    cert.cert_chain_pems[0].write_to_path(out["cert"])
    cert.private_key_pem.write_to_path(out["key"])
    stranger.private_key_pem.write_to_path(out["other_key"])
    out["junk"].write_text("not a certificate\n")
    users = PasswordFile()
    users.set("admin", "secret", iterations=1000)
    users.save(out["passwd"])
    out["acl"].write_text("topic readwrite #\n")
    out["bad_passwd"].write_text("admin:$7$nonsense\n")
    out["secret"].write_text("cloud-secret\n")
    for path in out.values():
        path.chmod(0o600)
    return out


def write_config(tmp_path: Path, body: str) -> Path:
    config = tmp_path / "gateway.toml"
    config.write_text(
        f'[gateway]\nstate_dir = "{tmp_path / "state"}"\n'
        f"[[broker.listeners]]\nport = {free_port()}\n{body}"
    )
    return config


def tls_listener(cert: Path, key: Path, cafile: Path | None = None) -> str:
    ca = f'cafile = "{cafile}"\n' if cafile else ""
    return (
        f'[[broker.listeners]]\nname = "tls"\nport = {free_port()}\n'
        f'[broker.listeners.tls]\ncertfile = "{cert}"\nkeyfile = "{key}"\n{ca}'
    )


def bridge(extra: str = "", tls: str = "") -> str:
    return (
        '[[bridges]]\nname = "cloud"\nhost = "127.0.0.1"\nport = 1\nusername = "gw"\n'
        f'{extra}\n[bridges.tls]\n{tls}\n[[bridges.topics]]\npattern = "edge/#"\n'
    )


CASES = {
    "password file missing": (
        lambda f: f'[auth]\npassword_file = "{f["passwd"]}.nope"\n',
        "auth.password_file: {passwd}.nope: file does not exist",
    ),
    "ACL file missing": (
        lambda f: f'[auth]\nacl_file = "{f["acl"]}.nope"\n',
        "auth.acl_file: {acl}.nope: file does not exist",
    ),
    "password file with a bad line": (
        lambda f: f'[auth]\npassword_file = "{f["bad_passwd"]}"\n',
        "auth.password_file: {bad_passwd}:1: user 'admin': ",
    ),
    "SCRAM file missing": (
        lambda f: f'[auth]\nscram_file = "{f["passwd"]}.scram"\n',
        "auth.scram_file: {passwd}.scram: file does not exist",
    ),
    "TLS certificate missing": (
        lambda f: tls_listener(f["cert"].with_name("nope.crt"), f["key"]),
        "broker.listeners[tls].tls.certfile: {cert_dir}/nope.crt: file does not exist",
    ),
    "TLS key of another certificate": (
        lambda f: tls_listener(f["cert"], f["other_key"]),
        "broker.listeners[tls].tls.keyfile: {other_key} is not the private key of {cert}",
    ),
    "TLS CA file that holds no certificate": (
        lambda f: tls_listener(f["cert"], f["key"], f["junk"]),
        "broker.listeners[tls].tls.cafile: {junk}: no PEM certificate in it",
    ),
    "bridge password file missing": (
        lambda f: bridge(f'password_file = "{f["secret"]}.nope"'),
        "bridges[cloud].password_file: {secret}.nope: file does not exist",
    ),
    "bridge client key of another certificate": (
        lambda f: bridge(
            f'password_file = "{f["secret"]}"',
            f'cert_file = "{f["cert"]}"\nkey_file = "{f["other_key"]}"',
        ),
        "bridges[cloud].tls.key_file: {other_key} is not the private key of {cert}",
    ),
    "gpio input and relay on one pin": (
        lambda f: (
            '[[sensors]]\ntype = "gpio_input"\nname = "door"\npin = 17\n'
            '[[relays]]\nname = "pump"\npin = 17\n'
        ),
        "sensors[door].pin: BCM 17 is also used by relays[pump].pin",
    ),
    "relay on I2C bus 1's SDA": (
        lambda f: (
            '[[sensors]]\ntype = "bme280"\nname = "attic"\n[[relays]]\nname = "pump"\npin = 2\n'
        ),
        "relays[pump].pin: BCM 2 is also used by I2C bus 1's SDA (sensors[attic])",
    ),
    "pulse counter on the UART's TX": (
        lambda f: (
            '[[sensors]]\ntype = "pms5003"\nname = "air"\nport = "/dev/serial0"\n'
            '[[sensors]]\ntype = "pulse_counter"\nname = "water"\npin = 14\n'
        ),
        "sensors[water].pin: BCM 14 is also used by the UART's TX (sensors[air].port)",
    ),
    "PWM output on the 1-Wire pin": (
        lambda f: (
            '[[sensors]]\ntype = "ds18b20"\nname = "boiler"\ndevice_id = "28-0316a2795aff"\n'
            '[[relays]]\nname = "fan"\nkind = "pwm"\npin = 4\n'
        ),
        "relays[fan].pin: BCM 4 is also used by 1-Wire on BCM 4 (sensors[boiler].gpiopin)",
    ),
    "an I2C address out of range, shown in hex": (
        lambda f: '[[sensors]]\ntype = "bme280"\nname = "attic"\naddress = 0x80\n',
        "sensors[attic].address: Input should be less than or equal to 0x77 (got 0x80)",
    ),
    "a rule of the config, without pydantic's prefix": (
        lambda f: (
            '[[sensors]]\ntype = "simulated"\nname = "a"\n[[sensors]]\ntype = "simulated"\n'
            'name = "a"\n'
        ),
        "sensors: sensor name 'a' is used twice",
    ),
}


@pytest.mark.parametrize("case", list(CASES))
def test_check_config_and_run_refuse_alike(tmp_path, files, case, capsys):
    make, expected = CASES[case]
    config = write_config(tmp_path, make(files))
    line = f"{config}: " + expected.format(
        cert_dir=files["cert"].parent, **{k: str(v) for k, v in files.items()}
    )
    code, err = check_config(capsys, str(config))
    assert code == 1 and line in err, err
    assert "Value error" not in err
    ran = edge_gateway("run", "--config", str(config))
    assert ran.returncode == 1, ran.stderr
    assert line in ran.stderr and "Traceback" not in ran.stderr, ran.stderr
    assert not (tmp_path / "state").exists()  # refused before anything was made


def test_an_empty_config_is_refused(tmp_path):
    config = tmp_path / "gateway.toml"
    config.write_text("# nothing here yet\n")
    for args in (["check-config", str(config)], ["run", "--config", str(config)]):
        result = edge_gateway(*args)
        assert result.returncode == 1 and "Traceback" not in result.stderr, result.stderr
        assert f"{config}: the file sets nothing; an empty config is refused" in result.stderr


@pytest.mark.parametrize(
    "text, line",
    [
        (None, "cannot read: No such file or directory"),
        ("[broker\n", "not valid TOML"),
    ],
)
def test_an_unreadable_config_is_one_line(tmp_path, text, line):
    config = tmp_path / "gateway.toml"
    if text is not None:
        config.write_text(text)
    for args in (["check-config", str(config)], ["run", "--config", str(config)]):
        result = edge_gateway(*args)
        assert result.returncode == 1, result.stderr
        assert f"{config}: {line}" in result.stderr and "Traceback" not in result.stderr


def test_a_port_in_use_is_an_environment_problem(tmp_path):
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        config = tmp_path / "gateway.toml"
        config.write_text(
            f'[gateway]\nstate_dir = "{tmp_path / "state"}"\n[[broker.listeners]]\nport = {port}\n'
        )
        assert main(["check-config", str(config)]) == 0
        ran = edge_gateway("run", "--config", str(config))
    assert ran.returncode == 3, ran.stderr
    assert f"{config}: cannot start: " in ran.stderr and "Traceback" not in ran.stderr


def test_a_state_directory_under_a_file_is_refused_by_both(tmp_path, capsys):
    blocker = tmp_path / "file"
    blocker.write_text("")
    config = tmp_path / "gateway.toml"
    config.write_text(
        f'[gateway]\nstate_dir = "{blocker / "state"}"\n'
        f"[[broker.listeners]]\nport = {free_port()}\n"
    )
    line = f"{config}: gateway.state_dir: {blocker / 'state'} cannot be made: {blocker} is a file"
    code, err = check_config(capsys, str(config))
    assert code == 1 and line in err, err
    ran = edge_gateway("run", "--config", str(config))
    assert ran.returncode == 1 and line in ran.stderr and "Traceback" not in ran.stderr, ran.stderr


def test_a_config_naming_every_kind_of_file_passes_and_runs(tmp_path, files, capsys):
    """The positive control: good files of every kind pass check-config and `run` starts."""
    body = (
        f'[auth]\npassword_file = "{files["passwd"]}"\nacl_file = "{files["acl"]}"\n'
        + tls_listener(files["cert"], files["key"], files["ca"])
        + bridge(
            f'password_file = "{files["secret"]}"',
            f'ca_file = "{files["ca"]}"\ncert_file = "{files["cert"]}"\n'
            f'key_file = "{files["key"]}"',
        )
    )
    config = write_config(
        tmp_path, body.replace('pattern = "edge/#"', 'pattern = "#"\nlocal_prefix = "edge/"')
    )
    code, err = check_config(capsys, str(config))
    assert code == 0 and err == "", err
    with run_gateway(config) as (proc, notify):
        notify.wait_for("READY=1")
        proc.terminate()
        assert proc.wait(20) == 0
        assert "Traceback" not in proc.stdout.read()


def test_a_world_readable_secret_is_a_warning(tmp_path, files, capsys):
    files["passwd"].chmod(0o644)
    config = write_config(tmp_path, f'[auth]\npassword_file = "{files["passwd"]}"\n')
    code, err = check_config(capsys, str(config))
    assert code == 0
    assert (
        f"warning: auth.password_file: {files['passwd']} can be read by every user of this machine"
    ) in err


def test_an_encrypted_key_is_named_not_prompted_for(tmp_path, files):
    encrypted = tmp_path / "encrypted.key"
    subprocess.run(
        [
            "openssl",
            "pkey",
            "-in",
            str(files["key"]),
            "-aes256",
            "-passout",
            "pass:x",
            "-out",
            str(encrypted),
        ],
        check=True,
        capture_output=True,
    )
    config = write_config(tmp_path, tls_listener(files["cert"], encrypted))
    checked = subprocess.run(
        [sys.executable, "-m", "gateway.cli", "check-config", str(config)],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=ROOT,
        stdin=subprocess.DEVNULL,
        env=dict(os.environ),
    )
    assert checked.returncode == 1
    assert f"tls.keyfile: {encrypted}: the key is encrypted" in checked.stderr
