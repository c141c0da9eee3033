"""SCRAM-SHA-256 for MQTT 5 enhanced authentication: RFC 7677 section 3's vector, round trips,
and every way the exchange must fail."""

from __future__ import annotations

import base64
import os
import stat

import pytest

from gateway.broker.auth.files import AuthFileError
from gateway.broker.auth.scram import (
    METHOD,
    AuthenticationFailed,
    ScramClient,
    ScramCredentialsFile,
    ScramServer,
    StoredCredentials,
)
from gateway.mqtt.enums import ReasonCode

# RFC 7677 section 3 (user "user", password "pencil")
RFC_CLIENT_NONCE = "rOprNGfwEbeRWgbNEkqO"
RFC_SERVER_NONCE = "%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0"
RFC_SALT = base64.b64decode("W22ZaJ0SNY7soEsUEjb6gQ==")
RFC_CLIENT_FIRST = b"n,,n=user,r=rOprNGfwEbeRWgbNEkqO"
RFC_SERVER_FIRST = (
    b"r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096"
)
RFC_CLIENT_FINAL = (
    b"c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,"
    b"p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ="
)
RFC_SERVER_FINAL = b"v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4="

FAST = 8  # iterations for round-trip tests; the RFC vector uses 4096


@pytest.fixture(scope="module")
def rfc_credentials():
    return StoredCredentials.from_password("pencil", iterations=4096, salt=RFC_SALT)


def rfc_server(credentials, users=("user",)):
    return ScramServer(
        lambda name: credentials if name in users else None, nonce_factory=lambda: RFC_SERVER_NONCE
    )


def test_method_name():
    assert METHOD == "SCRAM-SHA-256"


def test_rfc7677_section3_server_side(rfc_credentials):
    server = rfc_server(rfc_credentials)
    assert server.start(RFC_CLIENT_FIRST) == RFC_SERVER_FIRST
    assert server.username is None
    assert server.finish(RFC_CLIENT_FINAL) == RFC_SERVER_FINAL
    assert server.username == "user"


def test_rfc7677_section3_client_side():
    client = ScramClient("user", "pencil", nonce=RFC_CLIENT_NONCE)
    assert client.first() == RFC_CLIENT_FIRST
    assert client.final(RFC_SERVER_FIRST) == RFC_CLIENT_FINAL
    client.verify(RFC_SERVER_FINAL)  # raises if the server signature were wrong


def round_trip(client: ScramClient, server: ScramServer) -> None:
    client.verify(server.finish(client.final(server.start(client.first()))))


def test_round_trip_with_a_stored_credentials_file(tmp_path):
    creds = ScramCredentialsFile()
    creds.set("alice", "correct horse", iterations=FAST)
    creds.set("we,ird=name", b"\xffbinary", iterations=FAST)
    creds.save(tmp_path / "scram")
    loaded = ScramCredentialsFile.load(tmp_path / "scram")
    for user, password in (("alice", "correct horse"), ("we,ird=name", b"\xffbinary")):
        server = ScramServer(loaded.lookup)
        round_trip(ScramClient(user, password, min_iterations=1), server)
        assert server.username == user


def test_wrong_password_is_refused_rfc5802_section_5_1(rfc_credentials):
    client = ScramClient("user", "pencil!", nonce=RFC_CLIENT_NONCE)
    server = rfc_server(rfc_credentials)
    final = client.final(server.start(client.first()))
    with pytest.raises(AuthenticationFailed, match="wrong password") as info:
        server.finish(final)
    assert info.value.reason_code is ReasonCode.NOT_AUTHORIZED
    assert server.username is None


def test_unknown_user_fails_only_at_the_end_with_a_stable_fake_salt(rfc_credentials):
    lookups = []

    def lookup(name):
        lookups.append(name)
        return None

    firsts = [ScramServer(lookup, mock_secret=b"k").start(b"n,,n=ghost,r=abc") for _ in range(2)]
    assert lookups == ["ghost", "ghost"]
    assert firsts[0].split(b",")[1:] == firsts[1].split(b",")[1:]  # same salt and iterations
    client = ScramClient("ghost", "pencil", nonce="abc")
    server = ScramServer(lookup)
    final = client.final(server.start(b"n,,n=ghost,r=abc"))
    with pytest.raises(AuthenticationFailed, match="wrong password or unknown user"):
        server.finish(final)


