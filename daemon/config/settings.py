"""Configuration: `config.toml` plus `DIALOGD_*` environment variables.

Loaded once at start-up (and again on SIGHUP) and passed down; nothing reads it globally.
Precedence, highest first: environment variables, the TOML file, the defaults below.
"""

from __future__ import annotations

import os
import socket
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, ValidationError, field_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

from daemon.config.base import Section
from daemon.config.channels import AsrSettings, SerialSettings, TtsSettings, WyomingSettings
from daemon.config.home import Area, Device, Floor, registry_problems
from daemon.core.vocabulary import ALL_ACTIONS, LANGS

DEFAULT_CONFIG = Path("config.toml")
OFFICIAL_MODEL = "qwen2.5-0.5b-instruct-q4_k_m.gguf"
STANDIN_MODEL = "qwen2.5-coder-0.5b-instruct-q4_k_m.gguf"


class MqttSettings(Section):
    host: str | None = Field(
        None,
        description="Broker host name. Unset: dialogd starts a private Mosquitto on 127.0.0.1.",
    )
    port: int = Field(1883, ge=1, le=65535, description="Broker port (also the private broker's).")
    tls: bool = Field(False, description="Connect with TLS.")
    ca_file: Path | None = Field(None, description="CA bundle for TLS; unset uses the system's.")
    certfile: Path | None = Field(
        None,
        description=(
            "Client certificate (PEM) for brokers that want one (require_certificate); "
            "needs tls = true. May also hold the private key."
        ),
    )
    keyfile: Path | None = Field(
        None, description="Private key (PEM, unencrypted) of certfile; unset: inside certfile."
    )
    username: str | None = Field(None, description="User name, if the broker wants one.")
    password: str | None = Field(None, description="Password, if the broker wants one.")
    client_id: str | None = Field(None, description="MQTT client id; default dialogd-<site_id>.")
    prefix: str = Field("dialogd", min_length=1, description="First level of every topic.")
    qos: Literal[0, 1, 2] = Field(1, description="QoS for subscriptions and intents.")
    keepalive: int = Field(30, ge=5, le=3600, description="Keep-alive interval, seconds.")
    reconnect_max_s: float = Field(
        10.0, gt=0, description="Longest wait between reconnect attempts, seconds."
    )
    protocol: Literal[3, 5] = Field(
        5,
        description=(
            "MQTT version: 5 (response topics, shared subscriptions) or 3 (3.1.1, for old brokers)."
        ),
    )
    session_expiry_s: int | None = Field(
        None,
        ge=0,
        le=2**32 - 1,
        description=(
            "MQTT 5: how long the broker keeps dialogd's session (and queues its requests) "
            "while it is away. Unset: a week; 120 s with share_group, so that a stopped "
            "instance's share of pooled requests goes to the others soon."
        ),
    )
    share_group: str | None = Field(
        None,
        pattern=r"^[^#+/]+$",
        description=(
            "Pool requests of every site with the other dialogd instances of this group "
            "($share/<group>/<prefix>/+/text): each request is answered once, by one of them."
        ),
    )

    @field_validator("prefix")
    @classmethod
    def _no_wildcards(cls, v: str) -> str:
        if any(c in v for c in "#+") or v.startswith("/") or v.endswith("/"):
            raise ValueError("must not contain '#' or '+' nor start or end with '/'")
        return v

    # Fields are validated in the order they are declared: tls, then certfile, then keyfile,
    # so `info.data` holds the earlier ones, and the error names the key that is wrong.
    @field_validator("certfile")
    @classmethod
    def _cert_needs_tls(cls, v: Path | None, info: Any) -> Path | None:
        if v is not None and info.data.get("tls") is False:
            raise ValueError("a client certificate needs tls = true")
        return v

    @field_validator("keyfile")
    @classmethod
    def _key_needs_cert(cls, v: Path | None, info: Any) -> Path | None:
        # An invalid certfile is missing from info.data: its own error says enough.
        if v is not None and "certfile" in info.data and info.data["certfile"] is None:
            raise ValueError("a key file needs certfile (the client certificate it belongs to)")
        return v

    def resolve_paths(self, base: Path) -> MqttSettings:
        """The same settings with relative ca_file, certfile and keyfile taken from `base`."""

        def rel(p: Path | None) -> Path | None:
            return p if p is None or p.is_absolute() else base / p

        return self.model_copy(
            update={
                "ca_file": rel(self.ca_file),
                "certfile": rel(self.certfile),
                "keyfile": rel(self.keyfile),
            }
        )


