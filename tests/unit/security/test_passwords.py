"""Mosquitto password files: files written by the real mosquitto_passwd, ours read back."""

from __future__ import annotations

import hashlib
import os
import shutil
import stat
import subprocess

import pytest

from gateway.broker.auth.files import AuthFileError
from gateway.broker.auth.passwords import HashScheme, PasswordFile, PasswordHash
from tests.support.gateway_process import free_port

MOSQUITTO_PASSWD = shutil.which("mosquitto_passwd") or "/usr/bin/mosquitto_passwd"


def mosquitto_passwd(*args: str) -> None:
    subprocess.run([MOSQUITTO_PASSWD, *args], check=True, capture_output=True, timeout=30)


@pytest.fixture
def real_file(tmp_path):
    """A file written by Mosquitto's own tool: alice in the 2.0 default ($7$), bob in $6$."""
    path = tmp_path / "passwd"
    mosquitto_passwd("-c", "-b", str(path), "alice", "wonderland")
    mosquitto_passwd("-H", "sha512", "-b", str(path), "bob", "b:o b\u00e9")
    return path


def test_mosquitto_passwd_file_is_accepted(real_file):
    pw = PasswordFile.load(real_file)
    assert pw.usernames == ("alice", "bob")
    assert pw.get("alice").scheme is HashScheme.PBKDF2_SHA512
    assert pw.get("alice").iterations == 101
    assert pw.get("bob").scheme is HashScheme.SHA512


def test_mosquitto_passwd_passwords_verify(real_file):
    pw = PasswordFile.load(real_file)
    assert pw.verify("alice", b"wonderland")
    assert pw.verify("bob", "b:o b\u00e9".encode())


@pytest.mark.parametrize(
    ("user", "password"),
    [
        ("alice", b"Wonderland"),
        ("alice", b""),
        ("alice", b"wonderland "),
        ("bob", b"b:o b"),
        ("carol", b"wonderland"),
    ],
)
def test_wrong_password_or_unknown_user_is_refused(real_file, user, password):
    assert not PasswordFile.load(real_file).verify(user, password)


def test_our_file_round_trips_and_keeps_other_users(real_file, tmp_path):
    pw = PasswordFile.load(real_file)
    pw.set("carol", b"s3cret", iterations=5)
    pw.set("alice", "new password")
    out = tmp_path / "ours"
    pw.save(out)
    again = PasswordFile.load(out)
    assert again.usernames == ("alice", "bob", "carol")
    assert again.verify("carol", b"s3cret")
    assert again.verify("alice", b"new password")
    assert not again.verify("alice", b"wonderland")
    assert again.verify("bob", "b:o b\u00e9".encode())  # the $6$ entry is kept as it was


def test_our_file_matches_mosquitto_format(tmp_path):
    pw = PasswordFile()
    pw.set("dave", b"pw")
    pw.save(tmp_path / "f")
    line = (tmp_path / "f").read_text()
    user, _, hashed = line.rstrip("\n").partition(":")
    fields = hashed.split("$")
    assert user == "dave" and fields[:3] == ["", "7", "101"]
    assert len(fields[3]) == 16 and len(fields[4]) == 88  # 12-byte salt, 64-byte digest in base64


def test_our_hash_equals_pbkdf2_of_a_mosquitto_written_salt(real_file):
    stored = PasswordFile.load(real_file).get("alice")
    ours = PasswordHash.create(b"wonderland", iterations=101, salt=stored.salt)
    assert ours.encode() == stored.encode()


def test_delete_removes_user(real_file, tmp_path):
    pw = PasswordFile.load(real_file)
    pw.delete("alice")
    pw.save(tmp_path / "f")
    again = PasswordFile.load(tmp_path / "f")
    assert again.usernames == ("bob",)
    assert not again.verify("alice", b"wonderland")
    with pytest.raises(KeyError, match="alice"):
        again.delete("alice")


def test_new_file_is_0600(tmp_path):
    pw = PasswordFile()
    pw.set("u", b"p", iterations=1)
    pw.save(tmp_path / "f")
    assert stat.S_IMODE(os.stat(tmp_path / "f").st_mode) == 0o600


def test_save_keeps_existing_mode(tmp_path):
    path = tmp_path / "f"
    path.write_text("")
    os.chmod(path, 0o640)
    pw = PasswordFile()
    pw.set("u", b"p", iterations=1)
    pw.save(path)
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o640
    assert [p.name for p in tmp_path.iterdir()] == ["f"]  # no temporary file left behind


