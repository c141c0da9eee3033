"""Boot test: the real .deb in a real Debian rootfs, systemd as PID 1 under systemd-nspawn.

The package is built from this working tree (image/build-deb.sh; GATEWAY_BOOT_ARCH=arm64 on an
amd64 machine builds and boots under qemu-user, with image/build-deb-in-root.sh; GATEWAY_BOOT_DEB
names a .deb already built), installed with apt into a cached debootstrap root, and the root is booted with
`systemd-nspawn -b`. Inside, boot-test.service runs tests/boot/inside.py, which records what it
sees and powers the container off; the tests below assert on that record:

* edge-gateway.service reaches active (running) through Type=notify, after first-boot provisioning;
* a paho subscriber gets what `edge-gateway pub` publishes, as the provisioned admin user, and an
  anonymous client is refused on the LAN listener;
* `systemctl reload` re-reads the password file (a user added before it is refused, then accepted)
  without a restart;
* SIGSTOP of the gateway makes systemd's watchdog (WatchdogSec=8 by a test drop-in) kill and restart
  it, and the restarted gateway serves clients again;
* an upgrade (`apt-get install` of the same package with a higher version, while it runs) restarts
  it with the operator's edited config, the device's id and credentials and the broker's retained
  messages all kept;
* `systemctl stop` ends it with exit status 0 after the gateway's own ordered stop;
* after power-off, `apt-get remove` takes the program and keeps config, credentials and state, and
  `apt-get purge` removes those too.

Runs only with GATEWAY_BOOT_TEST=1 (CI sets it); then a machine that cannot run it (not root, no
debootstrap or systemd-nspawn) fails the test instead of skipping it. Logs: build/boot/.
"""

from __future__ import annotations

import json
import os
import platform
import re
import shutil
import subprocess
import time
from pathlib import Path

import pytest

from tests.boot import rootfs

pytestmark = [pytest.mark.boot, pytest.mark.opt_in("GATEWAY_BOOT_TEST"), pytest.mark.timeout(3600)]

REPO = Path(__file__).resolve().parents[2]
HERE = Path(__file__).resolve().parent
OUT = REPO / "build" / "boot"
WATCHDOG_SEC = 8
HOST_ARCH = {"x86_64": "amd64", "aarch64": "arm64"}.get(platform.machine(), platform.machine())
# GATEWAY_BOOT_ARCH=arm64 on an amd64 machine boots under qemu-user (binfmt, qemu-user-static).
ARCH = os.environ.get("GATEWAY_BOOT_ARCH") or HOST_ARCH


def host_suite() -> str:
    for line in Path("/etc/os-release").read_text().splitlines():
        if line.startswith("VERSION_CODENAME="):
            return line.split("=", 1)[1].strip().strip('"')
    return ""


# Built on this machine when it is the target (same architecture and Debian release), else inside a
# copy of the test's own root: under qemu-user for arm64, natively for another release.
BUILD_IN_ROOT = ARCH != HOST_ARCH or host_suite() != rootfs.SUITE
# Boot, checks and power-off: 12 s were measured natively; qemu-user is several times slower.
BOOT_BUDGET = 120 if ARCH == HOST_ARCH else 360
BOOT_DEADLINE = 2 * BOOT_BUDGET  # then the container is stopped from outside

TEST_UNIT = f"""\
[Unit]
Description=Pi Edge Gateway boot test (tests/boot/inside.py)
After=multi-user.target
SuccessAction=poweroff-force
FailureAction=poweroff-force

[Service]
Type=oneshot
ExecStart=/usr/local/lib/boot-test/venv/bin/python /usr/local/lib/boot-test/inside.py
StandardOutput=journal+console
TimeoutStartSec={BOOT_BUDGET}

[Install]
WantedBy=default.target
"""

# Only the watchdog period and the restart delay change; the unit is otherwise the package's own.
TEST_DROP_IN = f"""\
[Service]
WatchdogSec={WATCHDOG_SEC}
RestartSec=1
"""


def timed(name: str, func, *args, **kwargs):
    start = time.monotonic()
    try:
        return func(*args, **kwargs)
    finally:
        rootfs.TIMINGS[name] = time.monotonic() - start


