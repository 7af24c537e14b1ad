"""Prompt templates, kept as text files next to this loader."""
