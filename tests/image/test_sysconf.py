"""The image's first-boot sysconf.txt script (image/debian/overlay/usr/local/sbin/edge-gateway-sysconf),
run with --root against a scratch root: what it writes, what it leaves in sysconf.txt, what it refuses.

The script is POSIX sh; these tests run it with /bin/sh as the image does (dash on Debian). What they
cannot show: wpa_supplicant reading the file and joining a network, which needs a Pi (image/README.md).
"""

from __future__ import annotations

import os
import stat
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
OVERLAY = REPO / "image" / "debian" / "overlay"
SCRIPT = OVERLAY / "usr" / "local" / "sbin" / "edge-gateway-sysconf"
WPA_CONF = "etc/wpa_supplicant/wpa_supplicant-wlan0.conf"
WANTS_LINK = "etc/systemd/system/multi-user.target.wants/wpa_supplicant@wlan0.service"

# IEEE 802.11i-2004, Annex H.4 (PSK mapping test vectors): passphrase, SSID, PSK.
IEEE_VECTORS = [
    ("password", "IEEE", "f42c6fc52df0ebef9ebb4b90b38a5f902e83fe1b135a70e23aed762e9710a12e"),
    (
        "ThisIsAPassword",
        "ThisIsASSID",
        "0dc0d6eb90555ed6419756b9a15ec3e3209b63df707dd508d14581f8982721af",
    ),
]


@pytest.fixture
def root(tmp_path: Path) -> Path:
    r = tmp_path / "root"
    (r / "etc").mkdir(parents=True)
    (r / "root").mkdir()
    (r / "etc" / "hostname").write_text("edge-gateway\n")
    (r / "etc" / "hosts").write_text("127.0.0.1\tlocalhost\n127.0.1.1\tedge-gateway\n")
    return r


def run(root: Path, text: str | bytes) -> tuple[subprocess.CompletedProcess, Path]:
    sysconf = root.parent / "sysconf.txt"
    sysconf.write_bytes(text.encode() if isinstance(text, str) else text)
    done = subprocess.run(
        ["/bin/sh", str(SCRIPT), "--root", str(root), str(sysconf)],
        capture_output=True,
        text=True,
        timeout=30,
    )
    return done, sysconf


def network_block(root: Path) -> dict[str, str]:
    lines = (root / WPA_CONF).read_text().splitlines()
    inner = lines[lines.index("network={") + 1 : lines.index("}")]
    return dict(line.strip().split("=", 1) for line in inner)


@pytest.mark.parametrize(("passphrase", "ssid", "psk"), IEEE_VECTORS)
def test_wifi_passphrase_is_hashed_as_ieee_802_11i_h4(root, passphrase, ssid, psk):
    done, _sysconf = run(root, f"wifi_ssid={ssid}\nwifi_psk={passphrase}\nwifi_country=de\n")
    assert done.returncode == 0, done.stderr
    net = network_block(root)
    assert net["psk"] == psk
    assert net["ssid"] == ssid.encode().hex()
    assert net["key_mgmt"] == "WPA-PSK"
    assert "country=DE" in (root / WPA_CONF).read_text().splitlines()
    assert passphrase not in (root / WPA_CONF).read_text()


def test_wifi_config_is_root_only_and_the_unit_enabled(root):
    done, _ = run(root, "wifi_ssid=barn\nwifi_psk=correct horse battery staple\nwifi_country=GB\n")
    assert done.returncode == 0, done.stderr
    assert stat.S_IMODE((root / WPA_CONF).stat().st_mode) == 0o600
    assert os.readlink(root / WANTS_LINK) == "/lib/systemd/system/wpa_supplicant@.service"
    assert "wlan0 joins 'barn' (country GB)" in done.stdout


def test_applied_lines_are_commented_and_the_passphrase_leaves_the_file(root):
    secret = "correct horse battery staple"
    text = (
        "# my settings\nhostname=gw-barn-1\nroot_authorized_key=ssh-ed25519 AAAAkey me@laptop\n"
        f"wifi_ssid=barn\nwifi_psk={secret}\nwifi_country=DE\n"
    )
    done, sysconf = run(root, text)
    assert done.returncode == 0, done.stderr
    assert sysconf.read_text().splitlines() == [
        "# my settings",
        "#hostname=gw-barn-1",
        "#root_authorized_key=ssh-ed25519 AAAAkey me@laptop",
        "#wifi_ssid=barn",
        "#wifi_psk= (applied; not kept in this file)",
        "#wifi_country=DE",
    ]
    assert secret.encode() not in sysconf.read_bytes()
    assert (root / "etc" / "hostname").read_text() == "gw-barn-1\n"
    assert "127.0.1.1\tgw-barn-1" in (root / "etc" / "hosts").read_text().splitlines()
    assert (
        root / "root" / ".ssh" / "authorized_keys"
    ).read_text() == "ssh-ed25519 AAAAkey me@laptop\n"
    assert stat.S_IMODE((root / "root" / ".ssh" / "authorized_keys").stat().st_mode) == 0o600


