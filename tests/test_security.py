"""MQTT security: TLS with client certificates and passwords against a real mosquitto, the
refusal messages, and the [mqtt] TLS keys' validation."""

from __future__ import annotations

import socket
import ssl
import subprocess
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.reasoncodes import ReasonCode

from daemon.config.settings import ConfigError, MqttSettings, load_settings
from daemon.mqtt import security as mqtt_security
from daemon.mqtt.broker import mosquitto_hash
from tests.conftest import Broker, free_port, mosquitto_exe

USER, PASSWORD = "kitchen", "correct horse"


def _openssl(*args: str, cwd: Path) -> None:
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True, timeout=60)


def _signed(pki: Path, name: str, subject: str, ext: str) -> None:
    """A P-256 key `name`.key and its certificate `name`.crt, signed by the test CA."""
    (pki / f"{name}.ext").write_text(ext)
    _openssl(
        "req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
        "-keyout", f"{name}.key", "-out", f"{name}.csr", "-subj", subject, cwd=pki,
    )  # fmt: skip
    _openssl(
        "x509", "-req", "-in", f"{name}.csr", "-CA", "ca.crt", "-CAkey", "ca.key",
        "-CAcreateserial", "-days", "2", "-out", f"{name}.crt", "-extfile", f"{name}.ext",
        cwd=pki,
    )  # fmt: skip


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A throw-away CA, a server certificate for 127.0.0.1/localhost, a client certificate,
    and a second CA that signed nothing of the broker's."""
    d = tmp_path_factory.mktemp("pki")
    for ca in ("ca", "other-ca"):
        _openssl(
            "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
            "-nodes", "-keyout", f"{ca}.key", "-out", f"{ca}.crt", "-days", "2",
            "-subj", f"/CN=dialogd test {ca}", cwd=d,
        )  # fmt: skip
    _signed(
        d,
        "server",
        "/CN=localhost",
        "subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n",
    )
    _signed(d, "client", "/CN=kitchen", "extendedKeyUsage=clientAuth\n")
    return d


class TlsBroker:
    """mosquitto with one TLS listener that wants a client certificate and a password."""

    def __init__(self, tmp: Path, pki: Path) -> None:
        self.port = free_port()
        passwd = tmp / "passwd"
        passwd.write_text(f"{USER}:{mosquitto_hash(PASSWORD)}\n")
        passwd.chmod(0o600)
        self.log = tmp / "mosquitto.log"
        conf = tmp / "mosquitto.conf"
        conf.write_text(
            f"listener {self.port} 127.0.0.1\n"
            f"cafile {pki / 'ca.crt'}\ncertfile {pki / 'server.crt'}\n"
            f"keyfile {pki / 'server.key'}\n"
            "require_certificate true\ntls_version tlsv1.2\n"
            f"allow_anonymous false\npassword_file {passwd}\npersistence false\n"
            "log_dest stderr\nlog_type all\n" + ("user root\n" if _root() else "")
        )
        self._log_f = self.log.open("wb")
        self.proc = subprocess.Popen(
            [mosquitto_exe(), "-c", str(conf)], stdout=self._log_f, stderr=subprocess.STDOUT
        )
        deadline = time.monotonic() + 10
        while True:
            with socket.socket() as s:
                if s.connect_ex(("127.0.0.1", self.port)) == 0:
                    return
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"TLS mosquitto did not start:\n{self.log.read_text()}")
            time.sleep(0.05)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._log_f.close()


def _root() -> bool:
    import os

    return os.geteuid() == 0


@pytest.fixture
def tls_broker(tmp_path: Path, pki: Path) -> Iterator[TlsBroker]:
    b = TlsBroker(tmp_path, pki)
    yield b
    b.stop()


@dataclass
class Outcome:
    connacks: list[ReasonCode] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)  # describe_* lines, as a daemon logs

    @property
    def accepted(self) -> bool:
        return any(not rc.is_failure for rc in self.connacks)


