"""The Telegram channel: webhook or polling, invite linking, inline-keyboard confirmations, HTML replies."""
