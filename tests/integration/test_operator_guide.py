"""docs/operator-guide.md does what it says: its TOML snippets pass check-config, every
`edge-gateway` command in it runs against a gateway started from those snippets, every other
command is named below with why it cannot run here, its links lead somewhere, every sensor type
has a row in its wiring tables, and what it says the image turns on is what the image's files do.

How a command line of the guide is run: in bash, in document order, with `sudo` a no-op, the
guide's /etc/edge-gateway paths replaced by this test's files, and `-p <port>` added to `pub`,
`sub` and `status` (the gateway listens on a free loopback port, not 1883); `passwd` gets a
terminal and a password typed twice, as a person would; a `sub` without `-C` is stopped after a
few seconds, as a person would press Ctrl-C, and must have printed something.
"""

from __future__ import annotations

import os
import pty
import re
import select
import signal
import subprocess
import sys
import time
import typing
from pathlib import Path

import pytest

from tests.support.clients import TestClient
from tests.support.gateway_process import free_port, run_gateway

REPO = Path(__file__).resolve().parents[2]
GUIDE = REPO / "docs" / "operator-guide.md"
BIN = Path(sys.executable).parent
ADMIN_PASSWORD = "guide-admin-password"
TYPED_PASSWORD = "guide-typed-password"

#: programs of the guide's command lines this test runs (with the paths swapped for its own files)
RUN_HERE = {"edge-gateway", "cat"}
#: programs of the guide's command lines that this test does not run, and why
NOT_RUN = {
    "xz": "flashing an SD card",
    "ssh": "a Pi on the network",
    "scp": "a Pi on the network",
    "systemctl": "systemd as PID 1 (the boot test, tests/boot, runs the service under it)",
    "journalctl": "journald (the boot test reads the service's journal)",
    "mosquitto_sub": "the Pi's TLS listener and its CA, made on the device's first boot "
    "(the image check and the boot test connect that way)",
    "nano": "an editor",
    "reboot": "a Pi",
    "env": "raspi-firmware's kernel hook, on the image only",
    "apt-get": "installs packages on the Pi",
    "apt": "installs the .deb on the Pi",
    "install": "writes into /etc/edge-gateway/secrets as root (run by hand with a scratch path)",
    "image/build-deb.sh": "builds the .deb (tests/boot builds and installs it)",
    "python3": "makes a virtualenv on the Pi",
    "~/edge-gateway/bin/pip": "installs the [pi] extra, compiling spidev and systemd-python",
    "~/edge-gateway/bin/edge-gateway": "the virtualenv made on the Pi",
}


def fenced(lang: str) -> list[str]:
    return re.findall(rf"^```{lang}\n(.*?)^```", GUIDE.read_text(), re.S | re.M)


def command_lines() -> list[str]:
    lines = []
    for block in fenced("sh"):
        for line in block.splitlines():
            line = line.strip()
            if line and not line.startswith("#"):
                lines.append(line)
    return lines


def program(line: str) -> str:
    words = line.split()
    while words and words[0] == "sudo":
        words = words[1:]
    return words[0]


def test_every_command_is_run_here_or_named_with_the_reason():
    unknown = sorted({program(line) for line in command_lines()} - set(NOT_RUN) - RUN_HERE)
    assert unknown == [], f"run these in test_operator_guide.py or add them to NOT_RUN: {unknown}"
    assert (
        sum(program(line) == "edge-gateway" for line in command_lines()) >= 8
    )  # the parsing works


def test_links_lead_somewhere():
    text = GUIDE.read_text()
    anchors = {
        re.sub(r"[^a-z0-9 -]", "", h.lower()).replace(" ", "-")
        for h in re.findall(r"^#+ (.*)$", text, re.M)
    }
    for target in re.findall(r"\]\(([^)]+)\)", text):
        path, _, anchor = target.partition("#")
        if target.startswith("http"):
            continue
        if path:
            assert (GUIDE.parent / path).exists(), f"broken link {target}"
        elif anchor:
            assert anchor in anchors, f"no heading for #{anchor}"


