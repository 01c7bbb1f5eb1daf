"""``python -m headwater`` runs the console script."""

from headwater.cli.main import run

run()
