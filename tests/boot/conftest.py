from __future__ import annotations


def pytest_configure(config):
    config.addinivalue_line(
        "markers",
        "boot: boots a Debian rootfs with the .deb under systemd-nspawn; needs root, "
        "debootstrap and systemd-container; runs only with GATEWAY_BOOT_TEST=1",
    )


def pytest_terminal_summary(terminalreporter):
    from tests.boot.rootfs import TIMINGS

    if TIMINGS:
        terminalreporter.write_sep("-", "boot test timings")
        for name, seconds in TIMINGS.items():
            terminalreporter.write_line(f"{name:<28} {seconds:7.1f} s")
