"""`python -m bot` runs the `travelmate` command line."""

from bot.cli import app

app()
