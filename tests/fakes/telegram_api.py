"""A fake Telegram Bot API server that records every call, and builders of real Update JSON.

The real python-telegram-bot client talks to it over HTTP (point ``TELEGRAM_API_URL`` at ``api.base_url``).
It serves ``/bot{token}/{method}`` (form, JSON or multipart bodies, as PTB sends them), answers the methods
the channel uses with Bot API shaped results, keeps the inline keyboard of each sent message (so removing
it twice gets Telegram's "message is not modified" error), refuses what Telegram refuses (callback data over
64 bytes, a callback query answered twice or with over 200 characters), and can be scripted to fail::

    with FakeTelegramAPI() as api:
        api.fail_next("sendMessage", status=429, retry_after=1)
        ...
        (call,) = api.wait_for("sendMessage")
        assert call.params["parse_mode"] == "HTML"
"""

from __future__ import annotations

import asyncio
import itertools
import json
import threading
import time
from collections import defaultdict, deque
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from tests.fakes.telegram_rules import text_refusal
from tests.fakes.threaded_server import ThreadedHttpServer

BOT_ID = 7000000001
BOT_USERNAME = "TravelMateTestBot"
TOKEN = f"{BOT_ID}:AAtest-token"
CALLBACK_ANSWER_LIMIT = 200  # characters of a callback query's notification or alert
CALLBACK_DATA_LIMIT = 64  # bytes of an inline button's callback data
# Values PTB sends as plain strings; everything else it sends JSON-encoded.
_STRING_FIELDS = {
    "text",
    "caption",
    "parse_mode",
    "callback_query_id",
    "url",
    "secret_token",
    "action",
    "inline_message_id",
    "input_field_placeholder",
}


@dataclass(frozen=True)
class BotCall:
    """One request the bot made: its method, decoded parameters, uploaded files and the answer it got."""

    method: str
    params: dict[str, Any]
    files: dict[str, bytes] = field(default_factory=dict)
    status: int = 200
    result: Any = None
    at: float = field(default_factory=time.monotonic)

    @property
    def chat_id(self) -> int | None:
        value = self.params.get("chat_id")
        return int(value) if value is not None else None


@dataclass(frozen=True)
class Failure:
    status: int
    description: str
    retry_after: int | None = None


def _decode(name: str, value: str) -> Any:
    if name in _STRING_FIELDS:
        return value
    try:
        return json.loads(value)
    except ValueError:
        return value