class LlmSettings(Section):
    model_path: Path | None = Field(
        None,
        description=(
            "GGUF model file. Unset: models/" + OFFICIAL_MODEL + ", else the PyPI stand-in "
            "models/" + STANDIN_MODEL + " (see `dialogd models fetch`)."
        ),
    )
    threads: int = Field(
        default_factory=lambda: min(4, os.cpu_count() or 1),
        ge=1,
        description="CPU threads for llama.cpp; default: all cores up to 4.",
    )
    n_ctx: int | None = Field(
        None,
        ge=256,
        le=32768,
        description=(
            "Context window, tokens. Unset: sized from the registry (the fixed prompt "
            "plus room for a request and its answer)."
        ),
    )
    max_ctx: int = Field(
        8192,
        ge=512,
        le=32768,
        description=(
            "Largest context that an unset n_ctx may grow to for a big registry; each "
            "1,000 tokens cost about 12 MB of RAM with the 0.5B model."
        ),
    )
    prompt_budget: int = Field(
        2048,
        ge=512,
        le=32768,
        description=(
            "A home whose device list makes the fixed prompt longer than this many tokens "
            "gets a prompt without the list: each request's words pick its devices (the "
            "decoder offers only those). Every prompt token slows every decision."
        ),
    )
    state_dir: Path | None = Field(
        None, description="Where the prompt's KV state is cached; unset: the top-level state_dir."
    )
    chat_replies: bool = Field(
        False,
        description=(
            "Let the model write replies to small talk (action 'chat') instead of canned "
            "ones; costs about a dozen generated tokens (~0.4 s here, ~1.3 s on a Pi 4)."
        ),
    )
    max_reply_tokens: int = Field(40, ge=4, le=256, description="Cap on a chat reply, tokens.")
    min_margin: float = Field(
        0.5,
        ge=0,
        le=10,
        description=(
            "A command the model chose by less than this over the runner-up (mean "
            "log-probability per token) is asked back ('Do you want me to ...?') instead "
            "of done; 0 never asks."
        ),
    )
    sensitive_margin: float = Field(
        1.5,
        ge=0,
        le=10,
        description="The same margin for commands on sensitive actions (they ask anyway).",
    )
    check: bool = Field(
        False,
        description=(
            "Before an actuating model decision, ask the model 'Is the speaker asking you "
            "to <it> now?' (about one evaluation); a no asks back. Off: the Coder stand-in "
            "answers yes to everything (benchmarks/yes_no_check.py measures it)."
        ),
    )
    enabled: bool = Field(
        True, description="Load the model. Off: only the rule-based fast path answers."
    )


class RequestSettings(Section):
    max_chars: int = Field(400, ge=1, le=10_000, description="Longer requests get an error.")
    drain_timeout_s: float = Field(
        20.0, ge=0, description="On shutdown, how long queued requests may still be answered."
    )
    queue_size: int = Field(
        500,
        ge=1,
        le=100_000,
        description=(
            "Requests accepted but not yet answered, at most; past it each new one gets a "
            "`busy` error at once."
        ),
    )
    max_age_s: float = Field(
        60.0,
        gt=0,
        description=(
            "A request older than this when its turn comes is not executed (`expired` "
            "error): a garage command queued for minutes must not run."
        ),
    )
    dedupe_window: int = Field(
        10_000,
        ge=0,
        description=(
            "How many answered MQTT requests are remembered to drop redeliveries (the same "
            "site, id and payload)."
        ),
    )
    dedupe_window_s: float = Field(
        600.0,
        ge=0,
        description=(
            "How long an answered MQTT request is remembered as such; after it, the same "
            "id and payload are a new request (an automation that sends the same thing "
            "every evening)."
        ),
    )
    sign: bool = Field(
        False, description="Sign every intent with HMAC-SHA256 (README: Signed intents)."
    )
    sign_key_file: Path | None = Field(
        None, description="The shared HMAC key; unset: <state_dir>/intent.key, made at first start."
    )


