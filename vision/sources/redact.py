"""Camera credentials never leave the process: mask them in URLs, log lines, labels and errors.

Two layers, because either alone leaks. The URL pattern masks ``scheme://user:pass@host`` wherever
it appears (our own messages, FFmpeg's stderr, exception text). Registered secrets catch what the
pattern cannot see: a password FFmpeg echoes percent-decoded, or one quoted outside a URL.
"""

from __future__ import annotations

import logging
import re
import threading
from urllib.parse import unquote

MASK = "***"

# scheme://userinfo@ ; userinfo runs to the LAST '@' before the path, so a raw '@' in a password
# (invalid but common in camera configs) is masked too.
_URL_USERINFO = re.compile(r"(?P<scheme>\b[a-zA-Z][a-zA-Z0-9+.\-]*://)(?P<userinfo>[^\s/?#\"'<>]*)@")

_secrets: set[str] = set()
_secrets_lock = threading.Lock()


def _mask_userinfo(match: re.Match[str]) -> str:
    user = match.group("userinfo").split(":", 1)[0]
    if ":" not in match.group("userinfo"):
        # a bare token (rtsp://TOKEN@host) is itself the secret
        return f"{match.group('scheme')}{MASK}@"
    return f"{match.group('scheme')}{user}:{MASK}@"


def mask_url(url: str) -> str:
    """``rtsp://admin:pw@10.0.0.5/stream`` -> ``rtsp://admin:***@10.0.0.5/stream``."""
    return _URL_USERINFO.sub(_mask_userinfo, url)


def register_secret(secret: str | None) -> None:
    """Remember a credential so that :func:`redact` removes it anywhere, raw or percent-decoded."""
    if not secret or len(secret) < 3:  # masking "a" everywhere would mangle every message
        return
    with _secrets_lock:
        _secrets.add(secret)
        decoded = unquote(secret)
        if decoded != secret and len(decoded) >= 3:
            _secrets.add(decoded)


def register_url_secrets(url: str) -> None:
    """Register the password (and a bare token) of ``url``'s userinfo."""
    for match in _URL_USERINFO.finditer(url):
        userinfo = match.group("userinfo")
        register_secret(userinfo.split(":", 1)[1] if ":" in userinfo else userinfo)


def redact(text: str) -> str:
    """Mask every URL credential and every registered secret in ``text``."""
    text = _URL_USERINFO.sub(_mask_userinfo, text)
    with _secrets_lock:
        secrets = sorted(_secrets, key=len, reverse=True)
    for secret in secrets:
        if secret in text:
            text = text.replace(secret, MASK)
    return text


class RedactingFilter(logging.Filter):
    """Rewrites each record's message (args merged in) and exception text before any handler sees it."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a malformed format string must not lose the log line
            message = f"{record.msg} {record.args}"
        record.msg = redact(message)
        record.args = None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = redact(record.exc_text)
        return True
