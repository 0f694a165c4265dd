"""The one strict base for every config section and typed value that crosses a seam.

Unknown keys are errors (a misspelt site-file field must fail at start, not be ignored), so
every config model inherits ``StrictModel`` instead of restating ``extra="forbid"``. Frozen
values add ``model_config = ConfigDict(frozen=True)``; pydantic merges it with this one.

It lives in ``models/``, the bottom room, because it is the one thing every room shares.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class StrictModel(BaseModel):
    model_config = ConfigDict(extra="forbid")


__all__ = ["StrictModel"]