def sensor_types() -> set[str]:
    from gateway.sensors.config import SensorConfig

    union = (
        typing.get_args(SensorConfig)[0]
        if typing.get_origin(SensorConfig) is typing.Annotated  # type: ignore[comparison-overlap]
        else SensorConfig
    )
    return {
        t
        for model in typing.get_args(union)
        for t in typing.get_args(model.model_fields["type"].annotation)
    }


def test_every_sensor_type_has_a_wiring_row():
    wiring = GUIDE.read_text().split("### Wiring", 1)[1].split("## 5.", 1)[0]
    rows = (
        set(re.findall(r"^\| `([a-z0-9_]+)`", wiring, re.M))
        | set(re.findall(r"^\| `[a-z0-9_]+`, `([a-z0-9_]+)`", wiring, re.M))
        | {
            t
            for row in re.findall(r"^\| (`[a-z0-9_]+`(?:, `[a-z0-9_]+`)+)", wiring, re.M)
            for t in re.findall(r"`([a-z0-9_]+)`", row)
        }
    )
    missing = sorted(sensor_types() - rows)
    assert missing == [], f"add a wiring row to docs/operator-guide.md for: {missing}"


def test_the_guide_names_every_library_of_the_pi_extra():
    import tomllib

    extra = tomllib.loads((REPO / "pyproject.toml").read_text())["project"][
        "optional-dependencies"
    ]["pi"]
    names = {re.split(r"[<>=!;\[ ]", requirement, maxsplit=1)[0] for requirement in extra}
    missing = sorted(n for n in names if n not in GUIDE.read_text())
    assert missing == [], f"docs/operator-guide.md's pip section does not name {missing}"


def test_what_the_guide_says_the_image_turns_on_is_what_it_does():
    overlay = REPO / "image" / "debian" / "overlay" / "etc"
    active = [
        line
        for line in (overlay / "default" / "raspi-firmware-custom").read_text().splitlines()
        if line and not line.startswith("#")
    ]
    assert active == ["dtparam=i2c_arm=on"]  # I2C on; 1-Wire, SPI off, as the guide's table says
    assert "i2c-dev" in (overlay / "modules-load.d" / "edge-gateway.conf").read_text().split()
    rules = (overlay / "udev" / "rules.d" / "60-edge-gateway.rules").read_text()
    assert 'GROUP="i2c"' in rules and 'GROUP="gpio"' in rules
    stage = REPO / "image" / "pi-gen" / "stage-edge-gateway" / "00-edge-gateway"
    assert (stage / "files" / "edge-gateway-modules.conf").resolve() == (
        overlay / "modules-load.d" / "edge-gateway.conf"
    ).resolve()
    assert "dtparam=i2c_arm=on" in (stage / "01-run.sh").read_text()
    table = GUIDE.read_text().split("| bus | the image |", 1)[1].split("\n\n", 1)[0]
    assert re.search(r"^\| I2C .*\| \*\*on\*\*", table, re.M)
    assert re.search(r"^\| 1-Wire .*\| off \| off \|", table, re.M)
    assert re.search(r"^\| SPI .*\| off \| off \|", table, re.M)


# -- the commands, against a gateway -------------------------------------------------------------


