"""Where model files live and whether they are the right bytes.

The registry only resolves and verifies; fetching and exporting live in ``models.fetch``. Every
failure is a ``ModelMissingError`` whose one-line message names the exact command that fixes it,
so the CLI can print it as is and the engine can refuse to start with a usable hint.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from models.manifest import ModelManifest, builtin_manifests, load_manifest

ENV_MODELS_DIR = "EPOLICE_MODELS_DIR"
DEFAULT_MODELS_DIR = Path("~/.cache/epolice/models")
SIDECAR_SUFFIX = ".sha256"


class ModelMissingError(RuntimeError):
    """The model file is absent; ``str()`` is one line with the fix command."""

    def __init__(self, message: str, name: str = "", path: Path | None = None, fix: str = ""):
        super().__init__(message)
        self.name = name
        self.path = path
        self.fix = fix


class ModelCorruptError(ModelMissingError):
    """The file is there but its sha256 is wrong (or it has no checksum to verify against)."""


def default_models_dir() -> Path:
    return Path(os.environ.get(ENV_MODELS_DIR) or DEFAULT_MODELS_DIR).expanduser()


_HASH_CACHE: dict[tuple[str, int, int], str] = {}


def sha256_file(path: Path) -> str:
    """sha256 of a file, remembered per (path, size, mtime) so repeated verification is free."""
    st = path.stat()
    key = (str(path.resolve()), st.st_size, st.st_mtime_ns)
    if key not in _HASH_CACHE:
        h = hashlib.sha256()
        with open(path, "rb") as f:
            for chunk in iter(lambda: f.read(1 << 20), b""):
                h.update(chunk)
        _HASH_CACHE[key] = h.hexdigest()
    return _HASH_CACHE[key]


def read_sidecar(path: Path) -> str | None:
    """The digest recorded beside an exported file (``<file>.sha256``, ``sha256sum`` format)."""
    sidecar = path.with_name(path.name + SIDECAR_SUFFIX)
    if not sidecar.exists():
        return None
    text = sidecar.read_text(encoding="utf-8").split()
    return text[0].lower() if text else None


def write_sidecar(path: Path) -> str:
    digest = sha256_file(path)
    path.with_name(path.name + SIDECAR_SUFFIX).write_text(f"{digest}  {path.name}\n", encoding="utf-8")
    return digest


@dataclass(frozen=True)
class ModelStatus:
    name: str
    task: str
    state: Literal["present", "missing", "corrupt"]
    path: Path
    detail: str  # why it is missing/corrupt, or the verified digest prefix
    fix: str  # command that gets it ("" when present)


class Registry:
    def __init__(self, models_dir: Path | None = None):
        self.models_dir = Path(models_dir).expanduser() if models_dir is not None else default_models_dir()
        self._manifests = builtin_manifests()
        site = self.models_dir / "manifests"  # site models registered by `epolice models add` (models.add)
        if site.is_dir():
            for path in sorted(site.glob("*.yaml")):
                manifest = load_manifest(path)
                if manifest.name in self._manifests:
                    raise ValueError(f"site manifest {path}: name {manifest.name!r} is a built-in model")
                self._manifests[manifest.name] = manifest

    def names(self) -> list[str]:
        return sorted(self._manifests)

    def manifest(self, name: str) -> ModelManifest:
        try:
            return self._manifests[name]
        except KeyError:
            raise KeyError(f"unknown model {name!r}; known: {', '.join(self.names())}") from None

    def file_path(self, name: str) -> Path:
        """Where the model's file lives (or would live) in this registry, without checking it."""
        return self.models_dir / self.manifest(name).file

    def expected_sha256(self, name: str) -> str | None:
        """The manifest digest, else the export-time sidecar digest, else None (unverifiable)."""
        manifest = self.manifest(name)
        if manifest.sha256:
            return manifest.sha256
        return read_sidecar(self.file_path(name))

    def fix_command(self, name: str) -> str:
        manifest = self.manifest(name)
        prefix = ""
        if self.models_dir != default_models_dir():
            prefix = f"{ENV_MODELS_DIR}={self.models_dir} "
        command = f"{prefix}epolice models fetch {name}"
        kinds = {s.kind for s in manifest.sources}
        if "train" in kinds:
            return prefix + next(s.command for s in manifest.sources if s.kind == "train")
        if kinds == {"dir"}:
            command += f" --from DIR (a directory holding {manifest.file}, e.g. ../shared/models)"
        elif manifest.needs_export and manifest.export and manifest.export.tool == "caffe":
            command += " --export-python PY (a python with onnx + opencv-python-headless<5; see the caffe-export extra)"
        elif manifest.needs_export:
            command += " --export-python PY (a python with torch + ultralytics; see the export extra)"
        return command

    def path(self, name: str, verify: bool = True) -> Path:
        """The verified model file; raises ModelMissingError / ModelCorruptError with the fix."""
        path = self.file_path(name)
        fix = self.fix_command(name)
        if not path.is_file():
            raise ModelMissingError(f"model {name!r} missing at {path}; run: {fix}", name, path, fix)
        if verify:
            expected = self.expected_sha256(name)
            if expected is None:
                raise ModelCorruptError(
                    f"model {name!r} at {path} has no checksum ({path.name}{SIDECAR_SUFFIX} absent); "
                    f"run: {fix}",
                    name,
                    path,
                    fix,
                )
            actual = sha256_file(path)
            if actual != expected:
                raise ModelCorruptError(
                    f"model {name!r} at {path} is corrupt (sha256 {actual[:12]}, expected {expected[:12]}); "
                    f"run: {fix}",
                    name,
                    path,
                    fix,
                )
        return path

    def model_version(self, name: str) -> str:
        """``name@sha12``: stamped on every result so evidence says which weights decided."""
        digest = self.expected_sha256(name) or sha256_file(self.path(name, verify=False))
        return f"{name}@{digest[:12]}"

    def status(self) -> list[ModelStatus]:
        out = []
        for name in self.names():
            manifest = self.manifest(name)
            path = self.file_path(name)
            try:
                self.path(name)
            except ModelCorruptError as exc:
                out.append(ModelStatus(name, manifest.task, "corrupt", path, str(exc).split(";")[0], exc.fix))
                continue
            except ModelMissingError as exc:
                out.append(ModelStatus(name, manifest.task, "missing", path, "not fetched", exc.fix))
                continue
            out.append(ModelStatus(name, manifest.task, "present", path, f"sha256 {sha256_file(path)[:12]} ok", ""))
        return out
