"""Entry point: importing each command module registers its commands on the shared apps.

The order of these imports is the order of the commands in ``epolice --help``.
"""

# isort: off
from pipelines.cli import (  # noqa: F401  (imported for their registrations)
    models_cmd,
    detect_cmd,
    eval_cmd,
    calibrate_cmd,
    keys_cmd,
    evidence_cmd,
    records_cmd,
    passes_cmd,
    watchlist_cmd,
    alerts_cmd,
    live_cmd,
    review_cmd,
    process_cmd,
    worker_cmd,
    batch_cmd,
    bench_cmd,
)
# isort: on
from pipelines.cli.app import app


def main() -> None:
    app()


if __name__ == "__main__":
    main()
