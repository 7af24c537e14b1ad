"""What the Bot API refuses in a message's text: bad HTML, entities outside the text, too long, empty.

The real API answers 400 "Bad Request: can't parse entities: ..." for HTML it cannot parse (an unknown or
unclosed tag, a bare `<` or `&`), refuses entities that reach past the text or lack what their type needs,
and refuses texts over 4,096 characters (UTF-16 code units) or empty after parsing. The fake applies the same
rules, so a message the real Telegram would refuse fails the tests too.
"""

from __future__ import annotations

import html
import re
from typing import Any

MESSAGE_LIMIT = 4096
HTML_TAGS = {
    "b", "strong", "i", "em", "u", "ins", "s", "strike", "del", "span", "tg-spoiler", "a", "code", "pre",
    "blockquote", "tg-emoji",
}  # fmt: skip
ENTITY_TYPES = {
    "mention", "hashtag", "cashtag", "bot_command", "url", "email", "phone_number", "bold", "italic",
    "underline", "strikethrough", "spoiler", "blockquote", "expandable_blockquote", "code", "pre",
    "text_link", "text_mention", "custom_emoji",
}  # fmt: skip
_TAG = re.compile(r"<(/?)([a-zA-Z][a-zA-Z0-9-]*)((?:\s+[a-zA-Z-]+(?:=\"[^\"]*\"|='[^']*')?)*)\s*>")
_ENTITY = re.compile(r"&(?:amp|lt|gt|quot|#\d{1,7}|#x[0-9a-fA-F]{1,6});")


def utf16_length(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


def _html_text(text: str) -> str:
    """The visible text of Telegram HTML; raises ValueError with Telegram's description when it cannot parse."""
    shown: list[str] = []
    opened: list[str] = []
    position = 0
    while position < len(text):
        char = text[position]
        if char == "<":
            tag = _TAG.match(text, position)
            if tag is None:
                raise ValueError(f"Unexpected end of name token at byte offset {position}")
            closing, name = tag[1] == "/", tag[2].lower()
            if name not in HTML_TAGS:
                raise ValueError(f'Unsupported start tag "{name}" at byte offset {position}')
            if closing:
                if not opened or opened[-1] != name:
                    raise ValueError(
                        f'Unmatched end tag at byte offset {position}, expected "</{opened[-1] if opened else ""}>", found "</{name}>"'
                    )
                opened.pop()
            else:
                opened.append(name)
            position = tag.end()
        elif char == "&":
            entity = _ENTITY.match(text, position)
            if entity is None:
                raise ValueError(f"Unsupported HTML entity at byte offset {position}")
            shown.append(html.unescape(entity[0]))
            position = entity.end()
        else:
            shown.append(char)
            position += 1
    if opened:
        raise ValueError(f'Can\'t find end tag corresponding to start tag "{opened[-1]}"')
    return "".join(shown)


def text_refusal(params: dict[str, Any], *, field: str = "text") -> str | None:
    """Why the Bot API would answer 400 to this text (with its parse mode or entities), or None."""
    text = str(params.get(field) or "")
    shown = text
    if params.get("parse_mode") == "HTML":
        try:
            shown = _html_text(text)
        except ValueError as error:
            return f"Bad Request: can't parse entities: {error}"
    entities = params.get(f"{'caption_' if field == 'caption' else ''}entities") or []
    length = utf16_length(shown)
    for entity in entities:
        kind, offset, size = entity.get("type"), entity.get("offset"), entity.get("length")
        if kind not in ENTITY_TYPES or not isinstance(offset, int) or not isinstance(size, int):
            return "Bad Request: can't parse entities: unsupported entity"
        if offset < 0 or size <= 0 or offset + size > length:
            return "Bad Request: can't parse entities: entity is out of the text"
        if kind == "text_link" and not str(entity.get("url") or "").startswith(
            ("http://", "https://", "tg://")
        ):
            return "Bad Request: can't parse entities: wrong HTTP URL"
    if field == "text":
        if not shown.strip():
            return "Bad Request: message text is empty"
        if length > MESSAGE_LIMIT:
            return "Bad Request: message is too long"
    return None
