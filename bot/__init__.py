"""Channels: the console, Slack and Telegram; operator commands; the worker."""
