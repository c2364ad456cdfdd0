"""How dialogd proves who it is to the broker, and says why a broker turned it away.

`configure()` is the only place that puts credentials and TLS on a paho client: user name
and password, the CA that signs the broker's certificate, an optional client certificate
(brokers with `require_certificate true`), TLS 1.2 at least, the host name checked against
the certificate. It runs once, before `connect_async`, on the event loop (loading PEM
files is file I/O), never in paho's network thread.

`describe_refusal()` and `describe_connect_failure()` turn a refused CONNACK, a failed TLS
handshake or an unreachable broker into one log line that names the config key to check.
They are pure and quick: safe to call from paho's callbacks.
"""

from __future__ import annotations

import errno
import socket
import ssl
import sys

import paho.mqtt.client as mqtt
from paho.mqtt.reasoncodes import ReasonCode

from daemon.config.settings import ConfigError, MqttSettings

MIN_TLS = ssl.TLSVersion.TLSv1_2


def configure(
    client: mqtt.Client,
    settings: MqttSettings,
    credentials: tuple[str, str] | None = None,
) -> None:
    """Put user name, password and TLS from `settings` on `client`.

    `credentials` (user, password), when given, win over [mqtt] username/password: the
    private broker's own `dialogd` user. Raises ConfigError when a TLS file cannot be
    loaded (see `tls_problems`, which reports the same before anything starts).
    """
    if credentials is not None:
        client.username_pw_set(credentials[0], credentials[1])
    elif settings.username:
        client.username_pw_set(settings.username, settings.password)
    if settings.tls:
        try:
            ctx = tls_context(settings)
        except (OSError, ssl.SSLError, ValueError) as exc:
            raise ConfigError([_tls_file_problem(settings, exc)]) from None
        client.tls_set_context(ctx)


def tls_context(settings: MqttSettings) -> ssl.SSLContext:
    """A client context: the broker's certificate is verified (CA and host name), TLS >= 1.2,
    and our certificate is offered when [mqtt] certfile is set."""
    ctx = ssl.create_default_context(
        ssl.Purpose.SERVER_AUTH,
        cafile=str(settings.ca_file) if settings.ca_file else None,
    )
    ctx.minimum_version = MIN_TLS
    ctx.verify_mode = ssl.CERT_REQUIRED
    ctx.check_hostname = True
    if settings.certfile is not None:
        ctx.load_cert_chain(
            str(settings.certfile), str(settings.keyfile) if settings.keyfile else None
        )
    return ctx


def tls_problems(settings: MqttSettings) -> list[str]:
    """Config error lines for TLS files that are missing or unusable; empty when fine or
    when TLS is off. Meant for start-up checks, next to `config.model_problems`."""
    if not settings.tls:
        return []
    try:
        tls_context(settings)
    except (OSError, ssl.SSLError, ValueError) as exc:
        return [_tls_file_problem(settings, exc)]
    return []


def _tls_file_problem(settings: MqttSettings, exc: BaseException) -> str:
    for key, path in (
        ("ca_file", settings.ca_file),
        ("certfile", settings.certfile),
        ("keyfile", settings.keyfile),
    ):
        if path is not None and not path.is_file():
            return f"config: mqtt.{key}: {path} does not exist or is not a file"
    if isinstance(exc, ssl.SSLError) and settings.certfile is not None:
        # load_verify_locations succeeded before load_cert_chain runs, so the CA is fine.
        return (
            f"config: mqtt.certfile: cannot load the client certificate {settings.certfile}"
            + (f" with key {settings.keyfile}" if settings.keyfile else "")
            + f": {exc.reason or exc} (PEM files, unencrypted key, key matching the certificate)"
        )
    return f"config: mqtt.ca_file: cannot load {settings.ca_file}: {exc}"


# CONNACK reason codes, MQTT 5 numbering (paho 2 maps 3.1.1 return codes onto these).
_REFUSALS: dict[int, str] = {
    128: "unspecified error",
    129: "malformed packet",
    130: "protocol error",
    131: "implementation specific error",
    132: "unsupported protocol version",
    133: "client identifier not valid (check [mqtt] client_id)",
    134: "bad user name or password (check [mqtt] username/password)",
    # mosquitto answers a wrong password with this one, not with 134.
    135: "not authorised (check [mqtt] username/password, and that the broker lets this user in)",
    136: "server unavailable (retrying)",
    137: "server busy (retrying)",
    138: "banned (this client is banned by the broker)",
    140: "bad authentication method",
    144: "topic name invalid (check [mqtt] prefix and site_id: the last will's topic)",
    149: "packet too large",
    151: "quota exceeded",
    153: "payload format invalid",
    154: "retain not supported",
    155: "QoS not supported (check [mqtt] qos)",
    156: "use another server",
    157: "server moved",
    159: "connection rate exceeded (retrying)",
}
# MQTT 3.1.1 CONNACK return codes 1..5, for callers that hold a bare int.
_V311 = {1: 132, 2: 133, 3: 136, 4: 134, 5: 135}


