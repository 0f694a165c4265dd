"""The Typer apps every CLI module attaches its commands to.

Command modules import heavy dependencies (onnxruntime, SQLAlchemy, FastAPI) inside the command
functions, so ``epolice --help`` stays fast.
"""

import typer

app = typer.Typer(no_args_is_help=True, add_completion=False, help="epolice: electronic-police video analytics.")
models_app = typer.Typer(no_args_is_help=True, help="Model registry: list, fetch, verify.")
eval_app = typer.Typer(no_args_is_help=True, help="Accuracy against labelled data (prints figures; --json for scripts).")
keys_app = typer.Typer(no_args_is_help=True, help="Evidence signing keys.")
evidence_app = typer.Typer(no_args_is_help=True, help="Evidence packages: verify.")
records_app = typer.Typer(no_args_is_help=True, help="Violation records: list, show, export.")
batch_app = typer.Typer(help="Batch reprocessing of recorded footage.")
review_app = typer.Typer(no_args_is_help=True, help="Reviewer web app.")

app.add_typer(models_app, name="models")
app.add_typer(eval_app, name="eval")
app.add_typer(keys_app, name="keys")
app.add_typer(evidence_app, name="evidence")
app.add_typer(records_app, name="records")
app.add_typer(review_app, name="review")


def fail(message: str, code: int = 2) -> "typer.Exit":
    """Print one clear error line (no traceback) and return the Exit to raise."""
    typer.secho(f"error: {message}", fg=typer.colors.RED, err=True)
    return typer.Exit(code)