def build_deb() -> Path:
    given = os.environ.get("GATEWAY_BOOT_DEB")
    if given:
        assert Path(given).name.endswith(f"_{ARCH}.deb"), f"{given} is not an {ARCH} package"
        return Path(given)
    out = OUT / "deb" / f"{rootfs.SUITE}-{ARCH}"
    if not BUILD_IN_ROOT:
        argv = [str(REPO / "image" / "build-deb.sh"), str(out)]
    else:  # in a throw-away copy of the test's own root (under qemu for another architecture)
        builder = rootfs.work_copy(rootfs.base_rootfs(ARCH)[0], f"builder-{rootfs.SUITE}-{ARCH}")
        argv = [str(REPO / "image" / "build-deb-in-root.sh"), str(builder), str(out)]
    result = subprocess.run(argv, capture_output=True, text=True, timeout=2400, check=False)
    if BUILD_IN_ROOT:
        shutil.rmtree(builder, ignore_errors=True)
    assert result.returncode == 0, f"{argv[0]} failed:\n{result.stderr[-4000:]}"
    return Path(result.stdout.strip().splitlines()[-1])


# Under qemu-user an emulated PID 1 cannot make a unit's user or network namespace (see
# image/check-image.sh); natively both are tested with the units exactly as packaged.
QEMU_DROP_INS = {
    "edge-gateway.service.d/qemu-user.conf": "[Service]\nPrivateUsers=no\n",
    "edge-gateway-provision.service.d/qemu-user.conf": "[Service]\nPrivateNetwork=no\n",
}


def upgrade_deb(deb: Path) -> tuple[Path, str]:
    """The same package with a higher version, as `apt upgrade` would bring it; (path, version)."""
    scratch = OUT / "upgrade"
    shutil.rmtree(scratch, ignore_errors=True)
    scratch.mkdir(parents=True)
    tree = scratch / "tree"
    subprocess.run(["dpkg-deb", "-R", str(deb), str(tree)], check=True, timeout=300)
    control = tree / "DEBIAN" / "control"
    text = control.read_text()
    found = re.search(r"^Version: (\S+)$", text, re.M)
    assert found is not None, f"no Version in {control}"
    version = found.group(1)
    new_version = version + "+boottest1"
    control.write_text(text.replace(f"Version: {version}\n", f"Version: {new_version}\n"))
    out = scratch / f"edge-gateway_{new_version}_{ARCH}.deb"
    subprocess.run(
        ["dpkg-deb", "-Zgzip", "--build", str(tree), str(out)],
        check=True,
        capture_output=True,
        timeout=300,
    )
    shutil.rmtree(tree)
    return out, new_version


# What the package owns and what the device made; `apt-get remove` keeps the second kind.
PROGRAM = (
    "/opt/edge-gateway/venv/bin/python",
    "/usr/lib/systemd/system/edge-gateway.service",
    "/usr/lib/edge-gateway/provision",
    "/usr/bin/edge-gateway",
)
KEPT = (
    "/etc/edge-gateway/gateway.toml",
    "/etc/edge-gateway/gateway-id",
    "/etc/edge-gateway/passwd",
    "/etc/edge-gateway/secrets/admin.password",
    "/var/lib/edge-gateway/broker.db",
)


def remove_and_purge(root: Path, log: Path) -> dict:
    """`apt-get remove`, then `apt-get purge`, with the container powered off; what each left."""

    def look() -> dict:
        status = rootfs.nspawn_run(
            root,
            [
                "sh",
                "-c",
                "dpkg-query -W -f='${Status}' edge-gateway 2>/dev/null || echo not-installed",
            ],
            60,
        )
        return {
            "status": status.stdout.strip(),
            "present": {path: (root / path.lstrip("/")).exists() for path in PROGRAM + KEPT},
            "etc_dir": (root / "etc/edge-gateway").exists(),
            "state_dir": (root / "var/lib/edge-gateway").exists(),
        }

    remove = rootfs.nspawn_run(root, ["apt-get", "remove", "-y", "edge-gateway"], 300, log)
    after_remove = look()
    purge = rootfs.nspawn_run(root, ["apt-get", "purge", "-y", "edge-gateway"], 300, log)
    return {
        "remove_rc": remove.returncode,
        "after_remove": after_remove,
        "purge_rc": purge.returncode,
        "after_purge": look(),
    }


