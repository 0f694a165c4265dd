"""Entry point: importing each command module registers its commands on the shared apps."""

from pipelines.cli import (  # noqa: F401  (imported for their registrations)
    models_cmd,
    detect_cmd,
    engine_cmd,
    plates_cmd,
    evidence_cmd,
    live_cmd,
    review_cmd,
    batch_cmd,
    bench_cmd,
    riders_cmd,
)
from pipelines.cli.app import app


def main() -> None:
    app()


if __name__ == "__main__":
    main()
