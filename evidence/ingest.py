"""Records from packages already on disk: what ``epolice records ingest PATH...`` does.

A package is written before its record. When the record cannot be written (the store busy past its
timeout or down, and no Redis to spool the record to), the signed package stays on disk without a
record; the writer logs its path. Ingesting inserts the record that a package's signed manifest
describes, once the package verifies against the trusted keys; a package that does not verify is
refused with the reason. Records are keyed by event, so ingesting twice adds nothing.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from pydantic import ConfigDict, Field

from evidence.atomic import TMP_PREFIX
from evidence.manifest import MANIFEST, verify_package
from evidence.signing import Trust
from evidence.store.records import NewRecord
from evidence.store.store import RecordStore
from models.strict import StrictModel


class Refused(StrictModel):
    model_config = ConfigDict(frozen=True)
    path: str
    reason: str


class IngestResult(StrictModel):
    added: list[int] = Field(default_factory=list)  # record ids created
    existing: list[int] = Field(default_factory=list)  # already stored (by event key, or the same violation)
    refused: list[Refused] = Field(default_factory=list)


def find_packages(paths: Iterable[Path]) -> tuple[list[Path], list[Refused]]:
    """Package folders among ``paths``: a folder holding a manifest, or every one found under a folder
    (temp folders of unfinished writes skipped). A path that is neither is refused."""
    found: list[Path] = []
    missing: list[Refused] = []
    for path in paths:
        if (path / MANIFEST).is_file():
            found.append(path)
        elif path.is_dir():
            found += sorted(m.parent for m in path.rglob(MANIFEST)
                            if not any(part.startswith(TMP_PREFIX) for part in m.relative_to(path).parts))
        else:
            missing.append(Refused(path=str(path), reason="neither a package folder nor a folder holding packages"))
    return list(dict.fromkeys(found)), missing


def ingest_packages(store: RecordStore, trust: Trust, paths: Iterable[Path]) -> IngestResult:
    """Insert the record of every verified package under ``paths`` (see the module docstring)."""
    packages, refused = find_packages(paths)
    result = IngestResult(refused=refused)
    for pkg in packages:
        check = verify_package(pkg, trust)
        if not check.ok or check.manifest is None or check.signature is None:
            result.refused.append(Refused(path=str(pkg), reason="; ".join(map(str, check.problems)) or "does not verify"))
            continue
        try:
            record = NewRecord.from_manifest(pkg.resolve(), check.manifest, check.signature)
        except ValueError as exc:
            result.refused.append(Refused(path=str(pkg), reason=f"manifest does not describe a record: {exc}"))
            continue
        added = store.add(record)
        (result.added if added.created else result.existing).append(added.id)
    return result