def flip_last_proof_byte(final: bytes) -> bytes:
    head, _, proof = final.rpartition(b",p=")
    raw = bytearray(base64.b64decode(proof))
    raw[-1] ^= 0x01
    return head + b",p=" + base64.b64encode(bytes(raw))


def test_tampered_proof_is_refused(rfc_credentials):
    server = rfc_server(rfc_credentials)
    server.start(RFC_CLIENT_FIRST)
    with pytest.raises(AuthenticationFailed, match="wrong password"):
        server.finish(flip_last_proof_byte(RFC_CLIENT_FINAL))


def test_nonce_mismatch_is_refused_rfc5802_section_5_1(rfc_credentials):
    server = rfc_server(rfc_credentials)
    server.start(RFC_CLIENT_FIRST)
    tampered = RFC_CLIENT_FINAL.replace(b"hNlF$k0", b"hNlF$k1")
    with pytest.raises(AuthenticationFailed, match="nonce does not match"):
        server.finish(tampered)


def test_channel_binding_attribute_must_match_gs2_header(rfc_credentials):
    server = rfc_server(rfc_credentials)
    server.start(RFC_CLIENT_FIRST)
    with pytest.raises(AuthenticationFailed, match="channel binding data"):
        server.finish(RFC_CLIENT_FINAL.replace(b"c=biws", b"c=eSws"))  # "y,," instead of "n,,"


def test_auth_message_binds_the_client_first_message(rfc_credentials):
    """The proof covers client-first-bare: replaying the RFC final after a different first fails."""
    server = rfc_server(rfc_credentials)
    server.start(b"n,,n=user,r=rOprNGfwEbeRWgbNEkqO,x=ext")
    with pytest.raises(AuthenticationFailed, match="wrong password"):
        server.finish(RFC_CLIENT_FINAL)


def test_finish_after_failure_or_success_is_refused(rfc_credentials):
    server = rfc_server(rfc_credentials)
    server.start(RFC_CLIENT_FIRST)
    server.finish(RFC_CLIENT_FINAL)
    with pytest.raises(AuthenticationFailed, match="out of order") as info:
        server.finish(RFC_CLIENT_FINAL)
    assert info.value.reason_code is ReasonCode.PROTOCOL_ERROR
    assert server.username is None  # a misuse after success also revokes the result


def test_finish_before_start_is_refused(rfc_credentials):
    with pytest.raises(AuthenticationFailed, match="out of order"):
        rfc_server(rfc_credentials).finish(RFC_CLIENT_FINAL)


@pytest.mark.parametrize(
    ("client_first", "reason"),
    [
        (b"p=tls-unique,,n=user,r=abc", "channel binding is not supported"),
        (b"x,,n=user,r=abc", "invalid GS2"),
        (b"n,a=admin,n=user,r=abc", "authorization identity"),
        (b"n,,m=ext,n=user,r=abc", "mandatory SCRAM extensions"),
        (b"n,,r=abc,n=user", "expected attribute 'n='"),
        (b"n,,n=user", "too few attributes"),
        (b"n,,n=us=3Fer,r=abc", "'=' not followed by 2C or 3D"),
        (b"n,,n=user,r=", "nonce must be printable"),
        (b"n,,n=user,r=a\x7fb", "nonce must be printable"),
        (b"n,,n=\xff,r=abc", "not valid UTF-8"),
        (b"n=user,r=abc", "GS2 header"),
    ],
)
def test_malformed_client_first_is_refused(rfc_credentials, client_first, reason):
    with pytest.raises(AuthenticationFailed, match=reason):
        rfc_server(rfc_credentials).start(client_first)


@pytest.mark.parametrize(
    ("client_final", "reason"),
    [
        (b"c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0", "no proof"),
        (
            b"c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,p=!!",
            "proof is not valid base64",
        ),
        (
            b"c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,p=AAAA",
            "proof must be 32 bytes",
        ),
        (
            b"r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,c=biws,p=AAAA",
            "expected attribute 'c='",
        ),
    ],
)
def test_malformed_client_final_is_refused(rfc_credentials, client_final, reason):
    server = rfc_server(rfc_credentials)
    server.start(RFC_CLIENT_FIRST)
    with pytest.raises(AuthenticationFailed, match=reason):
        server.finish(client_final)


# --- the client side checks the server ------------------------------------------------------


