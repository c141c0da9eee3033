"""`edge-gateway passwd FILE USER`: add, change or delete a user in the broker's password file.

The file is in Mosquitto's format (see gateway.broker.auth.passwords), so mosquitto_passwd and this
tool can edit the same file. With `--scram SCRAMFILE` the same password is also stored as
SCRAM-SHA-256 credentials for MQTT 5 enhanced authentication; that file is created if missing.
The two files are each replaced atomically, the password file first. `-I N` sets the PBKDF2
iteration count of the new hash, as newer mosquitto_passwd does (`$7$N$...`; Mosquitto 2.0 reads
any count from the file).

Exit status: 0 done, 1 refused (bad input, missing file or user; nothing written), 2 usage.
"""

from __future__ import annotations

import argparse
import getpass
import sys

from gateway.broker.auth.files import AuthFileError
from gateway.broker.auth.passwords import PBKDF2_ITERATIONS, PasswordFile
from gateway.broker.auth.scram import ScramCredentialsFile

PROG = "edge-gateway passwd"


class ToolError(Exception):
    """A refusal reported to the user as one line on stderr."""


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=PROG, description="Manage the broker's password file (mosquitto_passwd format)."
    )
    parser.add_argument("file", metavar="FILE", help="password file")
    parser.add_argument("username", metavar="USER")
    parser.add_argument("password", metavar="PASSWORD", nargs="?", help="with -b only")
    parser.add_argument(
        "-c", dest="create", action="store_true", help="create a new file (replaces one)"
    )
    parser.add_argument("-D", dest="delete", action="store_true", help="delete USER")
    parser.add_argument(
        "-b", dest="batch", action="store_true", help="take PASSWORD from the command line"
    )
    parser.add_argument(
        "--stdin", action="store_true", help="read the password from stdin's first line"
    )
    parser.add_argument(
        "-I",
        dest="iterations",
        type=int,
        metavar="N",
        default=None,
        help=f"PBKDF2 iterations of the new hash (default {PBKDF2_ITERATIONS}, "
        "as mosquitto_passwd; each login costs N rounds of SHA-512)",
    )
    parser.add_argument(
        "--scram", metavar="SCRAMFILE", help="also write SCRAM-SHA-256 credentials to SCRAMFILE"
    )
    return parser


def main(argv: list[str]) -> int:
    try:
        args = _parser().parse_args(argv)
    except SystemExit as exc:  # argparse has printed the usage message
        return exc.code if isinstance(exc.code, int) else 2
    try:
        _check_options(args)
        _run(args)
    except KeyboardInterrupt:
        print(f"{PROG}: interrupted, nothing written", file=sys.stderr)
        return 1
    except (ToolError, AuthFileError, ValueError, KeyError, OSError) as exc:
        message = exc.args[0] if isinstance(exc, KeyError) else exc
        print(f"{PROG}: error: {message}", file=sys.stderr)
        return 1
    return 0


def _check_options(args: argparse.Namespace) -> None:
    if args.create and args.delete:
        raise ToolError("-c and -D cannot be used together")
    if args.batch and args.stdin:
        raise ToolError("-b and --stdin cannot be used together")
    if args.delete and (args.batch or args.stdin or args.password is not None):
        raise ToolError("-D takes no password")
    if args.delete and args.iterations is not None:
        raise ToolError("-D and -I cannot be used together")
    if args.batch and args.password is None:
        raise ToolError("-b needs PASSWORD after USER")
    if not args.batch and args.password is not None:
        raise ToolError("a password on the command line needs -b")


def _run(args: argparse.Namespace) -> None:
    passwords = _load_passwords(args)
    scram = _load_scram(args)
    if args.delete:
        passwords.delete(args.username)
        if scram is not None and args.username in scram:
            scram.delete(args.username)
    else:
        password = _read_password(args)
        iterations = PBKDF2_ITERATIONS if args.iterations is None else args.iterations
        passwords.set(args.username, password, iterations=iterations)
        if scram is not None:
            scram.set(args.username, password)
    passwords.save(args.file)
    if scram is not None:
        scram.save(args.scram)


def _load_passwords(args: argparse.Namespace) -> PasswordFile:
    if args.create:
        return PasswordFile()
    try:
        return PasswordFile.load(args.file)
    except AuthFileError as exc:
        if exc.line is None and exc.reason == "file does not exist":
            raise ToolError(f"{args.file} does not exist (use -c to create it)") from None
        raise


def _load_scram(args: argparse.Namespace) -> ScramCredentialsFile | None:
    if args.scram is None:
        return None
    if args.create:
        return ScramCredentialsFile()
    try:
        return ScramCredentialsFile.load(args.scram)
    except AuthFileError as exc:
        if exc.line is None and exc.reason == "file does not exist":
            return ScramCredentialsFile()
        raise


def _read_password(args: argparse.Namespace) -> bytes:
    if args.batch:
        password = args.password
    elif args.stdin:
        password = _password_from_stdin()
    else:
        password = _prompt_twice()
    if not password:
        raise ToolError("the password must not be empty")
    return password.encode("utf-8")


def _password_from_stdin() -> str:
    line = sys.stdin.readline()
    if not line:
        raise ToolError("no password on stdin")
    return line.removesuffix("\n").removesuffix("\r")


def _prompt_twice() -> str:
    """Asks twice on the terminal; with no terminal (a pipe, a service, `setsid`) reads the two
    answers from stdin's first two lines, as mosquitto_passwd does, instead of getpass's echoing
    fallback (which ends in EOFError when stdin is empty)."""
    if not sys.stdin.isatty():
        first = _password_from_stdin()
        second = sys.stdin.readline()
        if not second:
            raise ToolError(
                "no terminal: give the password twice on stdin (two lines), or use "
                "--stdin (one line) or -b"
            )
        if second.removesuffix("\n").removesuffix("\r") != first:
            raise ToolError("passwords do not match")
        return first
    try:
        first = getpass.getpass("Password: ")
        if getpass.getpass("Reenter password: ") != first:
            raise ToolError("passwords do not match")
    except EOFError:
        raise ToolError("no password entered") from None
    return first