def attempt(
    port: int, settings: MqttSettings, credentials: tuple[str, str] | None = None
) -> Outcome:
    """Connect as MqttLink does (connect_async, paho's thread), with a client configured
    only through mqtt_security.configure; collect what the callbacks see for a while."""
    out = Outcome()
    done = threading.Event()
    c = mqtt.Client(callback_api_version=CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv311)
    mqtt_security.configure(c, settings, credentials)

    def on_connect(cl: mqtt.Client, u: object, f: object, rc: ReasonCode, p: object) -> None:
        out.connacks.append(rc)
        if rc.is_failure:
            out.failures.append(mqtt_security.describe_refusal(rc))
        done.set()

    def on_connect_fail(cl: mqtt.Client, u: object) -> None:
        out.failures.append(mqtt_security.describe_connect_failure())
        done.set()

    def on_log(cl: mqtt.Client, u: object, level: int, buf: str) -> None:
        line = mqtt_security.describe_tls_log(buf)
        if line is not None:
            out.failures.append(line)
            done.set()

    c.on_connect = on_connect
    c.on_connect_fail = on_connect_fail
    c.on_log = on_log
    c.reconnect_delay_set(1, 1)
    c.connect_async("127.0.0.1", port, keepalive=10)
    c.loop_start()
    try:
        done.wait(10)
        time.sleep(0.3)  # let a refusal that follows a handshake arrive too
    finally:
        c.disconnect()
        c.loop_stop()
    return out


def tls_settings(pki: Path, **kw: object) -> MqttSettings:
    base: dict[str, object] = {
        "host": "127.0.0.1",
        "tls": True,
        "ca_file": pki / "ca.crt",
        "certfile": pki / "client.crt",
        "keyfile": pki / "client.key",
        "username": USER,
        "password": PASSWORD,
    }
    return MqttSettings.model_validate({**base, **kw})


# Against a real broker -----------------------------------------------------------------


def test_right_ca_cert_key_and_password_connect(tls_broker: TlsBroker, pki: Path) -> None:
    out = attempt(tls_broker.port, tls_settings(pki))
    assert out.accepted, (out, tls_broker.log.read_text())
    assert out.failures == []


def test_explicit_credentials_win_over_settings(tls_broker: TlsBroker, pki: Path) -> None:
    settings = tls_settings(pki, username="nobody", password="wrong")
    assert attempt(tls_broker.port, settings, credentials=(USER, PASSWORD)).accepted


def test_wrong_password_is_refused_with_a_clear_line(tls_broker: TlsBroker, pki: Path) -> None:
    out = attempt(tls_broker.port, tls_settings(pki, password="wrong"))
    assert not out.accepted
    # mosquitto answers "not authorised" (3.1.1 code 5) to a wrong password.
    assert out.failures[0] == (
        "broker refused: not authorised (check [mqtt] username/password, and that the broker "
        "lets this user in)"
    )


def test_no_client_certificate_is_refused(tls_broker: TlsBroker, pki: Path) -> None:
    out = attempt(tls_broker.port, tls_settings(pki, certfile=None, keyfile=None))
    assert not out.accepted
    assert out.failures, "the refusal must be visible"
    assert out.failures[0].startswith("TLS handshake failed: "), out.failures
    assert "client certificate" in out.failures[0], out.failures


def test_client_certificate_from_another_ca_is_refused(
    tls_broker: TlsBroker, pki: Path, tmp_path: Path
) -> None:
    _openssl(
        "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
        "-keyout", "self.key", "-out", "self.crt", "-days", "2", "-subj", "/CN=kitchen",
        cwd=tmp_path,
    )  # fmt: skip
    settings = tls_settings(pki, certfile=tmp_path / "self.crt", keyfile=tmp_path / "self.key")
    out = attempt(tls_broker.port, settings)
    assert not out.accepted
    assert out.failures and out.failures[0].startswith("TLS handshake failed: "), out.failures


def test_broker_certificate_from_an_unknown_ca_is_refused(tls_broker: TlsBroker, pki: Path) -> None:
    out = attempt(tls_broker.port, tls_settings(pki, ca_file=pki / "other-ca.crt"))
    assert not out.accepted
    assert out.failures[0].startswith(
        "TLS handshake failed: the broker's certificate is not trusted"
    ), out.failures
    assert "check [mqtt] ca_file" in out.failures[0]


def test_tls_client_on_a_plain_port_is_told_so(broker: Broker, pki: Path) -> None:
    out = attempt(broker.port, tls_settings(pki))
    assert not out.accepted
    assert out.failures and "tls" in out.failures[0].lower(), out.failures