class MetricsSettings(Section):
    enabled: bool = Field(
        default=False,
        description="Serve Prometheus metrics over HTTP (text format) at http://host:port/metrics.",
    )
    host: str = Field(
        default="127.0.0.1",
        min_length=1,
        description="Address the metrics endpoint listens on; 0.0.0.0 for every interface.",
    )
    port: int = Field(default=9464, ge=1, le=65535, description="Port of the metrics endpoint.")


ConfirmMode = Literal["yes", "pin", "none"]


def _confirm_defaults() -> dict[str, ConfirmMode]:
    return dict.fromkeys(("voice", "serial", "mqtt", "cli", "wyoming"), "yes")


class DialogueSettings(Section):
    followup_s: float = Field(
        20.0,
        ge=0,
        description=(
            "A turn within this many seconds of the last one may refer back to it "
            '("make it brighter", "and the bedroom too", an answer to "which one?").'
        ),
    )
    confirm_s: float = Field(
        15.0,
        gt=0,
        description="How long a sensitive action waits for its yes (or PIN); then dropped.",
    )
    confirm: dict[str, ConfirmMode] = Field(
        default_factory=_confirm_defaults,
        description=(
            "Per source (voice, serial, mqtt, cli, wyoming): what a sensitive action needs: "
            "`yes`, a spoken `pin`, or `none` (a trusted source). A source left out needs a yes."
        ),
    )
    pin: str | None = Field(
        None,
        pattern=r"^\d{3,8}$",
        description="The PIN (3-8 digits) for sources set to `pin`; digits or number words.",
    )
    trusted_sessions: list[str] = Field(
        default_factory=list,
        description=(
            "MQTT session ids (the payload's `session`) exempt from confirmations, e.g. a "
            "Home Assistant automation that has already asked."
        ),
    )
    max_sessions: int = Field(
        256, ge=1, le=100_000, description="Conversations kept at once; the oldest go first."
    )
    max_timers: int = Field(20, ge=1, le=1000, description="Timers running at once, at most.")


class HomeSettings(Section):
    discover: list[Literal["homeassistant", "zigbee2mqtt"]] = Field(
        default_factory=list,
        description=(
            "Read devices from these retained messages on the broker: Home Assistant MQTT "
            "discovery configs, zigbee2mqtt's bridge/devices. The config's [[devices]] win."
        ),
    )
    discovery_prefix: str = Field(
        "homeassistant", min_length=1, description="Home Assistant's MQTT discovery prefix."
    )
    zigbee2mqtt_base: str = Field(
        "zigbee2mqtt", min_length=1, description="zigbee2mqtt's base topic."
    )
    exclude: list[str] = Field(
        default_factory=list, description="Device ids from the broker that dialogd ignores."
    )
    topic_prefixes: list[str] = Field(
        default_factory=list,
        description=(
            "Discovered devices may only use topics under these prefixes (e.g. "
            '["zigbee2mqtt/", "cmnd/", "stat/"]); empty: any topic outside dialogd\'s own.'
        ),
    )
    max_devices: int = Field(
        500, ge=1, le=10_000, description="Discovered devices kept at most; the rest ignored."
    )
    debounce_s: float = Field(
        2.0,
        ge=0,
        description="Devices appearing or leaving take effect once discovery is quiet this long.",
    )
    startup_wait_s: float = Field(
        5.0,
        ge=0,
        le=120,
        description=(
            "At start, how long dialogd may wait for the discovery configs kept on the "
            "broker before it decides anything and says `online`; requests wait meanwhile."
        ),
    )
    actuate: bool = Field(
        True, description="Switch devices with a command topic when an intent is decided."
    )
    confirm_timeout_s: float = Field(
        3.0,
        gt=0,
        le=60,
        description="How long to wait for a device's state to show a command took effect.",
    )


