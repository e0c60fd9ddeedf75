"""Keep secrets (bot tokens) out of every log line, whoever writes it; and what people write out of
the log unless the operator asks for it (ASSESSBOT_LOG_CONTENT=1, read at DEBUG).

Telegram puts the bot token in every request URL, and libraries log URLs and error messages that
contain it (python-telegram-bot's `InvalidToken` message quotes the token; httpx logs each request
URL at INFO). Redacting in the log record factory covers every logger and every handler, including
handlers added later, and exception tracebacks attached to a record.
"""

from __future__ import annotations

import logging
import threading
import urllib.parse
from typing import Any

MASK = "[redacted]"

# What people wrote, as the adapters received it (DEBUG): only with ASSESSBOT_LOG_CONTENT=1.
content = logging.getLogger("assessbot.content")
# Libraries that log what they send and receive in full: python-telegram-bot every Bot API call
# with its parameters and every update (DEBUG), the Slack SDK every request body and Socket Mode
# message, Bolt its requests (DEBUG), SQLAlchemy every statement with its values (INFO).
CONTENT_LOGGERS = {
    content.name: logging.INFO,
    "telegram": logging.INFO,
    "slack_sdk": logging.INFO,
    "slack_bolt": logging.INFO,
    "adapters.slack.bolt": logging.INFO,
    "sqlalchemy": logging.WARNING,
}

_secrets: set[str] = set()
_lock = threading.Lock()
_installed = False


def hide_secrets(*secrets: str | None) -> None:
    """Never let these strings (nor their URL-encoded forms) reach a log handler."""
    global _installed
    with _lock:
        for secret in secrets:
            if secret and len(secret) >= 8:
                _secrets.add(secret)
                _secrets.add(urllib.parse.quote(secret, safe=""))
        if not _installed:
            previous = logging.getLogRecordFactory()

            def factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
                record = previous(*args, **kwargs)
                _redact(record)
                return record

            logging.setLogRecordFactory(factory)
            _installed = True
    # httpx logs every request URL at INFO; the URL holds the token.
    for name in ("httpx", "httpcore"):
        logger = logging.getLogger(name)
        if logger.getEffectiveLevel() < logging.WARNING:
            logger.setLevel(logging.WARNING)


def hide_content(show: bool = False) -> None:
    """Keep the loggers that carry what people write below the levels at which they write it,
    unless `show` (then they follow the configured level like any other)."""
    for name, level in CONTENT_LOGGERS.items():
        logging.getLogger(name).setLevel(logging.NOTSET if show else level)


def redact(text: str) -> str:
    for secret in sorted(_secrets, key=len, reverse=True):
        if secret in text:
            text = text.replace(secret, MASK)
    return text


def _redact(record: logging.LogRecord) -> None:
    if not _secrets:
        return
    try:
        message = record.getMessage()
    except Exception:  # a broken format string: leave it to the handler to report
        return
    cleaned = redact(message)
    if cleaned != message or record.args:
        # Freeze the text now: an argument may be changed after logging (PTB adds the file URL,
        # token included, to a result dict it has just logged).
        record.msg, record.args = cleaned, None
    if record.exc_info and record.exc_info[1] is not None:
        # Format the traceback now, redacted; handlers use exc_text when it is set.
        text = logging.Formatter().formatException(record.exc_info)
        cleaned_exc = redact(text)
        if cleaned_exc != text:
            record.exc_text = cleaned_exc