# The client configuration --------------------------------------------------------------


def test_configure_sets_a_strict_tls_context(pki: Path) -> None:
    ctx = mqtt_security.tls_context(tls_settings(pki))
    assert ctx.minimum_version >= ssl.TLSVersion.TLSv1_2
    assert ctx.check_hostname is True
    assert ctx.verify_mode == ssl.CERT_REQUIRED


def test_configure_without_tls_sets_only_the_user() -> None:
    c = mqtt.Client(callback_api_version=CallbackAPIVersion.VERSION2)
    mqtt_security.configure(c, MqttSettings(username="u", password="p"))
    assert c.username == "u" and c.password == "p"
    assert c._ssl_context is None  # paho has no public getter


def test_unloadable_tls_files_are_config_errors(pki: Path, tmp_path: Path) -> None:
    missing = tls_settings(pki, certfile=tmp_path / "nope.crt", keyfile=None)
    assert mqtt_security.tls_problems(missing) == [
        f"config: mqtt.certfile: {tmp_path / 'nope.crt'} does not exist or is not a file"
    ]
    c = mqtt.Client(callback_api_version=CallbackAPIVersion.VERSION2)
    with pytest.raises(ConfigError, match=r"mqtt\.certfile"):
        mqtt_security.configure(c, missing)
    wrong_key = tls_settings(pki, keyfile=pki / "server.key")
    [line] = mqtt_security.tls_problems(wrong_key)
    assert line.startswith("config: mqtt.certfile: cannot load the client certificate")
    assert mqtt_security.tls_problems(tls_settings(pki)) == []
    assert mqtt_security.tls_problems(MqttSettings()) == []


# Refusal lines -------------------------------------------------------------------------


def test_describe_refusal_reason_codes() -> None:
    bad = ReasonCode(PacketTypes.CONNACK, identifier=134)
    assert mqtt_security.describe_refusal(bad) == (
        "broker refused: bad user name or password (check [mqtt] username/password)"
    )
    assert mqtt_security.describe_refusal(4) == mqtt_security.describe_refusal(bad)
    assert mqtt_security.describe_refusal(5).startswith("broker refused: not authorised")
    assert "client_id" in mqtt_security.describe_refusal(2)
    assert mqtt_security.describe_refusal(0) == "broker accepted the connection"
    assert mqtt_security.describe_refusal(200) == "broker refused: code 200"


def test_describe_refusal_exceptions() -> None:
    mismatch = ssl.SSLCertVerificationError(1, "certificate verify failed")
    mismatch.verify_code, mismatch.verify_message = 62, "Hostname mismatch"
    assert "does not match the host name" in mqtt_security.describe_refusal(mismatch)
    assert "check [mqtt] host" in mqtt_security.describe_refusal(ConnectionRefusedError())
    assert "timed out" in mqtt_security.describe_refusal(TimeoutError())
    assert "[mqtt] host" in mqtt_security.describe_refusal(socket.gaierror(-2, "Name unknown"))
    assert mqtt_security.describe_tls_log("failed to receive: [SSL] nothing") is None


# Config validation ---------------------------------------------------------------------


def _load(tmp_path: Path, mqtt_lines: str) -> MqttSettings:
    cfg = tmp_path / "c.toml"
    cfg.write_text(f'site_id = "t"\n[mqtt]\nhost = "broker.lan"\n{mqtt_lines}\n')
    return load_settings(cfg).mqtt


def test_keyfile_without_certfile_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as err:
        _load(tmp_path, 'tls = true\nkeyfile = "client.key"')
    [line] = err.value.problems
    assert line.startswith("config: mqtt.keyfile: ") and "certfile" in line


def test_certfile_without_tls_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as err:
        _load(tmp_path, 'certfile = "client.crt"\nkeyfile = "client.key"')
    assert err.value.problems == ["config: mqtt.certfile: a client certificate needs tls = true"]


def test_tls_paths_are_relative_to_the_config(tmp_path: Path) -> None:
    s = _load(tmp_path, 'tls = true\ncertfile = "c.crt"\nkeyfile = "/abs/c.key"')
    r = s.resolve_paths(tmp_path)
    assert (r.certfile, r.keyfile) == (tmp_path / "c.crt", Path("/abs/c.key"))