class HassSettings(Section):
    discovery: bool = Field(
        True,
        description=(
            "Announce dialogd to Home Assistant (MQTT discovery, retained): status, last "
            "request and last intent sensors, a text entity for requests, a device trigger "
            "per action."
        ),
    )
    discovery_prefix: str = Field(
        "homeassistant", min_length=1, description="Home Assistant's MQTT discovery prefix."
    )
    url: str | None = Field(
        None,
        description=(
            "Home Assistant's address (http://homeassistant.local:8123): its entities "
            "exposed to Assist become dialogd's devices, read and switched over its "
            "websocket API. Unset: only MQTT devices and the config's."
        ),
    )
    token_file: Path | None = Field(
        None,
        description=(
            "A file holding a long-lived access token (HA: your profile > Security). Read "
            "at start; never logged."
        ),
    )

    @field_validator("url")
    @classmethod
    def _http_url(cls, v: str | None) -> str | None:
        if v is not None and not v.startswith(("http://", "https://", "ws://", "wss://")):
            raise ValueError("must start with http://, https://, ws:// or wss://")
        return v


class HermesSettings(Section):
    enabled: bool = Field(
        False,
        description=(
            "Rhasspy/Hermes: publish hermes/intent/<name>, take hermes/nlu/query and "
            "hermes/tts/say."
        ),
    )


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="DIALOGD_",
        env_nested_delimiter="__",
        extra="forbid",
        frozen=True,
    )

    site_id: str = Field(
        default_factory=socket.gethostname,
        pattern=r"^[^#+/]+$",
        description="This device's name in topics; default: the host name.",
    )
    log_level: str = Field("INFO", description="DEBUG, INFO, WARNING or ERROR.")
    state_dir: Path = Field(
        Path(".state"),
        description=(
            "dialogd's own state: the request journal, the outbox, the private broker's "
            "data and credentials, the prompt's KV cache (unless llm.state_dir says)."
        ),
    )
    mqtt: MqttSettings = Field(default_factory=MqttSettings)  # type: ignore[arg-type]
    llm: LlmSettings = Field(default_factory=LlmSettings)  # type: ignore[arg-type]
    request: RequestSettings = Field(default_factory=RequestSettings)  # type: ignore[arg-type]
    serial: SerialSettings = Field(default_factory=SerialSettings)
    tts: TtsSettings = Field(default_factory=TtsSettings)
    asr: AsrSettings = Field(default_factory=AsrSettings)
    metrics: MetricsSettings = Field(default_factory=MetricsSettings)
    dialogue: DialogueSettings = Field(default_factory=DialogueSettings)
    home: HomeSettings = Field(default_factory=HomeSettings)
    hermes: HermesSettings = Field(default_factory=HermesSettings)
    homeassistant: HassSettings = Field(default_factory=HassSettings)
    wyoming: WyomingSettings = Field(default_factory=WyomingSettings)
    replies: dict[str, dict[str, str]] = Field(
        default_factory=dict,
        description="Reply templates per language and action; override the built-in ones.",
    )
    area: str | None = Field(
        None,
        description=(
            "The area (an [[areas]] id) this site is in: 'turn on the light' means its "
            'lights. A request may name another in its JSON payload ({"area": ...}).'
        ),
    )
    temperature_unit: Literal["celsius", "fahrenheit"] = Field(
        "celsius", description="Unit of set_temperature values."
    )
    floors: list[Floor] = Field(default_factory=list, description="Floors of the home.")
    areas: list[Area] = Field(default_factory=list, description="Areas (rooms) of the home.")
    devices: list[Device] = Field(default_factory=list, description="The device registry.")

    @field_validator("replies")
    @classmethod
    def _known_reply_keys(cls, v: dict[str, dict[str, str]]) -> dict[str, dict[str, str]]:
        for lang, table in v.items():
            if lang not in LANGS:
                raise ValueError(f"unknown language {lang!r}; use one of {sorted(LANGS)}")
            for key in table:
                if key not in ALL_ACTIONS:
                    raise ValueError(f"[replies.{lang}] {key!r} is not an action")
        return v

    @field_validator("log_level")
    @classmethod
    def _known_level(cls, v: str) -> str:
        if v.upper() not in ("DEBUG", "INFO", "WARNING", "ERROR"):
            raise ValueError("use DEBUG, INFO, WARNING or ERROR")
        return v.upper()

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return (init_settings, env_settings, TomlConfigSettingsSource(settings_cls))


