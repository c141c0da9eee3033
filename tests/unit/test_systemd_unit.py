"""The systemd unit, sysusers and tmpfiles files, checked by systemd's own tools.

`systemd-analyze verify` resolves ExecStart= and the units we order against, so it runs with --root
on a throwaway root that holds a copy of the host's unit directory and a stub at each Exec path; it
exits 0 even on unknown keys, so any output at all is a failure. `systemd-analyze security
--offline=true` gives the exposure score we promise to keep at or below 2.0. systemd-sysusers and
systemd-tmpfiles apply our files to the same kind of throwaway root.

Needs the Debian package `systemd` (systemd-analyze, systemd-sysusers, systemd-tmpfiles): the tests
fail, not skip, without it.
"""

from __future__ import annotations

import os
import pwd
import re
import shutil
import stat
import subprocess
from pathlib import Path

import pytest

SYSTEMD_DIR = Path(__file__).resolve().parents[2] / "systemd"
UNIT = SYSTEMD_DIR / "edge-gateway.service"
PROVISION_UNIT = SYSTEMD_DIR / "edge-gateway-provision.service"
SYSUSERS = SYSTEMD_DIR / "edge-gateway.sysusers"
TMPFILES = SYSTEMD_DIR / "edge-gateway.tmpfiles"
MAX_EXPOSURE = 2.0
MAX_PROVISION_EXPOSURE = 3.0  # it runs as root, with CAP_CHOWN and CAP_DAC_OVERRIDE


