"""Prompt templates, kept as text files next to this loader."""

from __future__ import annotations

from functools import cache
from pathlib import Path
from string import Template

_HERE = Path(__file__).parent


@cache
def load_prompt(name: str) -> str:
    """The text of `prompts/<name>.txt`, read once; identical bytes on every call."""
    return (_HERE / f"{name}.txt").read_text(encoding="utf-8")


def render_prompt(name: str, **values: str) -> str:
    """A template with `$name` placeholders filled; a missing value is an error, not a blank."""
    return Template(load_prompt(name)).substitute(values)
