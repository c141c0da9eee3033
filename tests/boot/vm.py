"""A Debian root booted as a virtual machine (qemu-system-x86_64, TCG), for the power-cut test.

How this works: `kernel_rootfs()` adds Debian's own kernel (linux-image-amd64, with the initramfs
that initramfs-tools makes) to a copy of the cached debootstrap root of `tests.boot.rootfs`, once,
and caches that too. A run copies it, installs the package, and `disk_image()` turns the directory
into an ext4 disk image with `mkfs.ext4 -d` (no loop mount). `Vm` boots the image with the kernel
and initramfs given to qemu directly, the disk as virtio-blk, user networking with the guest's MQTT
port forwarded to 127.0.0.1 on the host, and the serial console in a file.

`Vm.cut()` is SIGKILL of qemu: the guest's page cache is lost, as at a power cut, and only what the
guest had written to its (virtual) disk survives. The virtual disk has no volatile write cache of
its own in this set-up (what reached it is in the host's page cache, which survives qemu), so the
test checks that the gateway syncs what it acknowledges, not how a given SD card honours a flush.

TCG, not KVM: /dev/kvm exists on the CI machines but KVM guests hang at boot there (nested
virtualisation). Needs root (debootstrap, systemd-nspawn), qemu-system-x86 and e2fsprogs.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path

from tests.boot import rootfs

KERNEL_PACKAGES = ("linux-image-amd64", "initramfs-tools")


def require_tools() -> None:
    rootfs.require_tools()
    missing = [
        tool
        for tool in ("qemu-system-x86_64", "mkfs.ext4")
        if shutil.which(tool, path="/usr/sbin:/usr/bin:/sbin:/bin") is None
    ]
    if missing:
        raise rootfs.BootSetupError(
            f"power-cut test: missing {', '.join(missing)} "
            "(apt-get install qemu-system-x86 e2fsprogs)"
        )


def kernel_rootfs(log: Path, timeout: float = 1800) -> Path:
    """The cached debootstrap root plus Debian's kernel and initramfs (made once)."""
    base, _ = rootfs.base_rootfs("amd64")
    root = base.with_name(base.name + "-kernel")
    if (root / ".complete-kernel").exists():
        return root
    partial = rootfs.work_copy(base, base.name + "-kernel.partial")
    # apt needs the network here (no --private-network): the kernel is not in the base root.
    result = rootfs.run(
        [
            "systemd-nspawn",
            "--quiet",
            "--register=no",
            "--keep-unit",
            "-D",
            str(partial),
            "sh",
            "-c",
            "apt-get update -qq && DEBIAN_FRONTEND="
            "noninteractive apt-get install -y -qq --no-install-recommends "
            + " ".join(KERNEL_PACKAGES)
            + " && apt-get clean",
        ],
        timeout,
        log,
    )
    if result.returncode != 0 or not list((partial / "boot").glob("initrd.img-*")):
        raise rootfs.BootSetupError(
            f"installing the kernel failed; see {log}:\n" + log.read_text()[-3000:]
        )
    (partial / ".complete-kernel").write_text(" ".join(KERNEL_PACKAGES) + "\n")
    shutil.rmtree(root, ignore_errors=True)
    partial.rename(root)
    return root


def kernel_files(root: Path) -> tuple[Path, Path]:
    (vmlinuz,) = sorted((root / "boot").glob("vmlinuz-*"))[-1:]
    (initrd,) = sorted((root / "boot").glob("initrd.img-*"))[-1:]
    return vmlinuz, initrd


def disk_image(root: Path, image: Path, size: str = "3G", log: Path | None = None) -> None:
    """An ext4 file system image holding `root` (mkfs.ext4 -d: populated without mounting)."""
    image.unlink(missing_ok=True)
    result = rootfs.run(
        ["mkfs.ext4", "-q", "-F", "-L", "root", "-d", str(root), str(image), size], 600, log
    )
    if result.returncode != 0:
        raise AssertionError(f"mkfs.ext4 -d failed: {result.stdout}{result.stderr}")


class Vm:
    """One qemu process; start() boots, cut() pulls the plug (SIGKILL), stop() as well."""

    def __init__(
        self,
        vmlinuz: Path,
        initrd: Path,
        image: Path,
        port: int,
        console: Path,
        memory_mb: int = 768,
    ) -> None:
        self.argv = [
            "qemu-system-x86_64",
            "-accel",
            "tcg",
            "-m",
            str(memory_mb),
            "-smp",
            "1",
            "-kernel",
            str(vmlinuz),
            "-initrd",
            str(initrd),
            # the journal (the gateway's log included) on the serial console, for the console file
            "-append",
            "root=/dev/vda rw console=ttyS0 panic=-1 quiet systemd.show_status=1 "
            "systemd.journald.forward_to_console=1",
            "-drive",
            f"file={image},format=raw,if=virtio,cache=writeback",
            "-netdev",
            f"user,id=n0,hostfwd=tcp:127.0.0.1:{port}-:1883",
            "-device",
            "virtio-net-pci,netdev=n0",
            "-chardev",
            f"file,id=console,path={console},append=on",
            "-serial",
            "chardev:console",
            "-display",
            "none",
            "-monitor",
            "none",
            "-no-reboot",
        ]
        self.port = port
        self.console = console
        self.proc: subprocess.Popen | None = None
        self.boots = 0

    def start(self) -> None:
        self.boots += 1
        with self.console.open("a") as out:
            out.write(f"\n===== boot {self.boots} =====\n")
        self.proc = subprocess.Popen(
            self.argv,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )

    def cut(self) -> None:
        """Power cut: SIGKILL, no shutdown, the guest's page cache is gone."""
        if self.proc is not None and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(30)
        self.proc = None

    stop = cut

    def wait_mqtt(self, timeout: float) -> float:
        """Seconds until the gateway in the guest answers an MQTT CONNECT with CONNACK 0."""
        start = time.monotonic()
        while time.monotonic() - start < timeout:
            if self.proc is None or self.proc.poll() is not None:
                raise AssertionError(
                    f"qemu exited ({self.proc and self.proc.returncode}); console: {self.console}"
                )
            if connack(self.port):
                return time.monotonic() - start
            time.sleep(1)
        raise AssertionError(
            f"no MQTT within {timeout} s; console {self.console}:\n"
            + self.console.read_text(errors="replace")[-3000:]
        )


def connack(port: int) -> bool:
    """One MQTT 3.1.1 CONNECT (clean, empty client id): True on CONNACK 0. The forwarded port
    accepts TCP even while nothing listens in the guest, so only CONNACK says it is up."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=3) as sock:
            sock.settimeout(3)
            sock.sendall(b"\x10\x0c\x00\x04MQTT\x04\x02\x00\x3c\x00\x00")
            return sock.recv(4) == b"\x20\x02\x00\x00"
    except OSError:
        return False