def prepare(root: Path, upgrade: tuple[Path, str]) -> None:
    """The test's own unit, the inside script, its interpreter, the upgrade package and the
    watchdog drop-in; nothing else changes."""
    if ARCH != HOST_ARCH:
        for name, text in QEMU_DROP_INS.items():
            (root / "etc/systemd/system" / name).parent.mkdir(parents=True, exist_ok=True)
            (root / "etc/systemd/system" / name).write_text(text)
    (root / "usr/local/lib/boot-test").mkdir(parents=True)
    shutil.copy2(HERE / "inside.py", root / "usr/local/lib/boot-test/inside.py")
    # A copy of the package's venv (it has paho-mqtt) runs the checks, so upgrading the package
    # under them replaces nothing they are running from.
    subprocess.run(
        [
            "cp",
            "-a",
            str(root / "opt/edge-gateway/venv"),
            str(root / "usr/local/lib/boot-test/venv"),
        ],
        check=True,
        timeout=120,
    )
    deb, version = upgrade
    shutil.copy2(deb, root / "usr/local/lib/boot-test" / deb.name)
    (root / "usr/local/lib/boot-test/upgrade.json").write_text(
        json.dumps({"deb": f"/usr/local/lib/boot-test/{deb.name}", "version": version})
    )
    (root / "etc/systemd/system/boot-test.service").write_text(TEST_UNIT)
    wants = root / "etc/systemd/system/default.target.wants"
    wants.mkdir(parents=True, exist_ok=True)
    (wants / "boot-test.service").symlink_to("/etc/systemd/system/boot-test.service")
    drop_in = root / "etc/systemd/system/edge-gateway.service.d"
    drop_in.mkdir(parents=True, exist_ok=True)
    (drop_in / "boot-test.conf").write_text(TEST_DROP_IN)
    (root / "etc/hostname").write_text("edge-boot-test\n")


@pytest.fixture(scope="module")
def booted() -> dict:
    rootfs.require_tools()
    OUT.mkdir(parents=True, exist_ok=True)
    deb = timed("build .deb", build_deb)
    base, made = timed("debootstrap (or cache)", rootfs.base_rootfs, ARCH)
    if made:
        rootfs.TIMINGS["debootstrap itself"] = made
    root = timed("copy rootfs", rootfs.work_copy, base, f"work-{rootfs.SUITE}-{ARCH}")
    install_log = OUT / "install.log"
    install_log.write_text("")
    timed("apt-get install .deb", rootfs.install_deb, root, deb, install_log)
    verify = rootfs.run(
        [
            "chroot",
            str(root),
            "systemd-analyze",
            "verify",
            "--man=no",
            "edge-gateway.service",
            "edge-gateway-provision.service",
        ],
        120,
    )
    upgrade = timed("upgrade .deb (repack)", upgrade_deb, deb)
    prepare(root, upgrade)
    boot = timed("boot + checks + poweroff", rootfs.boot, root, OUT / "console.log", BOOT_DEADLINE)
    results_path = root / "var/lib/boot-test/results.json"
    results = json.loads(results_path.read_text()) if results_path.exists() else {}
    (OUT / "results.json").write_text(json.dumps(results, indent=2))
    lifecycle = timed("apt-get remove + purge", remove_and_purge, root, install_log)
    return {
        "boot": boot,
        "results": results,
        "verify": verify,
        "root": root,
        "lifecycle": lifecycle,
        "upgrade_version": upgrade[1],
    }


def section(booted: dict, name: str) -> dict:
    results = booted["results"]
    assert results.get("done"), (
        f"the checks inside the container did not finish (console: {booted['boot'].console}):\n"
        + booted["boot"].console.read_text()[-4000:]
    )
    assert "error" not in results, results["error"]
    assert name in results, f"no {name!r} in results: {sorted(results)}"
    return results[name]


def dump(value) -> str:
    return json.dumps(value, indent=2)[-6000:]


def assert_pub_sub(step: dict) -> None:
    assert step["sub_connack"] == "Success", dump(step)
    assert step["suback"], dump(step)
    assert step["pub_rc"] == 0, dump(step)
    assert step["received"] == [[f"boot/{step['tag']}", step["sent"]]], dump(step)


