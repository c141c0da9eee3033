"""Every file the config names, loaded the way the gateway loads it.

Password, ACL and SCRAM files go through the same parsers the broker uses (so a bad line is
`FILE:LINE: reason`); TLS certificates and keys through the same `ssl` loaders, which also check
that a key belongs to its certificate and that a CA file holds a certificate; a bridge's password or
Azure device key is read as the bridge reads it at each connect. A private key or secret that any
user of the machine can read is a warning (Mosquitto warns about world-readable password files
too). A path under /run/credentials/ is a systemd credential (`LoadCredential=`), visible only
inside the service: when it is missing outside a systemd service it is a warning, not an error
(inside one, `run` included, a missing credential is an error like any missing file).
"""

from __future__ import annotations

import base64
import binascii
import functools
import os
import ssl
import stat
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from gateway.config import GatewayConfig, TlsConfig

CREDENTIALS = Path("/run/credentials")


@dataclass
class FileFindings:
    errors: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


class FileCheck:
    """Where the config's paths are looked for: as written, or under another root."""

    def __init__(self, root: Path | None = None) -> None:
        self.root = root

    def resolve(self, path: Path) -> Path:
        path = Path(path)
        if self.root is None or not path.is_absolute():
            return path
        return self.root / path.relative_to("/")


class _Problem(Exception):
    pass


def file_findings(config: GatewayConfig, where: FileCheck) -> FileFindings:
    found = FileFindings()
    for key, path, loader, secret in _named_files(config):
        real = where.resolve(path)
        if _is_credential(path) and not real.exists() and not _in_a_service():
            found.warnings.append(
                f"{key}: {path}: not checked: a systemd credential is readable "
                "only inside the service (LoadCredential=); check-config sees "
                "it when run as the service's ExecStartPre="
            )
            continue
        try:
            loader(real)
        except _Problem as exc:
            found.errors.append(f"{key}: {exc}")
            continue
        if secret and _world_readable(real):
            found.warnings.append(
                f"{key}: {path} can be read by every user of this machine (chmod o-rwx {path})"
            )
    for key, tls in _listener_tls(config):
        problems = _server_tls_problems(tls, where)
        found.errors += [f"{key}.{p}" for p in problems]
        if not problems and _world_readable(where.resolve(tls.keyfile)):
            found.warnings.append(
                f"{key}.keyfile: {tls.keyfile} can be read by every user of "
                f"this machine (chmod o-rwx {tls.keyfile})"
            )
    return found


def _named_files(config: GatewayConfig) -> list[tuple[str, Path, Callable[[Path], None], bool]]:
    """(key, path, loader, is a secret) of every single file the config names."""
    auth = config.auth
    out: list[tuple[str, Path, Callable[[Path], None], bool]] = []
    if auth.password_file is not None:
        out.append(("auth.password_file", auth.password_file, _password_file, True))
    if auth.acl_file is not None:
        out.append(("auth.acl_file", auth.acl_file, _acl_file, False))
    if auth.scram_file is not None:
        out.append(("auth.scram_file", auth.scram_file, _scram_file, True))
    for bridge in config.bridges:
        key = f"bridges[{bridge.name}]"
        if bridge.password_file is not None:
            out.append((f"{key}.password_file", bridge.password_file, _secret_text, True))
        if bridge.azure is not None:
            out.append(
                (f"{key}.azure.device_key_file", bridge.azure.device_key_file, _azure_key, True)
            )
        tls = bridge.tls
        if tls.enabled and tls.ca_file is not None:
            out.append((f"{key}.tls.ca_file", tls.ca_file, _ca_file, False))
        if tls.enabled and tls.cert_file is not None and tls.key_file is not None:
            out.append((f"{key}.tls.cert_file", tls.cert_file, _certificate, False))
            out.append(
                (
                    f"{key}.tls.key_file",
                    tls.key_file,
                    functools.partial(_key_pair, tls.cert_file),
                    True,
                )
            )
    return out


def _listener_tls(config: GatewayConfig) -> list[tuple[str, TlsConfig]]:
    out = [
        (f"broker.listeners[{listener.name}].tls", listener.tls)
        for listener in config.broker.listeners
        if listener.tls is not None
    ]
    web = config.web
    if web.enabled and web.certfile is not None and web.keyfile is not None:
        out.append(("web", TlsConfig(certfile=web.certfile, keyfile=web.keyfile)))
    return out


