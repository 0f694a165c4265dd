"""Structured JSON logs for long-running workers: one object per line, credentials masked.

Fields: ``ts`` (UTC ISO-8601), ``level``, ``logger``, ``msg``, any ``extra={...}`` fields the call
passed (``camera``, ``state``, ``reason``...), and ``exc`` for tracebacks. Every line is redacted
as a whole after formatting, so a URL in an extra field or a traceback is masked too.
"""

from __future__ import annotations

import json
import logging
import sys
from datetime import datetime, timezone
from typing import TextIO

from vision.sources.redact import RedactingFilter, redact

_STANDARD = set(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {"message", "asctime", "taskName"}


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        doc: dict[str, object] = {
            "ts": datetime.fromtimestamp(record.created, timezone.utc).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        for key, value in vars(record).items():
            if key not in _STANDARD and not key.startswith("_"):
                doc[key] = value if isinstance(value, (str, int, float, bool, type(None))) else str(value)
        if record.exc_info and not record.exc_text:
            record.exc_text = self.formatException(record.exc_info)
        if record.exc_text:
            doc["exc"] = record.exc_text
        return redact(json.dumps(doc, ensure_ascii=False, default=str))


def setup_json_logging(level: int | str = logging.INFO, stream: TextIO | None = None) -> logging.Handler:
    """Install one JSON handler (masking credentials) on the root logger, replacing an earlier one; returns it."""
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(JsonFormatter())
    handler.addFilter(RedactingFilter())
    root = logging.getLogger()
    for old in list(root.handlers):
        if getattr(old, "_epolice_json", False):
            root.removeHandler(old)
    handler._epolice_json = True  # type: ignore[attr-defined]
    root.addHandler(handler)
    root.setLevel(level)
    return handler