def test_units_verify_cleanly(booted: dict) -> None:
    verify = booted["verify"]
    assert verify.returncode == 0 and not (verify.stdout + verify.stderr).strip(), (
        verify.stdout + verify.stderr
    )


def test_active_running_through_type_notify(booted: dict) -> None:
    boot = section(booted, "boot")
    props = boot["props"]
    assert props["Type"] == "notify", dump(boot)
    assert (props["ActiveState"], props["SubState"]) == ("active", "running"), dump(boot)
    assert props["NRestarts"] == "0" and props["User"] == "edge-gateway", dump(boot)
    assert props["WatchdogUSec"] == f"{WATCHDOG_SEC}s", dump(props)
    # STATUS= reaches systemd only through the notify socket, as READY=1 does.
    assert "client(s)" in props["StatusText"], dump(props)
    journal = "\n".join(boot["journal"])
    assert "ready:" in journal and "Started edge-gateway.service" in journal, journal


def test_first_boot_provisioning(booted: dict) -> None:
    boot = section(booted, "boot")
    provision = boot["provision"]
    assert (provision["ActiveState"], provision["Result"]) == ("active", "success"), dump(boot)
    assert any(
        "provision: gateway id, broker user admin" in line for line in boot["provision_journal"]
    ), dump(boot["provision_journal"])
    gid = next(
        line.split(":")[2]
        for line in (booted["root"] / "etc/group").read_text().splitlines()
        if line.startswith("edge-gateway:")
    )
    # `ls -ln` lines: mode, links, uid, gid, size, date..., name
    modes = {
        fields[-1]: (fields[0], fields[2], fields[3])
        for fields in (line.split() for line in boot["etc"].splitlines())
        if len(fields) >= 9
    }
    assert modes["passwd"] == ("-rw-r-----", "0", gid), boot["etc"]
    assert modes["admin.password"] == ("-rw-------", "0", "0"), boot["etc"]
    assert modes["ca.key"] == ("-rw-------", "0", "0"), boot["etc"]
    assert modes["server.key"] == ("-rw-r-----", "0", gid), boot["etc"]
    assert modes["ca.crt"] == modes["server.crt"] == ("-rw-r--r--", "0", "0"), boot["etc"]


def test_edge_gateway_command_on_path_accepts_the_installed_config(booted: dict) -> None:
    check = section(booted, "check_config")
    assert check["which"] == "/usr/bin/edge-gateway", dump(check)
    assert check["rc"] == 0, dump(check)
    # the one warning the package's config is meant to give: the plain listener
    assert "passwords cross the network in clear text" in check["output"], dump(check)


def test_publish_subscribe_through_the_broker(booted: dict) -> None:
    assert_pub_sub(section(booted, "pubsub"))


def test_tls_listener_serves_the_certificate_made_on_first_boot(booted: dict) -> None:
    step = section(booted, "tls")
    assert step["connack"] == "Success", dump(step)
    host = step["hostname"]
    assert f"DNS:{host}, DNS:{host}.local, DNS:localhost, IP Address:127.0.0.1" in step["san"], (
        dump(step)
    )


def test_journal_lines_carry_the_client_id_field(booted: dict) -> None:
    step = section(booted, "pubsub")
    assert any(
        line.startswith("client boot-sub-first connected from 127.0.0.1:")
        for line in step["journal_client"]
    ), dump(step)


def test_anonymous_client_refused_on_the_lan_listener(booted: dict) -> None:
    step = section(booted, "pubsub")
    assert step["anonymous_connack"] == "Not authorized", dump(step)


def test_reload_rereads_the_password_file_without_a_restart(booted: dict) -> None:
    reload = section(booted, "reload")
    assert reload["passwd_rc"] == 0 and reload["passwd_mode"] == "640 root:edge-gateway", dump(
        reload
    )
    assert reload["connack_before_reload"] == "Bad user name or password", dump(reload)
    assert reload["reload_rc"] == 0, dump(reload)
    assert reload["connack_after_reload"] == "Success", dump(reload)
    after, before = reload["after"], reload["before"]
    assert (after["ActiveState"], after["SubState"]) == ("active", "running"), dump(reload)
    assert after["MainPID"] == before["MainPID"] and after["NRestarts"] == before["NRestarts"]
    journal = reload["journal"]
    assert any(
        "reload: auth password_file: reconfigured (/etc/edge-gateway/passwd: 2 user(s))" in line
        for line in journal
    ), dump(journal)
    assert any("reload: /etc/edge-gateway/gateway.toml applied" in line for line in journal), dump(
        journal
    )
    assert_pub_sub(section(booted, "pubsub_after_reload"))


