"""What OpenAI's chat-completions endpoint refuses in a request's messages, with its own 400 error texts.

The real API rejects a history in which an assistant's `tool_calls` are not each answered by a `tool` message
before the next other message, a `tool` message that answers nothing, an unknown role, and missing content.
The scripted model applies the same rules, so a conversation history the real model would refuse fails the
tests too.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

ROLES = ("system", "assistant", "user", "function", "tool", "developer")


@dataclass(frozen=True)
class Refusal:
    """One 400 answer: OpenAI's message, the offending parameter and its error code."""

    message: str
    param: str | None
    code: str | None


def _has_content(content: Any) -> bool:
    return isinstance(content, str) or (isinstance(content, list) and len(content) > 0)


def _content_refusal(index: int, message: dict[str, Any]) -> Refusal | None:
    role = message["role"]
    content = message.get("content")
    param = f"messages.[{index}].content"
    if isinstance(content, list) and not content:
        return Refusal(
            f"Invalid '{param}': empty array. Expected an array with minimum length 1, but got an empty "
            "array instead.",
            param,
            "empty_array",
        )
    if role == "assistant":
        if content is None and not message.get("tool_calls") and not message.get("function_call"):
            return Refusal(
                f"Invalid value for '{param}': expected a string, got null.", param, "invalid_value"
            )
        return None
    if not _has_content(content):
        if "content" not in message:
            return Refusal(f"Missing required parameter: '{param}'.", param, "missing_required_parameter")
        kind = "null" if content is None else type(content).__name__
        return Refusal(f"Invalid value for '{param}': expected a string, got {kind}.", param, "invalid_value")
    return None


def refusal(body: dict[str, Any]) -> Refusal | None:
    """Why OpenAI would answer this request 400, or None when it would accept it."""
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        return Refusal(
            "Invalid 'messages': empty array. Expected an array with minimum length 1, but got an empty "
            "array instead.",
            "messages",
            "empty_array",
        )
    unanswered: list[str] = []
    for index, message in enumerate(messages):
        role = message.get("role") if isinstance(message, dict) else None
        if role not in ROLES:
            supported = ", ".join(f"'{r}'" for r in ROLES[:-1]) + f", and '{ROLES[-1]}'"
            return Refusal(
                f"Invalid value: '{role}'. Supported values are: {supported}.",
                f"messages[{index}].role",
                "invalid_value",
            )
        if role == "tool":
            call_id = message.get("tool_call_id")
            if call_id not in unanswered:
                return Refusal(
                    "Invalid parameter: messages with role 'tool' must be a response to a preceeding "
                    "message with 'tool_calls'.",
                    f"messages.[{index}].role",
                    None,
                )
            unanswered.remove(call_id)
        elif unanswered:
            return Refusal(
                "An assistant message with 'tool_calls' must be followed by tool messages responding to each "
                "'tool_call_id'. The following tool_call_ids did not have response messages: "
                + ", ".join(unanswered),
                f"messages.[{index}].role",
                None,
            )
        found = _content_refusal(index, message)
        if found is not None:
            return found
        if role == "assistant" and message.get("tool_calls"):
            ids = [str(c.get("id")) for c in message["tool_calls"]]
            unanswered = ids
    if unanswered:
        return Refusal(
            "An assistant message with 'tool_calls' must be followed by tool messages responding to each "
            "'tool_call_id'. The following tool_call_ids did not have response messages: "
            + ", ".join(unanswered),
            f"messages.[{len(messages)}].role",
            None,
        )
    return None