def test_comments_and_blank_lines_are_skipped():
    hashed = PasswordHash.create(b"x", iterations=1).encode()
    pw = PasswordFile.parse(f"# users\n\nu:{hashed}\n  \n")
    assert pw.usernames == ("u",)


GOOD_SALT = "AAAAAAAAAAAAAAAA"
GOOD_DIGEST = "A" * 86 + "=="


@pytest.mark.parametrize(
    ("line", "reason"),
    [
        ("no colon here", "expected 'username:hash'"),
        (":$6$x$y", "expected 'username:hash'"),
        ("u:plaintext", "must start with"),
        ("u:$5$abc$def", "unknown hash type"),
        (f"u:$7${GOOD_SALT}${GOOD_DIGEST}", "wrong number"),
        (f"u:$7$x1${GOOD_SALT}${GOOD_DIGEST}", "not a positive integer"),
        (f"u:$7$0${GOOD_SALT}${GOOD_DIGEST}", "between 1 and"),
        (f"u:$6$!!!${GOOD_DIGEST}", "salt is not valid base64"),
        (f"u:$6$AAAA${GOOD_DIGEST}", "salt must be 12 bytes"),
        (f"u:$6${GOOD_SALT}$AAAA", "hash must be 64 bytes"),
    ],
)
def test_malformed_line_names_file_and_line(tmp_path, line, reason):
    path = tmp_path / "passwd"
    path.write_text(f"# header\n{line}\n")
    with pytest.raises(AuthFileError, match=reason) as info:
        PasswordFile.load(path)
    assert info.value.line == 2
    assert str(info.value).startswith(f"{path}:2: ")


def test_duplicate_user_is_an_error():
    hashed = PasswordHash.create(b"x", iterations=1).encode()
    with pytest.raises(AuthFileError, match="appears twice"):
        PasswordFile.parse(f"u:{hashed}\nu:{hashed}\n")


def test_missing_file_is_a_clear_error(tmp_path):
    with pytest.raises(AuthFileError, match="does not exist"):
        PasswordFile.load(tmp_path / "absent")


@pytest.mark.parametrize("username", ["", "a:b", " lead", "trail ", "new\nline"])
def test_bad_usernames_are_refused(username):
    with pytest.raises(ValueError, match="username"):
        PasswordFile().set(username, b"p")


@pytest.fixture
def mosquitto_with(tmp_path):
    """Start the real Mosquitto broker with `password_file`; yields its port."""
    procs = []

    def start(password_file) -> int:
        port = free_port()
        conf = tmp_path / "mosquitto.conf"
        conf.write_text(
            f"listener {port} 127.0.0.1\nallow_anonymous false\npassword_file {password_file}\nuser root\n"
        )
        proc = subprocess.Popen(
            ["mosquitto", "-v", "-c", str(conf)],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        procs.append(proc)
        assert proc.stdout is not None
        for line in proc.stdout:  # wait for its own "running" line, not a timer
            if "running" in line:
                return port
        raise AssertionError("mosquitto exited before it was running")

    yield start
    for proc in procs:
        proc.terminate()
        proc.wait(timeout=10)
        proc.stdout.close()


def mosquitto_pub(port: int, user: str, password: str) -> int:
    args = ["mosquitto_pub", "-p", str(port), "-u", user, "-P", password, "-t", "t", "-m", "m"]
    return subprocess.run(args, capture_output=True, timeout=30).returncode


def test_real_mosquitto_broker_accepts_a_file_we_wrote(tmp_path, mosquitto_with):
    pw = PasswordFile()
    pw.set("keep", b"k")
    pw.save(tmp_path / "passwd")
    port = mosquitto_with(tmp_path / "passwd")
    assert mosquitto_pub(port, "keep", "k") == 0
    assert mosquitto_pub(port, "keep", "wrong") != 0


def test_unknown_user_costs_one_default_pbkdf2_like_a_known_user(monkeypatch):
    """The documented timing guarantee: an unknown user is hashed against a dummy $7$ hash."""
    pw = PasswordFile()
    pw.set("known", b"p")
    calls = []
    real = hashlib.pbkdf2_hmac

    def recording(name, password, salt, iterations):
        calls.append((name, iterations))
        return real(name, password, salt, iterations)

    monkeypatch.setattr(hashlib, "pbkdf2_hmac", recording)
    assert not pw.verify("ghost", b"p")
    assert pw.verify("known", b"p")
    assert calls == [("sha512", 101), ("sha512", 101)]
