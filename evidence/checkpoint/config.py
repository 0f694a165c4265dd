"""The site file's ``passes:`` section: where pass pictures go and how long passes are kept."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field

from models.strict import StrictModel


class PassesConfig(StrictModel):
    retain_days: int = Field(90, ge=1, le=3650, description="passes (rows and pictures) older than this are purged")
    output_dir: Path = Field(Path("passes"), description="pictures land in <output_dir>/<site>/<YYYY-MM-DD>/<HH>/")
    jpeg_quality: int = Field(90, ge=50, le=100)
    vehicle_margin: float = Field(0.1, ge=0, le=1, description="margin around the vehicle box in its crop, share of box size")