class FakeTelegramAPI(ThreadedHttpServer):
    """The Bot API at ``base_url``, in a background thread with its own event loop."""

    thread_name = "fake-telegram-api"
    shutdown_timeout = 0.5

    def __init__(self, *, host: str = "127.0.0.1") -> None:
        super().__init__(host=host)
        self._lock = threading.Lock()
        self._changed = threading.Condition(self._lock)
        self._calls: list[BotCall] = []
        self._failures: dict[str, deque[Failure]] = defaultdict(deque)
        self._keyboards: dict[tuple[int, int], Any] = {}
        self._edited: dict[tuple[int, int], str] = {}
        self._pending_updates: deque[dict[str, Any]] = deque()
        self._message_ids = itertools.count(1000)
        self._documents: dict[str, bytes] = {}  # file_id -> content of files users sent
        self._file_paths: dict[str, str] = {}  # file_path handed out by getFile -> file_id
        self._not_started: set[int] = set()  # users who never pressed Start (or blocked the bot)
        self._answered: set[str] = set()  # callback queries answered (a query is answered once)

    # -- lifecycle ---------------------------------------------------------------------------------

    def add_routes(self, app: web.Application) -> None:
        app.router.add_route("*", "/bot{token}/{method}", self._handle)
        app.router.add_get("/file/bot{token}/{path:.+}", self._download)

    @property
    def base_url(self) -> str:
        """The server root, as TELEGRAM_API_URL means it (like https://api.telegram.org)."""
        return f"http://{self.host}:{self._port}"

    # -- scripting and inspection --------------------------------------------------------------------

    def reset(self) -> None:
        with self._changed:
            self._calls.clear()
            self._failures.clear()
            self._keyboards.clear()
            self._edited.clear()
            self._not_started.clear()
            self._answered.clear()
            self._pending_updates.clear()
            self._documents.clear()
            self._file_paths.clear()

    def add_document(self, content: bytes, *, file_name: str, mime_type: str) -> dict[str, Any]:
        """A document a user sent: its Document JSON, as an Update carries it."""
        with self._lock:
            file_id = f"BQACAgIAAxkBAAI{len(self._documents) + 1:05d}"
            self._documents[file_id] = content
        return {
            "file_id": file_id,
            "file_unique_id": f"AgAD{len(self._documents):04d}",
            "file_name": file_name,
            "mime_type": mime_type,
            "file_size": len(content),
        }

    def queue_update(self, update: dict[str, Any]) -> None:
        """Hand `update` to the next getUpdates call (polling mode)."""
        with self._changed:
            self._pending_updates.append(update)

    def fail_next(
        self,
        method: str,
        *,
        status: int = 429,
        description: str | None = None,
        retry_after: int | None = None,
        times: int = 1,
    ) -> None:
        """The next `times` calls of `method` fail like Telegram does (429 carries parameters.retry_after)."""
        if description is None:
            description = (
                f"Too Many Requests: retry after {retry_after}" if status == 429 else "Bad Request: failed"
            )
        with self._changed:
            self._failures[method].extend([Failure(status, description, retry_after)] * times)

    @property
    def calls(self) -> list[BotCall]:
        with self._lock:
            return list(self._calls)

    def calls_to(self, method: str, *, chat_id: int | None = None) -> list[BotCall]:
        return [c for c in self.calls if c.method == method and (chat_id is None or c.chat_id == chat_id)]

    def texts(self, chat_id: int | None = None) -> list[str]:
        """The texts of successful sendMessage calls, oldest first."""
        return [c.params["text"] for c in self.calls_to("sendMessage", chat_id=chat_id) if c.status == 200]

    def wait_for(self, method: str, count: int = 1, *, timeout: float = 10.0) -> list[BotCall]:
        """Block until `count` successful calls of `method` arrived; returns them."""

        def matching() -> list[BotCall]:
            return [c for c in self._calls if c.method == method and c.status == 200]

        with self._changed:
            if not self._changed.wait_for(lambda: len(matching()) >= count, timeout=timeout):
                seen = [(c.method, c.status) for c in self._calls]
                raise TimeoutError(
                    f"expected {count} successful {method} calls within {timeout}s; saw {seen}"
                )
            return matching()

    async def wait_for_async(self, method: str, count: int = 1, *, timeout: float = 10.0) -> list[BotCall]:
        return await asyncio.to_thread(self.wait_for, method, count, timeout=timeout)

    def edited_text(self, chat_id: int, message_id: int) -> str | None:
        """The text a message shows after its last successful edit (None when never edited)."""
        with self._lock:
            return self._edited.get((chat_id, message_id))

    def never_started(self, user_id: int) -> None:
        """A user with no private chat with the bot: Telegram refuses to write to them (403)."""
        with self._lock:
            self._not_started.add(user_id)

    def add_file(self, file_id: str, content: bytes) -> None:
        """A file a user sent under a chosen id, which the bot may fetch with getFile and the file URL."""
        with self._lock:
            self._documents[file_id] = content

    def keyboard_of(self, chat_id: int, message_id: int) -> Any:
        """The inline keyboard a message currently shows (None once removed)."""
        with self._lock:
            return self._keyboards.get((chat_id, message_id))

    # -- the API -------------------------------------------------------------------------------------

    async def _params(self, request: web.Request) -> tuple[dict[str, Any], dict[str, bytes]]:
        params: dict[str, Any] = dict(request.query)
        files: dict[str, bytes] = {}
        if request.content_type == "application/json":
            params.update(await request.json())
        elif request.content_type in ("multipart/form-data", "application/x-www-form-urlencoded"):
            for name, value in (await request.post()).items():
                if isinstance(value, web.FileField):
                    files[name] = value.file.read()
                else:
                    params[name] = _decode(name, str(value))
        return params, files

    async def _handle(self, request: web.Request) -> web.Response:
        method = request.match_info["method"]
        params, files = await self._params(request)
        if method == "getUpdates" and not self._pending_updates:
            await asyncio.sleep(0.2)  # a short long-poll, so polling does not spin
        with self._changed:
            failures = self._failures.get(method)
            failure = failures.popleft() if failures else None
        if failure is not None:
            body: dict[str, Any] = {
                "ok": False,
                "error_code": failure.status,
                "description": failure.description,
            }
            if failure.retry_after is not None:
                body["parameters"] = {"retry_after": failure.retry_after}
            self._record(BotCall(method, params, files, failure.status, body))
            return web.json_response(body, status=failure.status)
        chat = params.get("chat_id")
        with self._lock:
            unreachable = (
                chat is not None and str(chat).lstrip("-").isdigit() and int(chat) in self._not_started
            )
        if unreachable and method.startswith("send"):
            body = {
                "ok": False,
                "error_code": 403,
                "description": "Forbidden: bot can't initiate conversation with a user",
            }
            self._record(BotCall(method, params, files, 403, body))
            return web.json_response(body, status=403)
        try:
            result = self._answer(method, params, files)
        except _ApiError as error:
            body = {"ok": False, "error_code": 400, "description": error.description}
            self._record(BotCall(method, params, files, 400, body))
            return web.json_response(body, status=400)
        self._record(BotCall(method, params, files, 200, result))
        return web.json_response({"ok": True, "result": result})

    def _record(self, call: BotCall) -> None:
        with self._changed:
            self._calls.append(call)
            self._changed.notify_all()

    def _answer(self, method: str, params: dict[str, Any], files: dict[str, bytes]) -> Any:
        if method == "getMe":
            return bot_user() | {"can_join_groups": True, "can_read_all_group_messages": False}
        if method == "getUpdates":
            with self._lock:
                offset = int(params.get("offset") or 0)
                updates = [u for u in self._pending_updates if u["update_id"] >= offset]
                self._pending_updates.clear()
            return updates
        if method in ("sendMessage", "editMessageText"):
            refused = text_refusal(params)
            if refused:
                raise _ApiError(refused)
        if method in ("sendPhoto", "sendDocument") and params.get("caption"):
            refused = text_refusal(params, field="caption")
            if refused:
                raise _ApiError(refused)
        if method in ("sendMessage", "editMessageText", "editMessageReplyMarkup"):
            refused = keyboard_refusal(params.get("reply_markup"))
            if refused:
                raise _ApiError(refused)
        if method in ("sendMessage", "sendPhoto", "sendDocument"):
            return self._sent(method, params, files)
        if method == "answerCallbackQuery":
            return self._answer_query(params)
        if method == "editMessageReplyMarkup":
            key = (int(params["chat_id"]), int(params["message_id"]))
            markup = params.get("reply_markup")
            with self._lock:
                if self._keyboards.get(key) == markup:
                    raise _ApiError(
                        "Bad Request: message is not modified: specified new message content and reply "
                        "markup are exactly the same as a current content and reply markup of the message"
                    )
                self._keyboards[key] = markup
            return message_json(key[0], key[1], text="(edited)")
        if method == "getFile":
            return self._get_file(str(params.get("file_id", "")))
        if method == "editMessageText":
            key = (int(params["chat_id"]), int(params["message_id"]))
            with self._lock:
                if key not in self._keyboards:
                    raise _ApiError("Bad Request: message to edit not found")
                if self._edited.get(key) == params.get("text") and self._keyboards[key] == params.get(
                    "reply_markup"
                ):
                    raise _ApiError("Bad Request: message is not modified")
                # Telegram drops an inline keyboard that the edit does not send again.
                self._keyboards[key] = params.get("reply_markup")
                self._edited[key] = params.get("text", "")
            return message_json(key[0], key[1], text=params.get("text", ""))
        if method in (
            "setWebhook",
            "deleteWebhook",
            "setMyCommands",
            "sendChatAction",
            "deleteMyCommands",
        ):
            return True
        raise _ApiError(f"Not Found: method {method} is not faked")

    def _answer_query(self, params: dict[str, Any]) -> bool:
        """Like the Bot API: a notification of at most 200 characters, once per callback query."""
        if len(str(params.get("text") or "")) > CALLBACK_ANSWER_LIMIT:
            raise _ApiError("Bad Request: MESSAGE_TOO_LONG")
        query_id = str(params.get("callback_query_id"))
        with self._lock:
            if query_id in self._answered:
                raise _ApiError(
                    "Bad Request: query is too old and response timeout expired or query ID is invalid"
                )
            self._answered.add(query_id)
        return True

    def _get_file(self, file_id: str) -> dict[str, Any]:
        """Like the Bot API: bots download files of at most 20 MB, through a path valid for an hour."""
        with self._lock:
            content = self._documents.get(file_id)
            if content is None:
                raise _ApiError("Bad Request: invalid file_id")
            if len(content) > 20 * 1024 * 1024:
                raise _ApiError("Bad Request: file is too big")
            path = f"documents/file_{len(self._file_paths) + 1}"
            self._file_paths[path] = file_id
        return {
            "file_id": file_id,
            "file_unique_id": f"u{file_id[-5:]}",
            "file_size": len(content),
            "file_path": path,
        }

    async def _download(self, request: web.Request) -> web.Response:
        with self._lock:
            file_id = self._file_paths.get(request.match_info["path"])
            content = self._documents.get(file_id or "")
        if request.match_info["token"] != TOKEN or content is None:
            return web.json_response({"ok": False, "error_code": 404, "description": "Not Found"}, status=404)
        return web.Response(body=content, content_type="application/octet-stream")

    def _sent(self, method: str, params: dict[str, Any], files: dict[str, bytes]) -> dict[str, Any]:
        chat_id = int(params["chat_id"])
        message_id = next(self._message_ids)
        with self._lock:
            self._keyboards[(chat_id, message_id)] = params.get("reply_markup")
        message = message_json(chat_id, message_id, text=params.get("text"))
        if method == "sendPhoto":
            message.pop("text")
            message["photo"] = [
                {
                    "file_id": f"photo{message_id}",
                    "file_unique_id": f"u{message_id}",
                    "width": 800,
                    "height": 500,
                }
            ]
            message["caption"] = params.get("caption")
        if method == "sendDocument":
            message.pop("text")
            message["document"] = {"file_id": f"doc{message_id}", "file_unique_id": f"d{message_id}"}
        return message