def tool(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        pytest.fail(f"{name} not found: `apt-get install -y systemd` (CI must install it)")
    return path


def run(*argv: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv, capture_output=True, text=True, timeout=60, check=False)


def unit_settings(text: str) -> list[tuple[str, str, str]]:
    """(section, key, value) in file order; repeated keys (DeviceAllow=) stay separate."""
    settings, section = [], ""
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith(("#", ";")):
            continue
        if line.startswith("[") and line.endswith("]"):
            section = line[1:-1]
            continue
        key, _, value = line.partition("=")
        settings.append((section, key.strip(), value.strip()))
    return settings


def values(key: str, section: str = "Service") -> list[str]:
    return [v for s, k, v in unit_settings(UNIT.read_text()) if (s, k) == (section, key)]


def exec_paths(unit_text: str) -> list[str]:
    """The executables of every Exec*= line (without systemd's -@:+! prefixes)."""
    return [
        v.split()[0].lstrip("-@:+!")
        for _, k, v in unit_settings(unit_text)
        if k.startswith("Exec") and v
    ]


def make_root(tmp_path: Path, unit_text: str, *, stub_execs: bool = True) -> Path:
    """A throwaway root: the host's unit directory, our units, and a stub at each Exec path."""
    root = tmp_path / "root"
    host_units = Path("/usr/lib/systemd/system")
    if not host_units.is_dir():
        host_units = Path("/lib/systemd/system")
    shutil.copytree(host_units, root / "usr/lib/systemd/system", symlinks=True)
    (root / "etc/systemd/system").mkdir(parents=True)
    (root / "etc/systemd/system" / UNIT.name).write_text(unit_text)
    provision_text = PROVISION_UNIT.read_text()
    (root / "etc/systemd/system" / PROVISION_UNIT.name).write_text(provision_text)
    if stub_execs:
        for path in exec_paths(unit_text) + exec_paths(provision_text):
            stub = root / path.lstrip("/")
            stub.parent.mkdir(parents=True, exist_ok=True)
            stub.write_text("#!/bin/sh\nexit 0\n")
            stub.chmod(0o755)
    return root


def verify(root: Path, unit: str = UNIT.name) -> str:
    result = run(tool("systemd-analyze"), "verify", "--man=no", f"--root={root}", unit)
    return (result.stdout + result.stderr).strip() + (
        "" if result.returncode == 0 else f"\n[exit {result.returncode}]"
    )


def exposure(unit_path: Path) -> float:
    result = run(
        tool("systemd-analyze"), "security", "--offline=true", "--no-pager", str(unit_path)
    )
    match = re.search(r"Overall exposure level for \S+: (\d+(?:\.\d+)?)", result.stdout)
    assert match, f"no exposure score in:\n{result.stdout}\n{result.stderr}"
    return float(match.group(1))


# --- systemd-analyze verify --------------------------------------------------------------------------


def test_unit_verifies_without_any_output(tmp_path: Path) -> None:
    assert verify(make_root(tmp_path, UNIT.read_text())) == ""


def test_provisioning_unit_verifies_without_any_output(tmp_path: Path) -> None:
    assert verify(make_root(tmp_path, UNIT.read_text()), PROVISION_UNIT.name) == ""


def test_gateway_waits_for_first_boot_provisioning() -> None:
    assert "edge-gateway-provision.service" in values("Requires", "Unit")
    assert "edge-gateway-provision.service" in values("After", "Unit")
    provision = [(s, k, v) for s, k, v in unit_settings(PROVISION_UNIT.read_text())]
    assert ("Unit", "ConditionPathExists", "!/var/lib/edge-gateway/.provisioned") in provision
    assert ("Service", "Type", "oneshot") in provision


def test_verify_reports_an_unknown_key(tmp_path: Path) -> None:
    # The check above can fail: verify exits 0 here, but it prints, and printing is failure.
    text = UNIT.read_text().replace("[Service]\n", "[Service]\nWatchDogSec=30\n")
    assert "Unknown key 'WatchDogSec'" in verify(make_root(tmp_path, text))


def test_verify_reports_a_missing_executable(tmp_path: Path) -> None:
    output = verify(make_root(tmp_path, UNIT.read_text(), stub_execs=False))
    assert "/opt/edge-gateway/venv/bin/edge-gateway is not executable" in output


# --- systemd-analyze security ------------------------------------------------------------------------


def test_exposure_score_is_at_most_2() -> None:
    score = exposure(UNIT)
    assert score <= MAX_EXPOSURE, f"exposure {score} > {MAX_EXPOSURE}: a hardening setting was lost"


def test_provisioning_exposure_score_is_at_most_3() -> None:
    score = exposure(PROVISION_UNIT)
    assert score <= MAX_PROVISION_EXPOSURE, (
        f"provisioning exposure {score} > {MAX_PROVISION_EXPOSURE}: a hardening setting was lost"
    )


def test_exposure_parser_sees_an_unhardened_unit(tmp_path: Path) -> None:
    bare = tmp_path / "bare.service"
    bare.write_text("[Service]\nExecStart=/bin/true\n")
    assert exposure(bare) > 9.0


# --- what the unit promises ---------------------------------------------------------------------------


def test_start_up_watchdog_and_restart_contract() -> None:
    assert values("Type") == ["notify"]
    assert values("NotifyAccess") == ["main"]
    assert values("WatchdogSec") == ["30"]
    assert values("Restart") == ["on-failure"]
    assert values("ExecReload") == ["/bin/kill -HUP $MAINPID"]
    assert values("ExecStart") == [
        "/opt/edge-gateway/venv/bin/edge-gateway run --config /etc/edge-gateway/gateway.toml"
    ]
    assert values("User") == ["edge-gateway"]
    assert values("StateDirectory") == ["edge-gateway"]


def test_resource_limits() -> None:
    # sizes and reasons are in the unit's comments; LimitNOFILE= against max_connections is
    # checked in tests/unit/test_app_loop.py
    assert values("MemoryMax") == ["128M"] and values("MemoryHigh") == ["96M"]
    assert values("TasksMax") == ["64"]
    assert values("UMask") == ["0077"]
    assert int(values("LimitNOFILE")[0]) >= 1200


def test_hardware_devices_are_the_only_devices() -> None:
    assert values("DevicePolicy") == ["closed"]
    allowed = {v.split()[0] for v in values("DeviceAllow")}
    assert {
        "char-gpiochip",
        "char-i2c",
        "char-ttyAMA",
        "char-ttyS",
        "char-ttyUSB",
        "char-ttyACM",
    } <= allowed
    assert {"char-bcm2835-gpiomem", "/dev/gpiomem", "/dev/gpiomem0"} <= allowed
    assert all(v.split()[1] == "rw" for v in values("DeviceAllow"))
    assert values("PrivateDevices") == []  # PrivateDevices=yes would hide them all
    assert values("SupplementaryGroups") == ["gpio i2c dialout"]


def test_no_capabilities_and_a_read_only_system() -> None:
    assert values("CapabilityBoundingSet") == [""]
    assert values("AmbientCapabilities") == [""]
    assert values("NoNewPrivileges") == ["yes"]
    assert values("ProtectSystem") == ["strict"]
    assert values("ProtectHome") == ["yes"]
    assert values("RestrictAddressFamilies") == ["AF_INET AF_INET6 AF_UNIX"]


# --- sysusers and tmpfiles ----------------------------------------------------------------------------


def apply_sysusers_and_tmpfiles(root: Path) -> None:
    for source, folder in ((SYSUSERS, "usr/lib/sysusers.d"), (TMPFILES, "usr/lib/tmpfiles.d")):
        (root / folder).mkdir(parents=True, exist_ok=True)
        shutil.copy(source, root / folder / "edge-gateway.conf")
    (root / "etc").mkdir(exist_ok=True)
    # A config name (not a path) is looked up in the root's sysusers.d / tmpfiles.d.
    result = run(tool("systemd-sysusers"), f"--root={root}", "edge-gateway.conf")
    assert result.returncode == 0 and "ignoring" not in result.stderr, result.stderr
    result = run(tool("systemd-tmpfiles"), f"--root={root}", "--create", "edge-gateway.conf")
    assert result.returncode == 0 and result.stderr == "", result.stderr


def passwd_entry(root: Path, name: str) -> list[str]:
    for line in (root / "etc/passwd").read_text().splitlines():
        if line.split(":")[0] == name:
            return line.split(":")
    raise AssertionError(f"no {name} in {root}/etc/passwd")


def group_members(root: Path) -> dict[str, tuple[int, list[str]]]:
    groups = {}
    for line in (root / "etc/group").read_text().splitlines():
        name, _, gid, members = line.split(":")
        groups[name] = (int(gid), [m for m in members.split(",") if m])
    return groups


def test_sysusers_creates_a_system_user_in_the_hardware_groups(tmp_path: Path) -> None:
    root = tmp_path / "root"
    apply_sysusers_and_tmpfiles(root)
    user = passwd_entry(root, "edge-gateway")
    assert user[4:] == ["Pi Edge Gateway", "/var/lib/edge-gateway", "/usr/sbin/nologin"]
    assert int(user[2]) < 1000  # a system user
    groups = group_members(root)
    for group in ("gpio", "i2c", "dialout"):
        assert "edge-gateway" in groups[group][1], group


def test_tmpfiles_makes_private_state_and_group_readable_config(tmp_path: Path) -> None:
    root = tmp_path / "root"
    apply_sysusers_and_tmpfiles(root)
    uid = int(passwd_entry(root, "edge-gateway")[2])
    gid = group_members(root)["edge-gateway"][0]
    expected = {
        "etc/edge-gateway": (0, gid),
        "etc/edge-gateway/secrets": (0, gid),
        "var/lib/edge-gateway": (uid, gid),
    }
    for path, owner in expected.items():
        st = (root / path).stat()
        assert stat.S_ISDIR(st.st_mode) and stat.S_IMODE(st.st_mode) == 0o750, path
        assert (st.st_uid, st.st_gid) == owner, path


def test_the_tools_ran_as_root_here() -> None:
    # tmpfiles can only chown as root; CI runs as root (PLATFORM.md). Fail loudly elsewhere.
    assert os.geteuid() == 0, "run as root: systemd-tmpfiles must chown in the throwaway root"
    assert pwd.getpwuid(0).pw_name == "root"