def _server_tls_problems(tls: TlsConfig, where: FileCheck) -> list[str]:
    """The listener's context built as gateway.broker.auth.tls.server_context builds it."""
    cert, key = where.resolve(tls.certfile), where.resolve(tls.keyfile)
    problems = []
    for name, path, loader in (
        ("certfile", cert, _certificate),
        ("keyfile", key, _readable),
        ("cafile", tls.cafile and where.resolve(tls.cafile), _ca_file),
    ):
        if path is None:
            continue
        try:
            loader(path)
        except _Problem as exc:
            problems.append(f"{name}: {exc}")
    if not problems:
        try:
            _key_pair(cert, key, server=True)
        except _Problem as exc:
            problems.append(f"keyfile: {exc}")
    if not problems and tls.ciphers:
        try:
            ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER).set_ciphers(tls.ciphers)
        except ssl.SSLError:
            problems.append(f"ciphers: OpenSSL selects no cipher from {tls.ciphers!r}")
    return problems


# -- loaders: each raises _Problem with one line naming the file -----------------------------------


def _read(path: Path, binary: bool = False) -> str | bytes:
    try:
        return path.read_bytes() if binary else path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise _Problem(f"{path}: file does not exist") from None
    except IsADirectoryError:
        raise _Problem(f"{path}: is a directory, not a file") from None
    except PermissionError:
        raise _Problem(f"{path}: permission denied (uid {os.geteuid()})") from None
    except UnicodeDecodeError:
        raise _Problem(f"{path}: not valid UTF-8 text") from None
    except OSError as exc:
        raise _Problem(f"{path}: cannot read: {exc.strerror}") from None


def _readable(path: Path) -> None:
    _read(path, binary=True)


def _auth_loader(load: Callable[[Path], object], path: Path) -> None:
    from gateway.broker.auth.files import AuthFileError

    try:
        load(path)
    except AuthFileError as exc:
        raise _Problem(str(exc)) from None


def _password_file(path: Path) -> None:
    from gateway.broker.auth.passwords import PasswordFile

    _auth_loader(PasswordFile.load, path)


def _acl_file(path: Path) -> None:
    from gateway.broker.auth.acl import AclFile

    _auth_loader(AclFile.load, path)


def _scram_file(path: Path) -> None:
    from gateway.broker.auth.scram import ScramCredentialsFile

    _auth_loader(ScramCredentialsFile.load, path)


def _secret_text(path: Path) -> None:
    if not str(_read(path)).rstrip("\r\n"):
        raise _Problem(f"{path}: is empty")


def _azure_key(path: Path) -> None:
    text = str(_read(path)).strip()
    try:
        if not base64.b64decode(text, validate=True):
            raise _Problem(f"{path}: is empty")
    except binascii.Error:
        raise _Problem(f"{path}: not a base64 device key (as the Azure portal shows it)") from None


def _ca_file(path: Path) -> None:
    _readable(path)
    try:
        ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT).load_verify_locations(cafile=str(path))
    except ssl.SSLError as exc:
        raise _Problem(f"{path}: no PEM certificate in it ({exc.reason or exc})") from None


def _certificate(path: Path) -> None:
    _ca_file(path)  # a certificate chain file parses as a CA file does


def _encrypted(*_: object) -> bytes:
    raise _Problem(
        "the key is encrypted; the gateway cannot ask for a passphrase "
        "(openssl pkey -in KEY -out PLAIN_KEY)"
    )


def _key_pair(cert: Path, key: Path, server: bool = False) -> None:
    _readable(key)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER if server else ssl.PROTOCOL_TLS_CLIENT)
    try:
        context.load_cert_chain(str(cert), str(key), password=_encrypted)
    except _Problem as exc:
        raise _Problem(f"{key}: {exc}") from None
    except ssl.SSLError as exc:
        if exc.reason == "KEY_VALUES_MISMATCH":
            raise _Problem(f"{key} is not the private key of {cert}") from None
        raise _Problem(f"{key}: not a PEM private key ({exc.reason or exc})") from None


def _world_readable(path: Path) -> bool:
    try:
        return bool(path.stat().st_mode & stat.S_IROTH)
    except OSError:
        return False


def _in_a_service() -> bool:
    """Started by systemd (as the service, or its ExecStartPre=): credentials would be there."""
    return "INVOCATION_ID" in os.environ or "CREDENTIALS_DIRECTORY" in os.environ


def _is_credential(path: Path) -> bool:
    return Path(path).is_absolute() and Path(path).is_relative_to(CREDENTIALS)
