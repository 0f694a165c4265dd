"""What the CLI modules share: one error line instead of a traceback, the site file loaded or that
line, the record store opened one way, where the batch ledger lives, and option groups that several
commands declare once (``with_options``), and the listing commands' table."""

from __future__ import annotations

import functools
import inspect
import typing
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from enum import Enum
from pathlib import Path
from typing import TYPE_CHECKING, Any, Optional, TypeVar

import typer

if TYPE_CHECKING:
    from datetime import datetime

    from evidence.config import EvidenceConfig, StoreConfig
    from evidence.store import RecordStore
    from pipelines.config import SiteConfig

F = TypeVar("F", bound=Callable[..., Any])


class Fmt(str, Enum):
    """Output format of the listing commands (`records list`, `passes list`)."""

    table = "table"
    jsonl = "jsonl"
    csv = "csv"


def fail(message: str, code: int = 2) -> typer.Exit:
    """Print one clear error line (no traceback) and return the Exit to raise."""
    typer.secho(f"error: {message}", fg=typer.colors.RED, err=True)
    return typer.Exit(code)


def load_site_or_exit(path: Path) -> "SiteConfig":
    """The validated site file, or exit 2 with its error (the file and every bad field named)."""
    from pipelines.config import SiteConfigError, load_site

    try:
        return load_site(path)
    except SiteConfigError as exc:
        raise fail(str(exc)) from None


@contextmanager
def store_errors(url: str) -> Iterator[None]:
    """Turn a failure to open the record store at ``url`` into one error line."""
    from evidence.store import SchemaTooNew, StoreError

    try:
        yield
    except (StoreError, SchemaTooNew) as exc:
        raise fail(str(exc)) from None
    except Exception as exc:  # unreachable server, bad URL: one line, no traceback
        raise fail(f"cannot open record store {url}: {type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}") from None


def parse_time(value: Optional[str], name: str) -> Optional["datetime"]:
    """ISO 8601 from an option; a time without zone is taken in this machine's local zone."""
    from datetime import datetime

    if value is None:
        return None
    try:
        t = datetime.fromisoformat(value)
    except ValueError:
        raise fail(f"{name}: {value!r} is not an ISO 8601 time (e.g. 2024-05-01T08:00+08:00)") from None
    return t if t.tzinfo is not None else t.astimezone()


def open_store(cfg: "StoreConfig", *, must_exist: bool = False) -> "RecordStore":
    """The record store of ``cfg``, migrated (``must_exist``: never create a SQLite file), or one error line."""
    from evidence.store import RecordStore

    with store_errors(cfg.url):
        return RecordStore.from_config(cfg, must_exist=must_exist)


def site_sections(site: Optional[Path]) -> tuple["EvidenceConfig", "StoreConfig"]:
    """The site file's ``evidence:`` and ``store:`` sections, or their defaults without a site file."""
    from evidence.config import EvidenceConfig, StoreConfig

    if site is None:
        return EvidenceConfig(), StoreConfig()
    cfg = load_site_or_exit(site)
    return cfg.evidence, cfg.store


def existing_store(site: Optional[Path], db: Optional[str]) -> "RecordStore":
    """The record store at ``--db``, else the site's (or the default); it must exist already."""
    _, cfg = site_sections(site)
    return open_store(cfg.model_copy(update={"url": db}) if db else cfg, must_exist=True)


def trusted_key(site: Optional[Path], key: Optional[Path]):  # noqa: ANN201 - evidence.signing.Keyring
    """The keys evidence is checked against: ``--key`` (a public key file, or a folder of them), else
    the site's (or the default) public key plus the keys it replaced (``evidence.trusted_keys``)."""
    from evidence.signing import KeyFileError, Keyring, load_keyring, load_public_key

    ev_cfg, _ = site_sections(site)
    try:
        if key is not None:
            return load_keyring(key) if key.is_dir() else Keyring.of(load_public_key(key))
        return load_keyring(ev_cfg.public_key_path, ev_cfg.trusted_keys_dir)
    except KeyFileError as exc:
        raise fail(str(exc)) from None


