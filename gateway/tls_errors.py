"""One line naming the cause of a failed TLS connection, for the bridge's log and the pub/sub tools.

OpenSSL reports the same few causes in many shapes: a certificate verification error on our side
(the server's certificate: unknown CA, expired, not yet valid, not for this name), an alert from the
server (it refused our client certificate, or there is none), or, with TLS 1.3, nothing at all
during the handshake: the server checks the client certificate after the client has finished, so a
refusal arrives as an alert, an EOF or "Connection reset by peer" on the first read, before CONNACK.
`describe` turns each into the cause and what to check.
"""

from __future__ import annotations

import ssl

# X509_V_ERR_* codes (openssl/x509_vfy.h)
_UNKNOWN_CA = {2, 3, 18, 19, 20, 21, 27}
_EXPIRED, _NOT_YET_VALID = 10, 9
_NAME_MISMATCH = {62, 63, 64}

# alerts the server sends about our client certificate (OpenSSL reason names)
_CLIENT_CERT_ALERTS = {
    "TLSV1_ALERT_UNKNOWN_CA": "its CA did not sign our client certificate",
    "SSLV3_ALERT_BAD_CERTIFICATE": "it found our client certificate bad",
    "SSLV3_ALERT_CERTIFICATE_UNKNOWN": "it does not accept our client certificate",
    "SSLV3_ALERT_CERTIFICATE_EXPIRED": "our client certificate has expired",
    "SSLV3_ALERT_CERTIFICATE_REVOKED": "our client certificate is revoked",
    "TLSV13_ALERT_CERTIFICATE_REQUIRED": "it requires a client certificate",
}


def describe_verify_error(exc: ssl.SSLCertVerificationError, host: str) -> str:
    code, message = exc.verify_code, exc.verify_message
    if code in _UNKNOWN_CA:
        return (
            f"unknown CA: the server's certificate is not signed by a CA we trust ({message}); "
            "check the CA file"
        )
    if code == _EXPIRED:
        return f"expired certificate: the server's certificate has expired ({message})"
    if code == _NOT_YET_VALID:
        return (
            f"certificate not yet valid: the server's certificate starts later ({message}); "
            "check this machine's clock"
        )
    if code in _NAME_MISMATCH:
        return (
            f"name mismatch: the server's certificate is not for {host!r} ({message}); "
            "connect by the name in the certificate or set the name to check (server_name)"
        )
    return f"certificate verify failed: {message} (verify code {code})"


def describe_text(text: str, *, client_cert: bool) -> str | None:
    """The cause named by an OpenSSL error text (an alert from the server), or None."""
    upper = text.upper()
    for reason, cause in _CLIENT_CERT_ALERTS.items():
        if reason in upper:
            if reason == "TLSV13_ALERT_CERTIFICATE_REQUIRED" or not client_cert:
                return (
                    "client certificate refused: the server requires a client certificate "
                    "and none was given"
                )
            return f"client certificate refused: {cause} ({reason.lower()})"
    if "SSLV3_ALERT_HANDSHAKE_FAILURE" in upper:
        if not client_cert:
            return (
                "handshake failure: the server refused the handshake; it may require a "
                "client certificate (none was given), or share no TLS version or cipher"
            )
        return "handshake failure: the server refused the handshake (TLS version, cipher or certificate)"
    if "WRONG_VERSION_NUMBER" in upper or "RECORD_LAYER_FAILURE" in upper:
        return "the server does not speak TLS on this port (a plain MQTT port?)"
    if "UNSUPPORTED_PROTOCOL" in upper or "PROTOCOL_VERSION" in upper:
        return "no TLS version in common with the server (see the minimum TLS version)"
    return None


def describe(exc: BaseException, host: str, *, client_cert: bool) -> str:
    """The cause of a failed TLS handshake, as one line."""
    if isinstance(exc, ssl.SSLCertVerificationError):
        return describe_verify_error(exc, host)
    if isinstance(exc, ssl.SSLError):
        named = describe_text(str(exc), client_cert=client_cert)
        return named or f"TLS error: {exc.reason or exc}"
    return str(exc) or type(exc).__name__


def describe_closed_after_handshake(detail: str, *, client_cert: bool) -> str:
    """A TLS connection that ended before CONNACK: with TLS 1.3 this is how a server refuses a
    client certificate. `detail` is what the read said (an alert, EOF or a reset)."""
    named = describe_text(detail, client_cert=client_cert)
    if named:
        return named
    if client_cert:
        # AWS IoT Core also closes without CONNACK when its policy denies iot:Connect
        return (
            "client certificate refused (most likely): the server closed the connection right "
            "after the TLS handshake, before CONNACK; if the certificate is right, check the "
            f"cloud's policy for this client id ({detail})"
        )
    return (
        "client certificate refused (most likely): the server closed the connection right "
        "after the TLS handshake, before CONNACK; it may require a client certificate, and "
        f"none was given ({detail})"
    )