def keyboard_refusal(markup: Any) -> str | None:
    """Why the Bot API would refuse an inline keyboard: callback data must be 1 to 64 bytes."""
    rows = markup.get("inline_keyboard") if isinstance(markup, dict) else None
    for row in rows or []:
        for button in row:
            data = button.get("callback_data")
            if data is not None and not 1 <= len(str(data).encode()) <= CALLBACK_DATA_LIMIT:
                return "Bad Request: BUTTON_DATA_INVALID"
    return None


class _ApiError(Exception):
    def __init__(self, description: str) -> None:
        super().__init__(description)
        self.description = description


# ------------------------------------------------------------------------------------------------------
# Update JSON, as Telegram posts it to the webhook
# ------------------------------------------------------------------------------------------------------


def bot_user() -> dict[str, Any]:
    return {"id": BOT_ID, "is_bot": True, "first_name": "TravelMate", "username": BOT_USERNAME}


def chat_json(chat_id: int) -> dict[str, Any]:
    if chat_id > 0:
        return {"id": chat_id, "type": "private", "first_name": "Traveller"}
    return {"id": chat_id, "type": "supergroup", "title": "Team travel"}


def message_json(chat_id: int, message_id: int, *, text: str | None, **extra: Any) -> dict[str, Any]:
    message = {
        "message_id": message_id,
        "date": int(time.time()),
        "chat": chat_json(chat_id),
        "from": bot_user(),
        "text": text,
    }
    return message | extra