def ledger_path(explicit: Optional[Path], site: Optional["SiteConfig"]) -> Path:
    """``--ledger``, else where the site's store config puts it (``StoreConfig.resolved_ledger_path``)."""
    from evidence.config import StoreConfig

    return explicit or (site.store if site is not None else StoreConfig()).resolved_ledger_path


def detector_or_exit(model: str, conf: float, iou: float, threads: Optional[int]):  # noqa: ANN201 - Detector
    """A registry Detector, or one clean error line naming the fix (missing/corrupt/unknown model)."""
    from models.registry import ModelMissingError, Registry
    from vision.detector import Detector

    registry = Registry()
    if model not in registry.names():
        raise fail(f"unknown model {model!r}; known: {', '.join(registry.names())}")
    try:
        return Detector(registry, model, conf=conf, iou=iou, threads=threads)
    except (ModelMissingError, ValueError) as exc:
        raise fail(str(exc)) from None


def with_options(name: str, group: Callable[..., Any], fixed: Optional[dict[str, Any]] = None) -> Callable[[F], F]:
    """Put the typer options of ``group`` (a dataclass whose defaults are ``typer.Option``) where the
    command has its keyword-only parameter ``name``, in order; the command receives them as one value.
    ``fixed`` fields are not offered as options and take the given values. Typer reads the
    command's ``__signature__``, so help, parsing and errors are exactly as if written out."""
    fixed = fixed or {}
    hints = typing.get_type_hints(group)
    keyword = inspect.Parameter.KEYWORD_ONLY
    shared = [
        p.replace(kind=keyword, annotation=hints.get(p.name, p.annotation))
        for p in inspect.signature(group).parameters.values() if p.name not in fixed
    ]
    taken = [p.name for p in shared]

    def decorate(command: F) -> F:
        own = typing.get_type_hints(command)
        params: list[inspect.Parameter] = []
        for p in inspect.signature(command).parameters.values():
            params.extend(shared if p.name == name else [p.replace(kind=keyword, annotation=own.get(p.name, p.annotation))])

        @functools.wraps(command)
        def wrapper(**kwargs: Any) -> Any:
            value = group(**{k: kwargs.pop(k) for k in taken}, **fixed)
            return command(**kwargs, **{name: value})

        wrapper.__signature__ = inspect.Signature(params)  # type: ignore[attr-defined]
        wrapper.__annotations__ = {p.name: p.annotation for p in params}
        return typing.cast(F, wrapper)

    return decorate


# -- options several modules share -------------------------------------------------------------------

ThreadsOpt = typer.Option(None, "--threads", help="ONNX Runtime intra-op threads.")
# live cameras and the bench: one thread per model is the most streams per core (onnxruntime's
# extra threads spin while they wait, and a second camera wants that CPU; docs/benchmarks.md)
StreamThreadsOpt = typer.Option(1, "--threads", min=0, help="ONNX Runtime threads per model (0: onnxruntime's default, one per core)")
PrintJsonOpt = typer.Option(False, "--json", help="print one JSON object")
# `evidence` and `records`: where the evidence settings and the record store come from
EvidenceSiteOpt = typer.Option(None, "--site", help="site YAML; its evidence: and store: sections are used")
DbOpt = typer.Option(None, "--db", help="record store URL (overrides --site), e.g. sqlite:///records.db")
# the listing commands (`records list`, `passes list`)
LimitOpt = typer.Option(100, "--limit", min=1)
FormatOpt = typer.Option(Fmt.table, "--format", help="table | jsonl | csv")


def print_table(title: str, columns: Sequence[str], rows: Iterable[Mapping[str, object]]) -> None:
    """A listing as a table on the terminal: ``columns`` of each row, None shown empty."""
    from rich.console import Console
    from rich.table import Table

    table = Table(title=title)
    for col in columns:
        table.add_column(col)
    for row in rows:
        table.add_row(*("" if row[c] is None else str(row[c]) for c in columns))
    Console().print(table)
