"""An IANA time-zone name, checked where a config is loaded (the evidence clock must be unambiguous)."""

from typing import Annotated
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import AfterValidator


def _known_zone(value: str) -> str:
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"unknown time zone {value!r}; expected an IANA name such as 'Asia/Shanghai'") from None
    return value


TimeZoneName = Annotated[str, AfterValidator(_known_zone)]