def test_a_hashed_psk_is_stored_as_given(root):
    psk = IEEE_VECTORS[0][2].upper()
    done, sysconf = run(root, f"wifi_ssid=IEEE\nwifi_psk={psk}\nwifi_country=US\n")
    assert done.returncode == 0, done.stderr
    assert network_block(root)["psk"] == psk.lower()
    assert psk not in sysconf.read_text()


def test_windows_line_ends_and_byte_order_mark(root):
    done, _ = run(root, b"\xef\xbb\xbfhostname=gw2\r\nwifi_ssid=IEEE\r\nwifi_psk=password\r\n")
    assert done.returncode == 0, done.stderr
    assert (root / "etc" / "hostname").read_text() == "gw2\n"
    assert network_block(root)["psk"] == IEEE_VECTORS[0][2]
    assert network_block(root)["ssid"] == b"IEEE".hex()
    assert "no wifi_country=" in done.stderr


def test_an_ssid_with_quotes_and_spaces_needs_no_escaping(root):
    ssid = 'Dave\'s "Barn" #2 = ok'
    done, _ = run(root, f"wifi_ssid={ssid}\nwifi_psk=password\nwifi_country=DE\n")
    assert done.returncode == 0, done.stderr
    assert bytes.fromhex(network_block(root)["ssid"]).decode() == ssid


@pytest.mark.parametrize(
    ("lines", "complaint"),
    [
        ("wifi_ssid=barn\nwifi_psk=short\n", "8 to 63 characters"),
        ("wifi_ssid=barn\nwifi_psk=" + "x" * 64 + "\n", "8 to 63 characters"),
        ("wifi_ssid=barn\nwifi_psk=caf\u00e9-caf\u00e9-caf\u00e9\n", "printable ASCII"),
        ("wifi_ssid=barn\n", "open networks are not supported"),
        ("wifi_psk=password\n", "without wifi_ssid="),
        ("wifi_ssid=" + "s" * 33 + "\nwifi_psk=password\n", "at most 32 bytes"),
        ("wifi_ssid=barn\nwifi_psk=password\nwifi_country=Germany\n", "two-letter ISO 3166"),
    ],
)
def test_bad_wifi_settings_are_refused_and_left_in_place(root, lines, complaint):
    text = "hostname=gw3\n" + lines
    done, sysconf = run(root, text)
    assert done.returncode == 1
    assert complaint in done.stderr
    assert not (root / WPA_CONF).exists()
    assert not (root / WANTS_LINK).exists()
    # Everything else is still applied; the refused lines stay as they were.
    assert (root / "etc" / "hostname").read_text() == "gw3\n"
    assert sysconf.read_text() == "#hostname=gw3\n" + lines


@pytest.mark.parametrize("name", ["-gw", "gw-", "gw_1", "gw.barn", "g/w", "x" * 64])
def test_bad_host_names_are_refused(root, name):
    done, sysconf = run(root, f"hostname={name}\n")
    assert done.returncode == 1
    assert "hostname=" in done.stderr
    assert (root / "etc" / "hostname").read_text() == "edge-gateway\n"
    assert sysconf.read_text() == f"hostname={name}\n"


def test_second_run_changes_nothing(root):
    done, sysconf = run(
        root,
        "hostname=gw4\nroot_authorized_key=ssh-ed25519 AAAAkey\n"
        "wifi_ssid=IEEE\nwifi_psk=password\nwifi_country=DE\n",
    )
    assert done.returncode == 0, done.stderr
    after_first = sysconf.read_bytes()
    conf_first = (root / WPA_CONF).read_bytes()
    os.utime(sysconf, (1_000_000_000, 1_000_000_000))
    again = subprocess.run(
        ["/bin/sh", str(SCRIPT), "--root", str(root), str(sysconf)],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert again.returncode == 0, again.stderr
    assert again.stdout == "" and again.stderr == ""
    assert sysconf.read_bytes() == after_first
    assert sysconf.stat().st_mtime == 1_000_000_000  # not rewritten at all
    assert (root / WPA_CONF).read_bytes() == conf_first
    assert (root / "root" / ".ssh" / "authorized_keys").read_text() == "ssh-ed25519 AAAAkey\n"


def test_unknown_keys_are_reported_and_kept(root):
    done, sysconf = run(root, "wifi_password=secret123\n")
    assert done.returncode == 0
    assert "unknown key wifi_password" in done.stderr
    assert sysconf.read_text() == "wifi_password=secret123\n"


def test_the_image_default_sysconf_applies_nothing(root):
    text = (OVERLAY / "boot" / "firmware" / "sysconf.txt").read_text()
    done, sysconf = run(root, text)
    assert done.returncode == 0
    assert done.stdout == "" and done.stderr == ""
    assert sysconf.read_text() == text
    assert not (root / WPA_CONF).exists()


def test_a_shorter_file_is_cut_to_its_new_length(root):
    # The passphrase line shrinks: the rewritten file must not keep the old file's tail.
    secret = "p" * 63
    done, sysconf = run(root, f"wifi_ssid=IEEE\nwifi_psk={secret}\n")
    assert done.returncode == 0, done.stderr
    data = sysconf.read_bytes()
    assert data == b"#wifi_ssid=IEEE\n#wifi_psk= (applied; not kept in this file)\n"