def describe_refusal(reason: ReasonCode | int | BaseException | None) -> str:
    """One clear log line for why a connection attempt failed.

    `reason` is what paho hands to on_connect (a ReasonCode, or a bare 3.1.1 CONNACK
    code), or the exception of a failed TCP/TLS connect (see `describe_connect_failure`).
    """
    if reason is None:
        return "cannot connect to the broker (no reason given)"
    if isinstance(reason, BaseException):
        return _describe_exception(reason)
    if isinstance(reason, ReasonCode):
        value = reason.value
        try:
            name = reason.getName()
        except (KeyError, ValueError):  # a code paho has no name for
            name = ""
    else:
        value, name = _V311.get(int(reason), int(reason)), ""
    if value == 0:
        return "broker accepted the connection"
    text = _REFUSALS.get(value)
    if text is not None:
        return f"broker refused: {text}"
    return (
        f"broker refused: {name} (reason code {value})" if name else f"broker refused: code {value}"
    )


def describe_connect_failure() -> str:
    """For paho's `on_connect_fail(client, userdata)` callback, which carries no reason:
    paho calls it while handling the OSError of the failed connect, so the exception is
    still the current one."""
    return describe_refusal(sys.exception())


_TLS_ALERTS = {
    # The broker wants a client certificate and got none.
    "TLSV13_ALERT_CERTIFICATE_REQUIRED": "the broker wants a client certificate "
    "(set [mqtt] certfile and keyfile)",
    "PEER_DID_NOT_RETURN_A_CERTIFICATE": "the broker wants a client certificate "
    "(set [mqtt] certfile and keyfile)",
    # The broker does not trust ours.
    "TLSV1_ALERT_UNKNOWN_CA": "the broker does not trust our client certificate "
    "(check [mqtt] certfile against the broker's cafile)",
    "SSLV3_ALERT_BAD_CERTIFICATE": "the broker rejected our client certificate "
    "(check [mqtt] certfile and keyfile)",
    "SSLV3_ALERT_CERTIFICATE_UNKNOWN": "the broker rejected our client certificate "
    "(check [mqtt] certfile and keyfile)",
    "SSLV3_ALERT_CERTIFICATE_EXPIRED": "the broker says our client certificate has expired "
    "(renew [mqtt] certfile)",
    # Versions and plain-text ports.
    "WRONG_VERSION_NUMBER": "the broker's port does not speak TLS "
    "(check [mqtt] port, or set tls = false)",
    "UNSUPPORTED_PROTOCOL": "the broker offers no TLS version >= 1.2",
    "TLSV1_ALERT_PROTOCOL_VERSION": "the broker offers no TLS version >= 1.2",
    "UNEXPECTED_EOF_WHILE_READING": "the broker hung up during the handshake "
    "(check [mqtt] port: is it a TLS port?)",
    "SSLV3_ALERT_HANDSHAKE_FAILURE": "no TLS version or cipher in common with the broker, "
    "or it wants a client certificate (check [mqtt] certfile)",
}


def describe_tls_log(line: str) -> str | None:
    """A clear line for a TLS failure that paho only logs (on_log / enable_logger).

    With TLS 1.3 the broker checks our certificate after our side of the handshake is
    done, so its refusal shows up as a failed read ("failed to receive on socket:
    [SSL: TLSV13_ALERT_CERTIFICATE_REQUIRED] ..."), not as an exception of the connect.
    None when the line is not about TLS.
    """
    for alert, text in _TLS_ALERTS.items():
        if alert in line:
            return f"TLS handshake failed: {text}"
    return None


def _describe_exception(exc: BaseException) -> str:
    if isinstance(exc, ssl.SSLCertVerificationError):
        detail = exc.verify_message or str(exc)
        if exc.verify_code == 62 or "match" in detail.lower():  # X509_V_ERR_HOSTNAME_MISMATCH
            return (
                f"TLS handshake failed: the broker's certificate does not match the host name "
                f"({detail}; check [mqtt] host against the certificate's CN/SAN)"
            )
        if exc.verify_code == 10:  # X509_V_ERR_CERT_HAS_EXPIRED
            return f"TLS handshake failed: the broker's certificate has expired ({detail})"
        return (
            f"TLS handshake failed: the broker's certificate is not trusted "
            f"({detail}; check [mqtt] ca_file)"
        )
    if isinstance(exc, ssl.SSLError):
        known = describe_tls_log(f"{exc.reason} {exc}")
        return known or f"TLS handshake failed: {exc.reason or exc}"
    if isinstance(exc, socket.gaierror):
        return f"cannot resolve the broker's host name ({exc}; check [mqtt] host)"
    if isinstance(exc, ConnectionRefusedError):
        return "broker unreachable: connection refused (is it running? check [mqtt] host/port)"
    if isinstance(exc, TimeoutError) or getattr(exc, "errno", None) == errno.ETIMEDOUT:
        return "broker unreachable: connection timed out (check [mqtt] host/port, firewall)"
    if isinstance(exc, ConnectionResetError):
        return (
            "broker closed the connection while we connected (check [mqtt] port and tls: "
            "TLS on a plain port, or plain on a TLS port?)"
        )
    if isinstance(exc, OSError):
        return f"cannot connect to the broker: {exc.strerror or exc}"
    return f"cannot connect to the broker: {exc!r}"
