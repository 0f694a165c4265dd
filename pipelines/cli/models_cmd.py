"""`epolice models list|fetch|path`: what is present, fetch what is not, one clear line on failure."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Optional

import typer

from pipelines.cli.app import models_app
from pipelines.cli.common import fail


@models_app.command("list")
def list_models(as_json: bool = typer.Option(False, "--json", help="One JSON object instead of a table.")) -> None:
    """Show every registered model: present, missing or corrupt, and the command that gets it."""
    from models.registry import Registry

    registry = Registry()
    statuses = registry.status()
    if as_json:
        typer.echo(
            json.dumps(
                {
                    "models_dir": str(registry.models_dir),
                    "models": [
                        {"name": s.name, "task": s.task, "state": s.state, "path": str(s.path), "detail": s.detail, "fix": s.fix}
                        for s in statuses
                    ],
                }
            )
        )
        return
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"models in {registry.models_dir}")
    for col in ("name", "task", "state", "detail / fix"):
        table.add_column(col)
    colour = {"present": "green", "missing": "yellow", "corrupt": "red"}
    for s in statuses:
        table.add_row(s.name, s.task, f"[{colour[s.state]}]{s.state}[/]", s.detail if s.state == "present" else f"{s.detail}; run: {s.fix}")
    Console(width=200).print(table)


@models_app.command("fetch")
def fetch_models(
    names: Optional[list[str]] = typer.Argument(None, help="Models to fetch (default: all non-optional ones)."),
    from_dir: Optional[list[Path]] = typer.Option(None, "--from", help="Directory holding model files; tried first."),
    export_python: Optional[str] = typer.Option(
        None, "--export-python", envvar="EPOLICE_EXPORT_PYTHON", help="Python with torch + ultralytics for .pt -> ONNX."
    ),
    force: bool = typer.Option(False, "--force", help="Fetch again even if a verified file is present."),
    offline: bool = typer.Option(False, "--offline", help="Never use hub downloads."),
) -> None:
    """Fill the models directory ($EPOLICE_MODELS_DIR or ~/.cache/epolice/models), verifying sha256."""
    from models.fetch import FetchError, fetch
    from models.registry import Registry

    registry = Registry()
    wanted = list(names or [n for n in registry.names() if not registry.manifest(n).optional])
    unknown = [n for n in wanted if n not in registry.names()]
    if unknown:
        raise fail(f"unknown model(s) {', '.join(unknown)}; known: {', '.join(registry.names())}")
    failures = []
    for name in wanted:
        try:
            result = fetch(registry, name, from_dirs=from_dir, export_python=export_python, online=not offline, force=force)
        except (FetchError, OSError) as exc:  # OSError: unwritable models dir, disk full
            typer.secho(f"error: {name}: {exc}" if isinstance(exc, OSError) else f"error: {exc}", fg=typer.colors.RED, err=True)
            failures.append(name)
            continue
        typer.echo(f"{name}: {result.path} ({result.source}, sha256 {result.sha256[:12]})")
    if failures:
        raise fail(f"{len(failures)} model(s) not fetched: {', '.join(failures)}")


@models_app.command("path")
def model_path(name: str) -> None:
    """Print the verified path of one model (for scripts)."""
    from models.registry import ModelMissingError, Registry

    registry = Registry()
    try:
        typer.echo(registry.path(name))
    except (ModelMissingError, KeyError) as exc:
        raise fail(str(exc).strip("'\""))


@models_app.command("train-head")
def train_head(
    images: Path = typer.Option(..., "--images", help="CCTV image folder (the riders truth's `file` paths resolve under it)."),
    truth: Path = typer.Option(..., "--truth", help="riders_train.jsonl; only its tuning part is used."),
    helmet_set: Optional[Path] = typer.Option(None, "--helmet-set", help="YOLO helmet heads folder (images/, labels/) to add."),
    name: str = typer.Option("head_cls_cctv", "--name", help="Registry name of the classifier to train."),
    export_python: Optional[str] = typer.Option(
        None, "--export-python", envvar="EPOLICE_EXPORT_PYTHON", help="Python with torch (the export venv)."
    ),
    epochs: int = typer.Option(60, "--epochs", min=1),
    force: bool = typer.Option(False, "--force", help="Train again even if a verified file is present."),
    threads: Optional[int] = typer.Option(None, "--threads", min=1),
) -> None:
    """Train the small head classifier on labelled heads of the tuning part and register it (sha256 sidecar)."""
    import tempfile

    from models.fetch import FetchError
    from models.fetch import train_head as train
    from models.registry import ModelMissingError, Registry
    from pipelines.config import CameraConfig, SiteConfig
    from pipelines.eval.head_set import build_head_set
    from pipelines.eval.rider_truth import RiderTruthError, load_rider_truth
    from pipelines.site_models import detectors_from_site

    registry = Registry()
    if not force:
        try:
            typer.echo(f"{name}: {registry.path(name)} (already present)")
            return
        except ModelMissingError:
            pass
    try:
        rows = load_rider_truth(truth)
    except RiderTruthError as exc:
        raise fail(str(exc))
    site = SiteConfig(id="train", cameras=[CameraConfig(id="train", source="-", frame_size=(1, 1), rules=["helmet"])])
    manifest = registry.manifest(name)
    try:
        detector, helmet = detectors_from_site(site, registry=registry, threads=threads)
        heads = build_head_set(rows, images, helmet_set, site, detector, helmet, manifest.input.width or 32,
                               float(manifest.params.get("context", 2.0)))
        with tempfile.TemporaryDirectory(prefix="epolice-heads-") as tmp:
            data = Path(tmp) / "heads.npz"
            heads.save(data)
            result = train(registry, name, data, export_python, epochs)
    except (ModelMissingError, FetchError, ValueError, FileNotFoundError) as exc:
        raise fail(str(exc))
    typer.echo(f"heads: {heads.sources}")
    typer.echo(f"{name}: {result.path} ({result.source}, sha256 {result.sha256[:12]})")


@models_app.command("add")
def add(
    path: Path = typer.Argument(..., help="ONNX detector file (e.g. exported by ultralytics)."),
    name: str = typer.Option(..., "--name", help="Registry name for it (cameras name it in extra_detectors)."),
    classes: str = typer.Option(..., "--classes", help="Domain class per model class: 'tricycle,tractor,e_bike' or '0=tricycle,2=e_bike'."),
    licence: str = typer.Option("site model", "--licence", help="Licence or provenance recorded in the manifest."),
) -> None:
    """Register a site's own ONNX detector: copy it, write its manifest with the sha256 and the class map."""
    from models.add import add_model, parse_classes
    from models.registry import Registry

    if not path.is_file():
        raise fail(f"{path}: no such file")
    try:
        manifest = add_model(Registry(), path, name, parse_classes(classes), licence)
    except ValueError as exc:
        raise fail(str(exc))
    except Exception as exc:  # noqa: BLE001 - onnxruntime cannot read it: one line, no traceback
        raise fail(f"{path}: not a readable ONNX model ({exc.__class__.__name__})")
    typer.echo(f"{manifest.name}: {manifest.file} ({manifest.output_layout}, classes {manifest.class_map}, sha256 {manifest.sha256[:12]})")