class ConfigError(Exception):
    """Start-up must stop: `problems` holds one readable line per problem."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("\n".join(problems))
        self.problems = problems


_HINTS = {
    "extra_forbidden": "remove it or check its spelling",
    "missing": "add it",
    "int_parsing": "write a whole number",
    "bool_parsing": "write true or false",
    "literal_error": "pick one of the allowed values",
}


def _describe(err: dict[str, Any]) -> str:
    loc = ".".join(str(p) for p in err["loc"]) or "(top level)"
    msg = str(err["msg"]).removeprefix("Value error, ")
    hint = _HINTS.get(str(err["type"]))
    return f"config: {loc}: {msg}" + (f" ({hint})" if hint else "")


def load_settings(path: Path | None = None, **overrides: Any) -> Settings:
    """Read `path` (default ./config.toml if present), then the environment.

    Relative paths in the file are taken relative to the file's folder, so that the
    same config works from any working directory (systemd starts us in /).
    """
    toml_path = path if path is not None else DEFAULT_CONFIG
    if path is not None and not path.is_file():
        raise ConfigError([f"config: file {path} not found (check --config)"])
    base = toml_path.resolve().parent if toml_path.is_file() else Path.cwd()

    class _FileSettings(Settings):
        model_config = SettingsConfigDict(toml_file=toml_path if toml_path.is_file() else None)

    try:
        loaded: Settings = _FileSettings(**overrides)
    except ValidationError as exc:
        raise ConfigError([_describe(dict(e)) for e in exc.errors()]) from None
    except (ValueError, OSError) as exc:  # TOML syntax errors surface here
        raise ConfigError([f"config: {toml_path}: {exc}"]) from None
    settings = _resolve_paths(Settings.model_validate(loaded.model_dump()), base)
    problems = registry_problems(settings.devices, settings.areas, settings.floors)
    if settings.area is not None and settings.area not in {a.id for a in settings.areas}:
        problems.append(f"config: area: {settings.area!r} is not an [[areas]] id")
    if problems:
        raise ConfigError(problems)
    return settings


def _resolve_paths(s: Settings, base: Path) -> Settings:
    def rel(p: Path | None) -> Path | None:
        if p is None or p.is_absolute():
            return p
        return base / p

    model = rel(s.llm.model_path)
    state_dir = s.state_dir
    if model is None:
        model = _default_model(base)
        if state_dir == Settings.model_fields["state_dir"].default:
            # A config that names no paths (a bare registry like home.toml) keeps its
            # state beside the models it uses, not beside itself.
            state_dir = model.parent.parent / state_dir
    state = rel(state_dir)
    assert state is not None
    kv = rel(s.llm.state_dir) or state
    llm = s.llm.model_copy(update={"model_path": model, "state_dir": kv})
    request = s.request.model_copy(update={"sign_key_file": rel(s.request.sign_key_file)})
    mqtt = s.mqtt.resolve_paths(base)
    asr = s.asr.model_copy(update={"model_path": rel(s.asr.model_path), "file": rel(s.asr.file)})
    hass = s.homeassistant.model_copy(update={"token_file": rel(s.homeassistant.token_file)})
    return s.model_copy(
        update={
            "llm": llm,
            "mqtt": mqtt,
            "asr": asr,
            "request": request,
            "state_dir": state,
            "homeassistant": hass,
        }
    )


def _default_model(base: Path) -> Path:
    """The official model, else the stand-in, in the first of these `models/` folders that
    has one: the config's folder, the working directory, dialogd's own checkout."""
    folders = [
        base / "models",
        Path.cwd() / "models",
        Path(__file__).resolve().parents[2] / "models",
    ]
    for folder in folders:
        for name in (OFFICIAL_MODEL, STANDIN_MODEL):
            if (folder / name).exists():
                return folder / name
    return folders[0] / OFFICIAL_MODEL