def test_watchdog_restarts_a_stopped_gateway(booted: dict) -> None:
    watchdog = section(booted, "watchdog")
    before, after = watchdog["before"], watchdog["after"]
    assert int(after["NRestarts"]) == int(before["NRestarts"]) + 1, dump(watchdog)
    assert (after["ActiveState"], after["SubState"]) == ("active", "running"), dump(watchdog)
    assert after["MainPID"] != str(watchdog["stopped_pid"]), dump(watchdog)
    # Killed by the watchdog WatchdogSec after the last ping, not earlier by anything else: the
    # gateway pings every WatchdogSec / 2, so between WatchdogSec / 2 and WatchdogSec after SIGSTOP
    # (plus the restart and the 0.25 s polling).
    assert WATCHDOG_SEC / 2 - 0.5 <= watchdog["seconds"] <= WATCHDOG_SEC + 15, dump(watchdog)
    journal = "\n".join(watchdog["journal"])
    assert f"Watchdog timeout (limit {WATCHDOG_SEC}s)" in journal, journal[-4000:]
    assert_pub_sub(section(booted, "pubsub_after_restart"))


def test_stop_is_clean(booted: dict) -> None:
    stop = section(booted, "stop")
    props = stop["props"]
    assert stop["rc"] == 0, dump(stop)
    assert (props["ActiveState"], props["SubState"], props["Result"]) == (
        "inactive",
        "dead",
        "success",
    ), dump(stop)
    assert (props["ExecMainCode"], props["ExecMainStatus"]) == ("1", "0"), dump(stop)  # exited 0
    journal = "\n".join(stop["journal"])
    assert ": stopping" in journal and ": stopped" in journal, journal
    assert "Deactivated successfully" in journal, journal


def test_container_powers_off_by_itself_in_time(booted: dict) -> None:
    boot = booted["boot"]
    section(booted, "stop")
    assert boot.returncode == 0, f"nspawn ended with {boot.returncode} after {boot.seconds:.0f} s"
    assert boot.seconds < BOOT_BUDGET, f"boot, checks and power-off took {boot.seconds:.0f} s"


def test_upgrade_keeps_config_credentials_and_state(booted: dict) -> None:
    step = section(booted, "upgrade")
    before, after = step["before"], step["after"]
    assert step["install_rc"] == 0, dump(step)
    assert step["version_after"] == booted["upgrade_version"] != step["version_before"], dump(step)
    # The running gateway was restarted onto the new version, not left on the old one.
    assert (after["ActiveState"], after["SubState"]) == ("active", "running"), dump(step)
    assert after["MainPID"] != before["MainPID"], dump(step)
    assert step["config_edit_kept"] and step["identity_before"] == step["identity_after"], dump(
        step
    )
    assert step["retained_after"] == [["boot/retained", step["retained_sent"]]], dump(step)
    assert_pub_sub(section(booted, "pubsub_after_upgrade"))


def test_remove_keeps_config_credentials_and_state(booted: dict) -> None:
    section(booted, "stop")
    lifecycle = booted["lifecycle"]
    after = lifecycle["after_remove"]
    assert lifecycle["remove_rc"] == 0, dump(lifecycle)
    assert after["status"] == "deinstall ok config-files", dump(lifecycle)
    assert not any(after["present"][path] for path in PROGRAM), dump(after)
    assert all(after["present"][path] for path in KEPT), dump(after)


def test_purge_removes_config_credentials_and_state(booted: dict) -> None:
    lifecycle = booted["lifecycle"]
    after = lifecycle["after_purge"]
    assert lifecycle["purge_rc"] == 0, dump(lifecycle)
    assert after["status"] in ("not-installed", "unknown ok not-installed"), dump(lifecycle)
    assert not any(after["present"].values()), dump(after)
    assert not after["etc_dir"] and not after["state_dir"], dump(after)
