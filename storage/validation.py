"""Turns pydantic validation failures and raw JSON text into InvalidInput sentences a user understands."""

from __future__ import annotations

import json
from typing import Any, TypeVar

from pydantic import BaseModel, TypeAdapter, ValidationError

from storage.errors import InvalidInput

ModelT = TypeVar("ModelT", bound=BaseModel)
T = TypeVar("T")


def explain(error: ValidationError, *, subject: str = "") -> str:
    """One readable sentence for the first few problems of a validation error."""
    problems = []
    for item in error.errors()[:3]:
        where = ".".join(
            str(part) for part in item["loc"] if not isinstance(part, int) or len(item["loc"]) > 1
        )
        message = str(item["msg"]).removeprefix("Value error, ")
        problems.append(f"{where}: {message}" if where else message)
    prefix = f"{subject} is not valid" if subject else "That is not valid"
    return f"{prefix}: " + "; ".join(problems) + "."


def validate_model(model: type[ModelT], data: Any, *, subject: str = "") -> ModelT:
    """`model.model_validate(data)`, with failures as InvalidInput."""
    try:
        return model.model_validate(data)
    except ValidationError as error:
        raise InvalidInput(explain(error, subject=subject)) from None


def validate_value(adapter: TypeAdapter[T], data: Any, *, subject: str = "") -> T:
    try:
        return adapter.validate_python(data)
    except ValidationError as error:
        raise InvalidInput(explain(error, subject=subject)) from None


def parse_json_text(raw: str, *, subject: str = "The value") -> Any:
    """Read a value typed by a person: JSON when it looks like JSON, otherwise the bare text.

    `180`, `true` and `["LH","LX"]` are JSON; `EUR` is taken as the string "EUR". Text that starts
    like JSON (`{`, `[` or `"`) but does not parse is refused with the parser's position.
    """
    text = raw.strip()
    if not text:
        raise InvalidInput(f"{subject} is empty.")
    try:
        return json.loads(text)
    except json.JSONDecodeError as error:
        if text[0] in '{["':
            raise InvalidInput(
                f"{subject} is not valid JSON ({error.msg} at character {error.pos + 1})."
            ) from None
        return text
