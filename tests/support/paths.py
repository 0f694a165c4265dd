"""Where things are, for tests at any depth of the tree."""

from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
DATA = REPO / "tests" / "data"  # small project-owned test data (site files, truth files, legacy DB dumps)
