"""Logging set-up for the CLI and the daemon: everything to stderr.

Under systemd, stderr goes to journald, which adds its own timestamps and reads an
sd-daemon(3) ``<N>`` prefix on each line as the syslog priority; so when journald is
reading us (``$JOURNAL_STREAM`` names our stderr) lines look like ``<6>daemon.app: ready``
and ``journalctl -p warning -u dialogd`` works. Anywhere else (a terminal, a CI log) lines
carry a timestamp, the level and the logger name.
"""

from __future__ import annotations

import logging
import os
import sys
from typing import Final, TextIO

__all__ = ["setup_logging", "syslog_priority"]

# Third-party loggers that chatter at INFO/DEBUG about things an operator doesn't need.
NOISY_LOGGERS: Final = (
    "asyncio",
    "paho",
    "urllib3",
    "filelock",
    "huggingface_hub",
    "httpx",
    "httpcore",
    "llama_cpp",
    "llama-cpp-python",
    "pyttsx3",
    "comtypes",
)

PLAIN_FORMAT: Final = "%(asctime)s %(levelname)-7s %(name)s: %(message)s"
JOURNAL_FORMAT: Final = "%(name)s: %(message)s"

_HANDLER_FLAG: Final = "_dialogd_handler"


def syslog_priority(levelno: int) -> int:
    """The syslog priority for a logging level: 2 crit, 3 err, 4 warning, 6 info, 7 debug."""
    if levelno >= logging.CRITICAL:
        return 2
    if levelno >= logging.ERROR:
        return 3
    if levelno >= logging.WARNING:
        return 4
    if levelno >= logging.INFO:
        return 6
    return 7


class JournalFormatter(logging.Formatter):
    """Prefix *every* line with ``<N>``: journald splits a stream into one entry per line,
    so a traceback's later lines would otherwise be logged at the default (info) level."""

    def format(self, record: logging.LogRecord) -> str:
        prefix = f"<{syslog_priority(record.levelno)}>"
        return "\n".join(prefix + line for line in super().format(record).splitlines())


def _journal_reads(stream: TextIO) -> bool:
    """True if $JOURNAL_STREAM ("device:inode") is this very stream, as systemd.exec(5)
    recommends checking: a child whose stderr was redirected elsewhere inherits the
    variable but is not talking to journald."""
    value = os.environ.get("JOURNAL_STREAM", "")
    dev, sep, ino = value.partition(":")
    if not sep:
        return False
    try:
        st = os.fstat(stream.fileno())
        return (st.st_dev, st.st_ino) == (int(dev), int(ino))
    except (OSError, ValueError, AttributeError):
        return False  # no real file descriptor (e.g. a StringIO) or a malformed value


def _parse_level(level: str) -> int:
    name = level.strip().upper()
    if name == "WARN":
        name = "WARNING"
    value = logging.getLevelNamesMapping().get(name)
    if value is None:
        raise ValueError(f"unknown log level {level!r}; use DEBUG, INFO, WARNING or ERROR")
    return value


def setup_logging(level: str, stream: TextIO | None = None) -> None:
    """Send all logging to `stream` (default: stderr) at `level` ("DEBUG", "info", ...).

    Safe to call again (e.g. on SIGHUP with a new level): it replaces its own handler and
    leaves handlers that others installed (pytest's, for instance) alone.
    Raises ValueError for an unknown level name.
    """
    levelno = _parse_level(level)
    out = sys.stderr if stream is None else stream
    root = logging.getLogger()
    for old in [h for h in root.handlers if getattr(h, _HANDLER_FLAG, False)]:
        root.removeHandler(old)
        old.close()

    handler = logging.StreamHandler(out)
    setattr(handler, _HANDLER_FLAG, True)
    if _journal_reads(out):
        handler.setFormatter(JournalFormatter(JOURNAL_FORMAT))
    else:
        handler.setFormatter(logging.Formatter(PLAIN_FORMAT))
    root.addHandler(handler)
    root.setLevel(levelno)

    # At DEBUG the operator asked for everything; otherwise third parties only get to warn.
    # (A logger's own level is what filters: the root's level doesn't apply to records
    # propagated from below, hence max() rather than plain WARNING.)
    noisy = logging.NOTSET if levelno <= logging.DEBUG else max(levelno, logging.WARNING)
    for name in NOISY_LOGGERS:
        logging.getLogger(name).setLevel(noisy)
    logging.captureWarnings(True)