@pytest.fixture
def guide_gateway(tmp_path):
    """A gateway from the guide's TOML snippets (demo = true: mock GPIO; the I2C, 1-Wire and
    serial sensors find no hardware here and are offline), with the package's password file and
    a bridge to a port where nothing listens, so the bridge topics the guide watches exist."""
    port = free_port()
    passwd, admin = tmp_path / "passwd", tmp_path / "admin.password"
    subprocess.run(
        [BIN / "edge-gateway", "passwd", "-c", "-b", str(passwd), "admin", ADMIN_PASSWORD],
        check=True,
        capture_output=True,
    )
    admin.write_text(ADMIN_PASSWORD + "\n")
    config = tmp_path / "gateway.toml"
    config.write_text(
        f"""
[gateway]
id = "guide-gw"
state_dir = "{tmp_path / "state"}"
demo = true
[[broker.listeners]]
name = "lan"
host = "127.0.0.1"
port = {port}
allow_anonymous = false
[auth]
password_file = "{passwd}"
[[bridges]]
name = "cloud"
host = "127.0.0.1"
port = {free_port()}
backoff_initial = 30
[[bridges.topics]]
pattern = "edge/sensor/#"
"""
        + "\n".join(fenced("toml"))
    )
    files = {
        "/etc/edge-gateway/gateway.toml": config,
        "/etc/edge-gateway/passwd": passwd,
        "/etc/edge-gateway/secrets/admin.password": admin,
    }
    with run_gateway(config) as (proc, notify):
        notify.wait_for("READY=1")
        yield proc, notify, port, files


def prepared(line: str, port: int, files: dict[str, Path]) -> str:
    for path, local in files.items():
        line = line.replace(path, str(local))
    return re.sub(r"\bedge-gateway (pub|sub|status)\b", rf"edge-gateway \1 -p {port}", line)


def bash(line: str) -> list[str]:
    return ["bash", "-c", f'sudo() {{ "$@"; }}; set -o pipefail; {line}']


def env() -> dict[str, str]:
    return dict(os.environ, PATH=f"{BIN}:{os.environ['PATH']}")


def run_with_terminal(line: str, typed: list[str], timeout: float = 30) -> tuple[int, str]:
    """Run `line` on a new terminal and type each of `typed` after the next prompt."""
    pid, fd = pty.fork()
    if pid == 0:  # the child: bash on the terminal
        os.execvpe("bash", bash(line), env())
    output, mark, deadline = b"", 0, time.monotonic() + timeout
    while time.monotonic() < deadline:
        ready, _, _ = select.select([fd], [], [], 0.2)
        if ready:
            try:
                chunk = os.read(fd, 1024)
            except OSError:  # the child closed the terminal
                break
            if not chunk:
                break
            output += chunk
            if typed and output[mark:].rstrip(b" ").endswith(b":"):  # a new prompt, "...: "
                os.write(fd, typed.pop(0).encode() + b"\n")
                mark = len(output)
    else:
        os.kill(pid, signal.SIGKILL)
    _, status = os.waitpid(pid, 0)
    os.close(fd)
    return os.waitstatus_to_exitcode(status), output.decode(errors="replace")


def test_every_edge_gateway_command_of_the_guide_runs(guide_gateway):
    proc, notify, port, files = guide_gateway
    ran = []
    for line in command_lines():
        if program(line) not in RUN_HERE:
            continue
        command = prepared(line, port, files)
        if " passwd " in f" {command} ":
            user = command.split("#")[0].split()[-1]
            code, output = run_with_terminal(command, [TYPED_PASSWORD, TYPED_PASSWORD])
            assert code == 0, f"{line}\n{output}"
            proc.send_signal(signal.SIGHUP)  # the guide's `systemctl reload edge-gateway`
            notify.wait_for("RELOADING=1")
            notify.wait_for("READY=1")
            TestClient(port, f"probe-{user}", username=user, password=TYPED_PASSWORD).disconnect()
        elif " sub " in command and " -C " not in command:
            sub = subprocess.Popen(
                bash(command), env=env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
            )
            time.sleep(2)  # what a person watching sees before Ctrl-C
            sub.send_signal(signal.SIGINT)
            out, err = sub.communicate(timeout=10)
            assert out.strip() and not err.strip(), f"{line}\nstdout: {out!r}\nstderr: {err!r}"
        else:
            result = subprocess.run(
                bash(command), env=env(), capture_output=True, text=True, timeout=30
            )
            assert result.returncode == 0, f"{line}\n{result.stdout}{result.stderr}"
            assert result.stdout.strip(), line
            if "check-config" in command:
                assert ": OK" in result.stdout, result.stdout
        ran.append(line)
    assert len(ran) == sum(program(line) in RUN_HERE for line in command_lines())