@dataclass
class TelegramUser:
    """A person on Telegram who sends updates."""

    id: int
    first_name: str = "Alex"

    def json(self) -> dict[str, Any]:
        return {"id": self.id, "is_bot": False, "first_name": self.first_name, "language_code": "en"}


class Updates:
    """Real Update JSON with increasing update_id (and message_id per chat)."""

    def __init__(self, start: int = 500_000, *, api: FakeTelegramAPI | None = None) -> None:
        self._update_ids = itertools.count(start)
        self._message_ids = itertools.count(1)
        # With the Bot API, a press carries the message as Telegram has it now (edited text, the keyboard it
        # still shows or none), as the real callback_query does, not as it was first sent.
        self.api = api

    def message(
        self,
        user: TelegramUser,
        text: str,
        *,
        chat_id: int | None = None,
        reply_to: dict[str, Any] | None = None,
        entities: list[dict[str, Any]] | None = None,
    ) -> dict[str, Any]:
        chat = chat_id if chat_id is not None else user.id
        message: dict[str, Any] = {
            "message_id": next(self._message_ids),
            "date": int(time.time()),
            "chat": chat_json(chat),
            "from": user.json(),
            "text": text,
        }
        if text.startswith("/"):
            command = text.split()[0]
            entities = [{"type": "bot_command", "offset": 0, "length": len(command)}, *(entities or [])]
        if entities:
            message["entities"] = entities
        if reply_to is not None:
            message["reply_to_message"] = reply_to
        return {"update_id": next(self._update_ids), "message": message}

    def mention(self, user: TelegramUser, text: str, *, chat_id: int) -> dict[str, Any]:
        """A group message that starts by mentioning the bot: "@TravelMateTestBot text"."""
        handle = f"@{BOT_USERNAME}"
        return self.message(
            user,
            f"{handle} {text}",
            chat_id=chat_id,
            entities=[{"type": "mention", "offset": 0, "length": len(handle)}],
        )

    def photo(self, user: TelegramUser) -> dict[str, Any]:
        update = self.message(user, "")
        message = update["message"]
        message.pop("text")
        message["photo"] = [{"file_id": "p1", "file_unique_id": "pu1", "width": 10, "height": 10}]
        return update

    def document(
        self,
        user: TelegramUser,
        file_id: str,
        *,
        file_name: str,
        size: int,
        mime_type: str = "application/pdf",
        caption: str | None = None,
        chat_id: int | None = None,
    ) -> dict[str, Any]:
        """A document a user sends (its bytes registered with FakeTelegramAPI.add_file under `file_id`)."""
        update = self.message(user, "", chat_id=chat_id)
        message = update["message"]
        message.pop("text")
        message["document"] = {
            "file_id": file_id,
            "file_unique_id": f"u{file_id}",
            "file_name": file_name,
            "mime_type": mime_type,
            "file_size": size,
        }
        if caption is not None:
            message["caption"] = caption
        return update

    def press(self, user: TelegramUser, sent: BotCall, data: str) -> dict[str, Any]:
        """A press on an inline button of a message the bot sent (`sent` is its sendMessage call)."""
        return {
            "update_id": next(self._update_ids),
            "callback_query": {
                "id": f"cq{next(self._message_ids)}",
                "from": user.json(),
                "chat_instance": "ci-1",
                "data": data,
                "message": self._as_it_is_now(sent.result),
            },
        }

    def _as_it_is_now(self, message: dict[str, Any]) -> dict[str, Any]:
        if self.api is None:
            return message
        key = (int(message["chat"]["id"]), int(message["message_id"]))
        now = {name: value for name, value in message.items() if name != "reply_markup"}
        edited = self.api.edited_text(*key)
        if edited is not None:
            now["text"] = edited
            now.pop("entities", None)
        keyboard = self.api.keyboard_of(*key)
        if keyboard:
            now["reply_markup"] = keyboard
        return now
