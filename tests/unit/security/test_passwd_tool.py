"""`edge-gateway passwd` through main(): stdin, prompt, -b, -c, -D and --scram."""

from __future__ import annotations

import io
import os
import stat
import subprocess

import pytest

from gateway import passwd_tool
from gateway.broker.auth.passwords import PasswordFile
from gateway.broker.auth.scram import ScramClient, ScramCredentialsFile, ScramServer


@pytest.fixture
def stdin(monkeypatch):
    def feed(text: str) -> None:
        monkeypatch.setattr("sys.stdin", io.StringIO(text))

    return feed


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


@pytest.fixture
def prompts(monkeypatch):
    """Answers for getpass, in order; records the prompts shown."""
    shown: list[str] = []

    def answer(*answers: str) -> list[str]:
        replies = iter(answers)

        def fake_getpass(prompt: str = "Password: ") -> str:
            shown.append(prompt)
            return next(replies)

        monkeypatch.setattr("getpass.getpass", fake_getpass)
        # a terminal: without one the tool reads stdin instead (CI runs with stdin /dev/null)
        monkeypatch.setattr("sys.stdin", _Terminal())
        return shown

    return answer


def test_create_with_stdin_password(tmp_path, stdin):
    path = tmp_path / "passwd"
    stdin("s3cret pass\n")
    assert passwd_tool.main(["-c", "--stdin", str(path), "alice"]) == 0
    pw = PasswordFile.load(path)
    assert pw.verify("alice", b"s3cret pass")
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600


def test_stdin_crlf_and_missing_final_newline(tmp_path, stdin):
    path = tmp_path / "passwd"
    stdin("one\r\n")
    assert passwd_tool.main(["-c", "--stdin", str(path), "a"]) == 0
    stdin("two")
    assert passwd_tool.main(["--stdin", str(path), "b"]) == 0
    pw = PasswordFile.load(path)
    assert pw.verify("a", b"one") and pw.verify("b", b"two")


def test_add_to_existing_file_keeps_others(tmp_path, stdin):
    path = tmp_path / "passwd"
    subprocess.run(["mosquitto_passwd", "-c", "-b", str(path), "mosq", "m"], check=True, timeout=30)
    stdin("x\n")
    assert passwd_tool.main(["--stdin", str(path), "ours"]) == 0
    pw = PasswordFile.load(path)
    assert pw.usernames == ("mosq", "ours")
    assert pw.verify("mosq", b"m") and pw.verify("ours", b"x")


def test_c_replaces_an_existing_file(tmp_path):
    path = tmp_path / "passwd"
    assert passwd_tool.main(["-c", "-b", str(path), "old", "p"]) == 0
    assert passwd_tool.main(["-c", "-b", str(path), "new", "p"]) == 0
    assert PasswordFile.load(path).usernames == ("new",)


def test_without_c_a_missing_file_is_refused(tmp_path, capsys):
    assert passwd_tool.main(["-b", str(tmp_path / "absent"), "u", "p"]) == 1
    assert "does not exist (use -c to create it)" in capsys.readouterr().err
    assert not (tmp_path / "absent").exists()


def test_delete(tmp_path):
    path = tmp_path / "passwd"
    passwd_tool.main(["-c", "-b", str(path), "a", "1"])
    passwd_tool.main(["-b", str(path), "b", "2"])
    assert passwd_tool.main(["-D", str(path), "a"]) == 0
    pw = PasswordFile.load(path)
    assert pw.usernames == ("b",)
    assert pw.verify("b", b"2")


def test_delete_unknown_user_is_refused_and_file_unchanged(tmp_path, capsys):
    path = tmp_path / "passwd"
    passwd_tool.main(["-c", "-b", str(path), "a", "1"])
    before = path.read_text()
    assert passwd_tool.main(["-D", str(path), "ghost"]) == 1
    assert "no user 'ghost'" in capsys.readouterr().err
    assert path.read_text() == before


