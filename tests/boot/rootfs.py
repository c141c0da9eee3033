"""Debian root file systems for the boot test: debootstrap once, cache, copy per run, boot.

How this works: `base_rootfs()` runs debootstrap (minbase plus systemd and the package's run-time
dependencies, so the .deb installs with no network) into a cache directory named after a hash of
everything that shapes it, and reuses it while that hash matches. `work_copy()` copies it for one
run; `install_deb()` installs the package with apt inside `systemd-nspawn` (not a bare chroot: /proc
is mounted, so the postinst's systemd-tmpfiles works); `boot()` boots the copy with systemd as PID
1 and returns when the container powers itself off, or kills it at the deadline.

Needs root, debootstrap and systemd-container (systemd-nspawn); `require_tools()` says what is
missing. Debian's mirror must be reachable for the first debootstrap.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import signal
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

# GATEWAY_BOOT_SUITE=trixie boots Debian 13 (Python 3.13); the .deb is then built inside a trixie
# root (image/build-deb-in-root.sh), since the package is bound to its Debian release's python3.
SUITE = os.environ.get("GATEWAY_BOOT_SUITE", "bookworm")
MIRROR = os.environ.get("GATEWAY_BOOT_MIRROR", "http://deb.debian.org/debian")
# systemd as PID 1, and every run-time dependency of edge-gateway (python3, libsystemd0), so the
# package installs offline (openssl makes the first boot's TLS certificates); procps/iproute2 for
# looking around when a boot goes wrong.
PACKAGES = (
    "systemd",
    "systemd-sysv",
    "dbus",
    "python3",
    "libsystemd0",
    "openssl",
    "procps",
    "iproute2",
)
CACHE = Path(os.environ.get("GATEWAY_BOOT_CACHE", "/var/cache/edge-gateway-boot"))
TIMINGS: dict[str, float] = {}  # step -> seconds, printed at the end of the pytest run


class BootSetupError(RuntimeError):
    """The machine cannot run the boot test (not root, a tool missing, debootstrap failed)."""


def require_tools() -> None:
    missing = [
        tool
        for tool in ("debootstrap", "systemd-nspawn", "dpkg-buildpackage")
        if shutil.which(tool, path="/usr/sbin:/usr/bin:/sbin:/bin") is None
    ]
    problems = []
    if os.geteuid() != 0:
        problems.append("not root (debootstrap and systemd-nspawn need root)")
    if missing:
        problems.append(
            "missing " + ", ".join(missing) + " (apt-get install debootstrap "
            "systemd-container dh-virtualenv debhelper python3-dev python3-venv "
            "libsystemd-dev pkg-config)"
        )
    if problems:
        raise BootSetupError(
            "boot test asked for (GATEWAY_BOOT_TEST=1) but cannot run: " + "; ".join(problems)
        )


def cache_key(arch: str) -> str:
    text = "\n".join([SUITE, arch, MIRROR, "minbase", *PACKAGES])
    return hashlib.sha256(text.encode()).hexdigest()[:12]


def run(argv: list[str], timeout: float, log: Path | None = None) -> subprocess.CompletedProcess:
    """Run a command with a deadline; its output goes to `log` (appended) or is captured."""
    if log is None:
        return subprocess.run(argv, capture_output=True, text=True, timeout=timeout, check=False)
    with log.open("a") as out:
        out.write(f"\n$ {' '.join(argv)}\n")
        out.flush()
        return subprocess.run(
            argv, stdout=out, stderr=subprocess.STDOUT, text=True, timeout=timeout, check=False
        )


def base_rootfs(arch: str = "amd64", timeout: float = 900) -> tuple[Path, float]:
    """The cached debootstrap root for `arch`, made if missing; (path, seconds spent making it)."""
    CACHE.mkdir(parents=True, exist_ok=True)
    root = CACHE / f"{SUITE}-{arch}-{cache_key(arch)}"
    if (root / ".complete").exists():
        return root, 0.0
    partial = root.with_name(root.name + ".partial")
    shutil.rmtree(partial, ignore_errors=True)
    log = CACHE / f"debootstrap-{SUITE}-{arch}.log"
    log.write_text("")
    start = time.monotonic()
    result = run(
        [
            "debootstrap",
            "--variant=minbase",
            f"--arch={arch}",
            "--include=" + ",".join(PACKAGES),
            SUITE,
            str(partial),
            MIRROR,
        ],
        timeout,
        log,
    )
    if result.returncode != 0:
        raise BootSetupError(
            f"debootstrap failed ({result.returncode}); see {log}:\n" + log.read_text()[-3000:]
        )
    (partial / ".complete").write_text(f"{SUITE} {arch} {' '.join(PACKAGES)}\n")
    shutil.rmtree(root, ignore_errors=True)
    partial.rename(root)
    return root, time.monotonic() - start


def work_copy(base: Path, name: str) -> Path:
    """A fresh copy of `base` for one run (the previous run's copy is kept until now, to look at)."""
    work = base.parent / name
    shutil.rmtree(work, ignore_errors=True)
    subprocess.run(["cp", "-a", "--reflink=auto", str(base), str(work)], check=True, timeout=300)
    (work / ".complete").unlink(missing_ok=True)
    hosts = work / "etc" / "hosts"
    if not hosts.exists():  # debootstrap makes none; an installed system (and our image) has it,
        # and mosquitto_pub-style tools default to the host name "localhost"
        hosts.write_text("127.0.0.1\tlocalhost\n::1\t\tlocalhost ip6-localhost ip6-loopback\n")
    return work


def nspawn_run(
    root: Path,
    argv: list[str],
    timeout: float,
    log: Path | None = None,
) -> subprocess.CompletedProcess:
    """Run one command in the root with systemd-nspawn (no boot), without a network."""
    return run(
        [
            "systemd-nspawn",
            "--quiet",
            "--register=no",
            "--keep-unit",
            "--private-network",
            "-D",
            str(root),
            *argv,
        ],
        timeout,
        log,
    )


def install_deb(root: Path, deb: Path, log: Path) -> None:
    target = root / "root" / deb.name  # not /tmp: nspawn mounts a fresh tmpfs there
    shutil.copy2(deb, target)
    result = nspawn_run(
        root, ["apt-get", "install", "-y", "--no-install-recommends", f"/root/{deb.name}"], 300, log
    )
    target.unlink()
    if result.returncode != 0:
        raise AssertionError(
            f"apt-get install of {deb.name} failed in {root}; see {log}:\n"
            + log.read_text()[-3000:]
        )


@dataclass
class Boot:
    returncode: int | None  # None: killed at the deadline
    seconds: float
    console: Path


def boot(root: Path, console: Path, timeout: float) -> Boot:
    """Boot the root with systemd as PID 1 until it powers off.

    At the deadline nspawn gets SIGTERM (the container halts in order), then 30 s later SIGKILL.
    """
    argv = [
        "systemd-nspawn",
        "--register=no",
        "--keep-unit",
        "--private-network",
        "--quiet",
        "-D",
        str(root),
        "-b",
    ]
    start = time.monotonic()
    with console.open("w") as out:
        proc = subprocess.Popen(
            argv,
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
        try:
            returncode: int | None = proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.terminate()
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(30)
            returncode = None
    return Boot(returncode, time.monotonic() - start, console)
