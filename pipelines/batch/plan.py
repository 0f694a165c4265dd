"""From PATHS|GLOB to segment jobs: probe each file, pick its camera, split it, name the batch.

Probing happens once, here, in the coordinating process; a file that cannot be probed becomes an
``InputProblem`` in the summary and the rest of the batch goes on.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import ConfigDict, Field

from models.strict import StrictModel
from pipelines.batch.files import InputProblem, expand_inputs, file_key
from pipelines.batch.jobs import DecodeSettings, ProcessorSpec, SegmentJob
from pipelines.batch.segments import plan_segments, recommended_overlap

if TYPE_CHECKING:
    from pipelines.config import SiteConfig


DEFAULT_DECISION_S = 30.0  # a moving violation is decided within this long after it starts


def site_overlap(site: "SiteConfig") -> float:
    """Overlap long enough for the site's slowest rule to decide after a violation starts: 30 s, or
    the longest ``RuleSpec.decides_within_s`` of the rules its cameras run (see segments.recommended_overlap)."""
    spans = [spec.decides_within_s(site.rule_config(spec.name)) for c in site.cameras for spec in site.specs_for(c) if spec.decides_within_s]
    return recommended_overlap(max([DEFAULT_DECISION_S, *spans]))


def site_fingerprint(site_path: Path) -> str:
    """The identity of a site file's bytes: in every job, checked by every worker (same zones, same rules)."""
    return hashlib.sha256(Path(site_path).read_bytes()).hexdigest()[:16]


def processor_spec(name: str, options: dict[str, Any], site_path: Path, site: "SiteConfig") -> ProcessorSpec:
    """The processor ``name`` with its options; the built-in ones get the site file or its time zone."""
    opts = dict(options)
    if name == "engine":
        opts.setdefault("site", str(site_path.resolve()))
    elif name == "decode":
        opts.setdefault("clock", {"timezone": site.timezone})
    return ProcessorSpec(factory=name, options=opts)


class BatchSettings(StrictModel):
    """Everything that decides what processing a file means; hashed into the job key."""

    model_config = ConfigDict(frozen=True)
    site_id: str
    site_fingerprint: str = ""  # hash of the site file: a changed site reprocesses
    cameras: list[str] = Field(default_factory=list)  # camera ids of the site, for file-name matching
    camera_id: str | None = None  # every file is from this camera
    segment_seconds: float | None = Field(300.0, gt=0)
    overlap_seconds: float = Field(75.0, ge=0)
    decode: DecodeSettings = Field(default_factory=DecodeSettings)
    processor: ProcessorSpec = Field(default_factory=lambda: ProcessorSpec(factory="engine"))

    @classmethod
    def for_site(
        cls, site_path: Path, site: "SiteConfig", *, camera_id: str | None, segment_seconds: float | None,
        overlap_seconds: float | None, decode: DecodeSettings, processor: ProcessorSpec,
    ) -> "BatchSettings":
        """Settings for a site file: its bytes fingerprinted, its cameras, its overlap unless given."""
        return cls(
            site_id=site.id,
            site_fingerprint=site_fingerprint(site_path),
            cameras=[c.id for c in site.cameras],
            camera_id=camera_id,
            segment_seconds=segment_seconds,
            overlap_seconds=site_overlap(site) if overlap_seconds is None else overlap_seconds,
            decode=decode,
            processor=processor,
        )

    def job_key(self) -> str:
        identity = self.model_dump(mode="json", exclude={"cameras"})
        return hashlib.sha256(json.dumps(identity, sort_keys=True).encode()).hexdigest()[:16]


@dataclass(frozen=True, slots=True)
class PlannedFile:
    path: str
    file_key: str
    camera_id: str
    duration: float | None
    segments: int


@dataclass
class BatchPlan:
    batch_id: str
    job_key: str
    jobs: list[SegmentJob] = field(default_factory=list)
    files: list[PlannedFile] = field(default_factory=list)
    problems: list[InputProblem] = field(default_factory=list)

    @property
    def footage_seconds(self) -> float:
        return sum(j.footage_seconds for j in self.jobs)


def camera_for(path: Path, cameras: list[str], explicit: str | None = None) -> str:
    """The camera that recorded ``path``: ``--camera``, the site's only camera, or the one camera id
    that appears in the file or folder name as a whole word (``cam2_20260101_0830.mp4``)."""
    if explicit:
        if cameras and explicit not in cameras:
            raise ValueError(f"camera {explicit!r} is not in the site (has: {', '.join(cameras)})")
        return explicit
    if len(cameras) == 1:
        return cameras[0]
    names = f"{path.parent.name}/{path.stem}"
    hits = [c for c in cameras if re.search(rf"(?<![A-Za-z0-9]){re.escape(c)}(?![A-Za-z0-9])", names)]
    if len(hits) == 1:
        return hits[0]
    which = "several camera ids" if hits else "no camera id"
    raise ValueError(f"cannot tell which camera recorded it ({which} in the name); pass --camera")


def plan_batch(items: list[str], settings: BatchSettings) -> BatchPlan:
    """Expand inputs, probe and split every file (see module docstring)."""
    from vision.sources.ffmpeg.errors import ProbeError
    from vision.sources.ffmpeg.probe import probe

    paths, problems = expand_inputs(items)
    job_key = settings.job_key()
    files: list[PlannedFile] = []
    jobs: list[SegmentJob] = []
    staged: list[tuple[Path, str, str, float | None]] = []
    for path in paths:
        try:
            camera = camera_for(path, settings.cameras, settings.camera_id)
            info = probe(path)
            key = file_key(path)
        except ProbeError as exc:
            problems.append(InputProblem(str(path), exc.reason))
            continue
        except (ValueError, OSError) as exc:
            problems.append(InputProblem(str(path), str(exc)))
            continue
        if any(k == key for _, k, _, _ in staged):
            twin = next(str(p) for p, k, _, _ in staged if k == key)
            problems.append(InputProblem(str(path), f"skipped: same content as {twin}"))
            continue
        staged.append((path, key, camera, info.duration))
    batch_id = hashlib.sha256((job_key + "|" + "|".join(sorted(k for _, k, _, _ in staged))).encode()).hexdigest()[:12]
    for path, key, camera, duration in staged:
        windows = plan_segments(duration, settings.segment_seconds, settings.overlap_seconds)
        files.append(PlannedFile(str(path), key, camera, duration, len(windows)))
        for w in windows:
            jobs.append(
                SegmentJob(
                    batch_id=batch_id, job_key=job_key, file_key=key, path=str(path.resolve()), camera_id=camera,
                    index=w.index, count=w.count, start=w.start, end=w.end, core_start=w.core_start,
                    core_end=w.core_end, duration=duration, decode=settings.decode, site_fingerprint=settings.site_fingerprint,
                )
            )
    return BatchPlan(batch_id=batch_id, job_key=job_key, jobs=jobs, files=files, problems=problems)