def test_client_refuses_a_server_that_does_not_know_the_password(rfc_credentials):
    impostor = StoredCredentials.from_password("not pencil", iterations=4096, salt=RFC_SALT)
    client = ScramClient("user", "pencil", nonce=RFC_CLIENT_NONCE)
    client.final(RFC_SERVER_FIRST)
    forged = ScramServer(lambda _: impostor, nonce_factory=lambda: RFC_SERVER_NONCE)
    forged.start(RFC_CLIENT_FIRST)
    with pytest.raises(AuthenticationFailed):
        forged.finish(RFC_CLIENT_FINAL)  # the impostor cannot even check the proof
    with pytest.raises(AuthenticationFailed, match="server signature is wrong"):
        client.verify(b"v=" + base64.b64encode(bytes(32)))


@pytest.mark.parametrize(
    ("server_first", "reason"),
    [
        (b"r=otherNonce123,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096", "does not extend"),
        (b"r=rOprNGfwEbeRWgbNEkqO,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096", "does not extend"),
        (b"r=rOprNGfwEbeRWgbNEkqOxyz,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=100", "outside 4096"),
        (b"m=x,r=rOprNGfwEbeRWgbNEkqOxyz,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096", "mandatory extension"),
    ],
)
def test_client_refuses_a_bad_server_first(server_first, reason):
    with pytest.raises(AuthenticationFailed, match=reason):
        ScramClient("user", "pencil", nonce=RFC_CLIENT_NONCE).final(server_first)


def test_client_reports_server_error():
    client = ScramClient("user", "pencil", nonce=RFC_CLIENT_NONCE)
    client.final(RFC_SERVER_FIRST)
    with pytest.raises(AuthenticationFailed, match="server refused: invalid-proof"):
        client.verify(b"e=invalid-proof")


def test_username_escaping_rfc5802_section_5_1():
    assert ScramClient("a,b=c", "p", nonce="n").first() == b"n,,n=a=2Cb=3Dc,r=n"


# --- credentials file ----------------------------------------------------------------------


def test_credentials_derivation_matches_rfc_keys(rfc_credentials):
    """StoredKey/ServerKey from the RFC 7677 salt reproduce the RFC's server signature above;
    here we pin them so the file format stores exactly these bytes."""
    creds = ScramCredentialsFile({"user": rfc_credentials})
    line = creds.dumps().strip()
    user, iterations, salt, stored, server = line.split(":")
    assert (user, iterations, salt) == ("user", "4096", "W22ZaJ0SNY7soEsUEjb6gQ==")
    assert base64.b64decode(stored) == rfc_credentials.stored_key
    assert base64.b64decode(server) == rfc_credentials.server_key
    assert ScramCredentialsFile.parse(line).lookup("user") == rfc_credentials


def test_credentials_file_is_0600_and_delete_works(tmp_path):
    creds = ScramCredentialsFile()
    creds.set("a", "x", iterations=FAST)
    creds.set("b", "y", iterations=FAST)
    creds.delete("a")
    creds.save(tmp_path / "scram")
    assert stat.S_IMODE(os.stat(tmp_path / "scram").st_mode) == 0o600
    assert ScramCredentialsFile.load(tmp_path / "scram").usernames == ("b",)
    with pytest.raises(KeyError):
        creds.delete("a")


KEY = base64.b64encode(bytes(32)).decode()


@pytest.mark.parametrize(
    ("line", "reason"),
    [
        ("user:4096:c2FsdA==", "expected 'user:iterations"),
        (f"user:x:c2FsdA==:{KEY}:{KEY}", "not a positive integer"),
        (f"user:0:c2FsdA==:{KEY}:{KEY}", "between 1 and"),
        (f"user:4096:***:{KEY}:{KEY}", "salt is not valid base64"),
        (f"user:4096:c2FsdA==:AAAA:{KEY}", "stored key must be 32 bytes"),
        (f":4096:c2FsdA==:{KEY}:{KEY}", "expected 'user:iterations"),
    ],
)
def test_malformed_credentials_line_names_file_and_line(tmp_path, line, reason):
    path = tmp_path / "scram"
    path.write_text(f"# scram\n{line}\n")
    with pytest.raises(AuthFileError, match=reason) as info:
        ScramCredentialsFile.load(path)
    assert str(info.value).startswith(f"{path}:2: ")