def test_prompt_asks_twice(tmp_path, prompts):
    shown = prompts("pw", "pw")
    path = tmp_path / "passwd"
    assert passwd_tool.main(["-c", str(path), "u"]) == 0
    assert shown == ["Password: ", "Reenter password: "]
    assert PasswordFile.load(path).verify("u", b"pw")


def test_prompt_mismatch_is_refused(tmp_path, prompts, capsys):
    prompts("pw", "pW")
    assert passwd_tool.main(["-c", str(tmp_path / "passwd"), "u"]) == 1
    assert "passwords do not match" in capsys.readouterr().err
    assert not (tmp_path / "passwd").exists()


def test_scram_file_is_written_alongside(tmp_path, stdin):
    path, scram_path = tmp_path / "passwd", tmp_path / "scram"
    stdin("pencil\n")
    assert passwd_tool.main(["-c", "--stdin", "--scram", str(scram_path), str(path), "user"]) == 0
    creds = ScramCredentialsFile.load(scram_path)
    server = ScramServer(creds.lookup)
    client = ScramClient("user", "pencil")
    client.verify(server.finish(client.final(server.start(client.first()))))
    assert server.username == "user"
    assert passwd_tool.main(["-D", "--scram", str(scram_path), str(path), "user"]) == 0
    assert ScramCredentialsFile.load(scram_path).usernames == ()


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["-c", "-D", "F", "u"], "-c and -D cannot be used together"),
        (["-b", "--stdin", "F", "u", "p"], "-b and --stdin"),
        (["-D", "-b", "F", "u", "p"], "-D takes no password"),
        (["-b", "F", "u"], "-b needs PASSWORD"),
        (["F", "u", "p"], "needs -b"),
        (["-D", "-I", "1000", "F", "u"], "-D and -I cannot be used together"),
    ],
)
def test_conflicting_options_are_refused(argv, message, capsys):
    assert passwd_tool.main(argv) == 1
    assert message in capsys.readouterr().err


@pytest.mark.parametrize(
    ("stdin_text", "message"), [("", "no password on stdin"), ("\n", "must not be empty")]
)
def test_empty_stdin_is_refused(tmp_path, stdin, capsys, stdin_text, message):
    stdin(stdin_text)
    assert passwd_tool.main(["-c", "--stdin", str(tmp_path / "passwd"), "u"]) == 1
    assert message in capsys.readouterr().err


def test_bad_username_is_refused(tmp_path, capsys):
    assert passwd_tool.main(["-c", "-b", str(tmp_path / "passwd"), "a:b", "p"]) == 1
    assert "must not contain ':'" in capsys.readouterr().err


def test_malformed_existing_file_names_the_line(tmp_path, capsys):
    path = tmp_path / "passwd"
    path.write_text("broken line\n")
    assert passwd_tool.main(["-b", str(path), "u", "p"]) == 1
    assert f"{path}:1: expected 'username:hash'" in capsys.readouterr().err


def test_usage_error_returns_2(capsys):
    assert passwd_tool.main([]) == 2
    assert "usage: edge-gateway passwd" in capsys.readouterr().err


def test_iterations_option_sets_the_pbkdf2_count(tmp_path):
    path = tmp_path / "passwd"
    assert passwd_tool.main(["-c", "-b", "-I", "2500", str(path), "u", "pw"]) == 0
    line = path.read_text()
    assert line.startswith("u:$7$2500$")  # the count is in the hash, as mosquitto_passwd writes it
    loaded = PasswordFile.load(path)
    assert loaded.get("u").iterations == 2500 and loaded.verify("u", b"pw")
    assert passwd_tool.main(["-b", str(path), "v", "pw"]) == 0  # without -I: the default, 101
    assert PasswordFile.load(path).get("v").iterations == 101


@pytest.mark.parametrize("count", ["0", "-5", "10000001"])
def test_out_of_range_iterations_are_refused_and_nothing_written(tmp_path, capsys, count):
    path = tmp_path / "passwd"
    assert passwd_tool.main(["-c", "-b", "-I", count, str(path), "u", "pw"]) == 1
    assert "iterations must be between 1 and 10000000" in capsys.readouterr().err
    assert not path.exists()
