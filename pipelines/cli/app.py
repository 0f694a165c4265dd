"""The Typer apps every CLI module attaches its commands to.

One module per command group, named after it (``models_cmd.py`` holds ``epolice models ...``);
``common.py`` holds what they share. Command modules import heavy dependencies (onnxruntime,
SQLAlchemy, FastAPI) inside the command functions, so ``epolice --help`` stays fast.
"""

import typer
from typer.core import TyperGroup


class DefaultRunGroup(TyperGroup):
    """``epolice batch PATHS ...`` means ``epolice batch run PATHS ...``; ``status`` stays a subcommand."""

    def parse_args(self, ctx, args):  # noqa: ANN001, ANN201 - click signature
        if args and args[0] not in self.commands and args[0] not in ("--help", "-h"):
            args = ["run", *args]
        return super().parse_args(ctx, args)


app = typer.Typer(no_args_is_help=True, add_completion=False, help="epolice: electronic-police video analytics.")
models_app = typer.Typer(no_args_is_help=True, help="Model registry: list, fetch, verify.")
eval_app = typer.Typer(no_args_is_help=True, help="Accuracy against labelled data (prints figures; --json for scripts).")
keys_app = typer.Typer(no_args_is_help=True, help="Evidence signing keys.")
evidence_app = typer.Typer(no_args_is_help=True, help="Evidence packages: verify.")
records_app = typer.Typer(no_args_is_help=True, help="Violation records: list, show, export.")
batch_app = typer.Typer(cls=DefaultRunGroup, no_args_is_help=True, help="Batch reprocessing of recorded footage.")
review_app = typer.Typer(no_args_is_help=True, help="Reviewer web app.")
passes_app = typer.Typer(no_args_is_help=True, help="Checkpoint mode: vehicle pass records: list, show, export, purge, bench.")
watchlist_app = typer.Typer(no_args_is_help=True, help="Checkpoint mode: the watchlist (布控名单): add, import, list, remove.")
alerts_app = typer.Typer(no_args_is_help=True, help="Checkpoint mode: alerts: dispatch what the store's outbox still holds.")

app.add_typer(models_app, name="models")
app.add_typer(eval_app, name="eval")
app.add_typer(keys_app, name="keys")
app.add_typer(evidence_app, name="evidence")
app.add_typer(records_app, name="records")
app.add_typer(review_app, name="review")
app.add_typer(passes_app, name="passes")
app.add_typer(watchlist_app, name="watchlist")
app.add_typer(alerts_app, name="alerts")
app.add_typer(batch_app, name="batch")
