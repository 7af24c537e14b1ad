"""A fake Slack Web API for tests, plus signed Events/Interactivity/Command requests into the real app.

The real ``slack_sdk`` ``AsyncWebClient`` (and therefore Bolt, token rotation and ``files_upload_v2``)
talks to this aiohttp server over HTTP, pointed at it with ``SLACK_API_URL``. It records every call,
keeps the messages the bot posted (so a test reads a thread as a user would see it), and can be
scripted to fail: ``fake.fail_next("chat.postMessage", status=429, retry_after=1)``.

Requests from "Slack" into the app are signed with slack_sdk's SignatureVerifier algorithm.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import hashlib
import hmac
import itertools
import json
import secrets
import threading
import time
import urllib.parse
from collections import defaultdict, deque
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any

import httpx
from aiohttp import web

from tests.fakes.threaded_server import ThreadedHttpServer

__all__ = [
    "ApiCall",
    "FakeSlack",
    "Posted",
    "SlackHarness",
    "SlackSender",
    "acme_workspace",
    "sign",
    "slack_harness",
]

CLIENT_ID = "1111.2222"
CLIENT_SECRET = "oauth-client-secret"
APP_ID = "A0TRAVEL"


@dataclass
class ApiCall:
    """One Web API call as the fake received it."""

    method: str
    params: dict[str, Any]
    token: str | None


@dataclass
class Posted:
    """A message the bot posted, with its current content (chat.update changes it in place)."""

    channel: str
    ts: str
    thread_ts: str | None
    text: str
    blocks: list[dict[str, Any]]
    metadata: dict[str, Any] | None = None
    updates: int = 0

    def all_text(self) -> str:
        """Everything a reader sees: the fallback text and the text of every block."""
        return self.text + "\n" + json.dumps(self.blocks, ensure_ascii=False)

    def buttons(self) -> list[dict[str, Any]]:
        return [e for b in self.blocks if b.get("type") == "actions" for e in b.get("elements", [])]


# Block Kit limits Slack enforces on chat.postMessage and chat.update (it answers invalid_blocks).
_BLOCK_TEXT_LIMITS = {"section": 3000, "markdown": 12000, "header": 150, "context": 2000}
_BLOCK_TYPES = {"section", "markdown", "header", "context", "actions", "divider", "image", "rich_text"}


def blocks_refusal(blocks: Any) -> str | None:
    """Why Slack would refuse these blocks, or None: at most 50, known types, texts within their limits."""
    if not blocks:
        return None
    if isinstance(blocks, str):
        blocks = json.loads(blocks)
    if len(blocks) > 50:
        return "must provide an array of no more than 50 items [json-pointer:/blocks]"
    for index, block in enumerate(blocks):
        kind = block.get("type")
        if kind not in _BLOCK_TYPES:
            return f"unsupported type: {kind} [json-pointer:/blocks/{index}/type]"
        text = block.get("text")
        content = text.get("text") if isinstance(text, dict) else text
        limit = _BLOCK_TEXT_LIMITS.get(kind)
        if limit and isinstance(content, str) and len(content) > limit:
            return f"must be less than {limit + 1} characters [json-pointer:/blocks/{index}/text]"
    return None


@dataclass
class SharedFile:
    """A file whose upload was completed: its bytes, and where it was shared (None: kept private)."""

    file_id: str
    filename: str
    title: str | None
    content: bytes
    channel: str | None
    thread_ts: str | None
    initial_comment: str | None


@dataclass
class _PendingUpload:
    filename: str
    length: int
    content: bytes | None = None


@dataclass
class Workspace:
    team_id: str
    name: str
    enterprise_id: str | None
    bot_user_id: str
    bot_id: str
    users: dict[str, dict[str, Any]] = field(default_factory=dict)
    # Custom profile fields (team.profile.get): id -> {"id", "label", "type", ...}
    profile_fields: dict[str, dict[str, Any]] = field(default_factory=dict)


@dataclass
class _Failure:
    status: int
    error: str
    retry_after: float | None


class FakeSlack(ThreadedHttpServer):
    """The Slack Web API on 127.0.0.1, in a background thread with its own event loop."""

    thread_name = "fake-slack"

    def __init__(self) -> None:
        super().__init__()
        self._lock = threading.Lock()
        self.reset()

    def add_routes(self, app: web.Application) -> None:
        app.router.add_route("*", "/api/{method}", self._api)
        app.router.add_post("/upload/{file_id}", self._upload)
        app.router.add_post("/respond/{name}", self._respond)
        app.router.add_get("/socket", self._socket)
        app.router.add_get("/files-pri/{key}/download/{name}", self._download)

    def reset(self) -> None:
        with self._lock:
            self.calls: list[ApiCall] = []
            self.posted: list[Posted] = []
            self.ephemeral: list[dict[str, Any]] = []
            self.responses: list[dict[str, Any]] = []
            self.views: list[dict[str, Any]] = []
            self.uploads: dict[str, bytes] = {}  # file id -> the bytes posted to its upload URL
            self.files: list[SharedFile] = []  # completed uploads, in order
            self._pending_uploads: dict[str, _PendingUpload] = {}
            self._file_ids = itertools.count(1)
            self.shared_files: dict[str, tuple[dict[str, Any], bytes]] = {}  # id -> (file object, content)
            self.workspaces: dict[str, Workspace] = {}
            self.tokens: dict[str, str] = {}  # live access token -> team id
            self.refresh_tokens: dict[str, str] = {}
            self.codes: dict[str, tuple[str, str, bool]] = {}  # OAuth code -> (team, installer, rotating)
            self._failures: dict[str, deque[_Failure]] = defaultdict(deque)
            self.socket_acks: list[dict[str, Any]] = []
            self._sockets: list[web.WebSocketResponse] = []
            self._ts = itertools.count(1)

    # -- addresses -----------------------------------------------------------------------------

    @property
    def root(self) -> str:
        return f"http://127.0.0.1:{self._port}"

    @property
    def base_url(self) -> str:
        """SLACK_API_URL: the Web API base including /api/."""
        return f"{self.root}/api/"

    def response_url(self, name: str = "command") -> str:
        return f"{self.root}/respond/{name}"

    # -- scripting -----------------------------------------------------------------------------

    def add_workspace(self, team_id: str, name: str, *, enterprise_id: str | None = None) -> Workspace:
        workspace = Workspace(team_id, name, enterprise_id, bot_user_id=f"UB{team_id}", bot_id=f"B{team_id}")
        with self._lock:
            self.workspaces[team_id] = workspace
        return workspace

    def add_user(
        self, team_id: str, user_id: str, name: str, *, email: str | None = None, tz: str = "Europe/Berlin"
    ) -> None:
        profile = {"real_name": name, "display_name": name.split()[0], "email": email}
        with self._lock:
            self.workspaces[team_id].users[user_id] = {
                "id": user_id,
                "team_id": team_id,
                "name": name.lower().replace(" ", "."),
                "real_name": name,
                "tz": tz,
                "locale": "en-GB",
                "is_bot": False,
                "profile": profile,
            }

    def set_profile_field(
        self, team_id: str, user_id: str, label: str, value: str, *, kind: str = "user"
    ) -> None:
        """A custom profile field of the workspace (e.g. Manager, of type user) and one user's value in it."""
        with self._lock:
            workspace = self.workspaces[team_id]
            field_id = next(
                (f["id"] for f in workspace.profile_fields.values() if f["label"] == label),
                f"Xf{len(workspace.profile_fields) + 1:08d}",
            )
            workspace.profile_fields[field_id] = {
                "id": field_id,
                "ordering": len(workspace.profile_fields),
                "label": label,
                "hint": "",
                "type": kind,
                "possible_values": None,
                "options": None,
                "is_hidden": False,
            }
            profile = workspace.users[user_id]["profile"]
            profile.setdefault("fields", {})[field_id] = {"value": value, "alt": ""}

    def issue_token(self, team_id: str) -> str:
        token = f"xoxb-{team_id}-{secrets.token_hex(12)}"
        with self._lock:
            self.tokens[token] = team_id
        return token

    def add_oauth_code(self, code: str, team_id: str, installer: str, *, rotating: bool = False) -> None:
        with self._lock:
            self.codes[code] = (team_id, installer, rotating)

    def fail_next(
        self, method: str, *, status: int = 200, error: str = "ratelimited", retry_after: float | None = None
    ) -> None:
        """The next call of `method` fails: an HTTP error status (429 with Retry-After), or ok=false."""
        with self._lock:
            self._failures[method].append(_Failure(status, error, retry_after))

    # -- inspection ----------------------------------------------------------------------------

    def add_message(self, channel: str, text: str, blocks: list[dict[str, Any]]) -> Posted:
        """A message the bot posted before this test began (by an earlier version of the app, say)."""
        if refused := blocks_refusal(blocks):
            raise ValueError(f"Slack would refuse these blocks: {refused}")
        with self._lock:
            posted = Posted(channel=channel, ts=self._next_ts(), thread_ts=None, text=text, blocks=blocks)
            self.posted.append(posted)
        return dataclasses.replace(posted)

    def called(self, method: str | None = None) -> list[ApiCall]:
        with self._lock:
            return [c for c in self.calls if method is None or c.method == method]

    def thread(self, channel: str, thread_ts: str) -> list[Posted]:
        """The bot's messages in a thread, oldest first, as they read now."""
        with self._lock:
            return [
                dataclasses.replace(p)
                for p in self.posted
                if p.channel == channel and p.thread_ts == thread_ts
            ]

    def in_channel(self, channel: str) -> list[Posted]:
        with self._lock:
            return [dataclasses.replace(p) for p in self.posted if p.channel == channel]

    def message(self, channel: str, ts: str) -> Posted:
        with self._lock:
            return next(dataclasses.replace(p) for p in self.posted if p.channel == channel and p.ts == ts)

    # -- the Web API ---------------------------------------------------------------------------

    async def _params(self, request: web.Request) -> dict[str, Any]:
        params: dict[str, Any] = dict(request.query)
        raw = await request.read()
        if raw:
            if request.content_type == "application/json":
                params.update(json.loads(raw))
            else:
                params.update(dict(urllib.parse.parse_qsl(raw.decode(), keep_blank_values=True)))
        for key in ("blocks", "metadata", "view", "prompts"):
            if isinstance(params.get(key), str):
                params[key] = json.loads(params[key])
        return params

    async def _api(self, request: web.Request) -> web.Response:
        method = request.match_info["method"]
        params = await self._params(request)
        auth = request.headers.get("Authorization", "")
        token = auth.removeprefix("Bearer ") if auth.startswith("Bearer ") else params.get("token")
        with self._lock:
            self.calls.append(ApiCall(method, params, token))
            failure = self._failures[method].popleft() if self._failures[method] else None
        if failure is not None:
            headers = {"Retry-After": f"{failure.retry_after:g}"} if failure.retry_after is not None else {}
            return web.json_response(
                {"ok": False, "error": failure.error}, status=failure.status, headers=headers
            )
        if method == "apps.connections.open":
            if not (token or "").startswith("xapp-"):
                return web.json_response({"ok": False, "error": "not_allowed_token_type"})
            return web.json_response({"ok": True, "url": f"ws://127.0.0.1:{self._port}/socket"})
        handler: Callable[[dict[str, Any], str | None], dict[str, Any]] | None = getattr(
            self, "_" + method.replace(".", "_"), None
        )
        if handler is None:
            return web.json_response({"ok": False, "error": "unknown_method"})
        if method != "oauth.v2.access":
            team = self.tokens.get(token or "")
            if team is None:
                return web.json_response({"ok": False, "error": "invalid_auth"})
        with self._lock:
            body = handler(params, token)
        return web.json_response(body, headers={"x-oauth-scopes": "chat:write,im:write,users:read"})

    def _team(self, token: str | None) -> Workspace:
        return self.workspaces[self.tokens[token or ""]]

    def _auth_test(self, params: dict[str, Any], token: str | None) -> dict[str, Any]:
        ws = self._team(token)
        return {
            "ok": True,
            "url": f"https://{ws.team_id.lower()}.slack.test/",
            "team": ws.name,
            "user": "travelmate",
            "team_id": ws.team_id,
            "user_id": ws.bot_user_id,
            "bot_id": ws.bot_id,
            "enterprise_id": ws.enterprise_id,
            "is_enterprise_install": False,
        }

    def _users_info(self, params: dict[str, Any], token: str | None) -> dict[str, Any]:
        user = self._team(token).users.get(params.get("user", ""))
        return {"ok": True, "user": user} if user else {"ok": False, "error": "user_not_found"}

    def _users_profile_get(self, params: dict[str, Any], token: str | None) -> dict[str, Any]:
        """Like Slack: the profile with its custom fields (an empty object when none are set)."""
        user = self._team(token).users.get(params.get("user", ""))
        if user is None:
            return {"ok": False, "error": "user_not_found"}
        profile = {**user["profile"], "fields": dict(user["profile"].get("fields") or {})}
        return {"ok": True, "profile": profile}

    def _team_profile_get(self, params: dict[str, Any], token: str | None) -> dict[str, Any]:
        fields = sorted(self._team(token).profile_fields.values(), key=lambda f: f["ordering"])
        return {"ok": True, "profile": {"fields": fields, "sections": []}}

    def _conversations_open(self, params: dict[str, Any], token: str | None) -> dict[str, Any]:
        return {"ok": True, "channel": {"id": "D" + str(params["users"]).split(",")[0]}}

    def _next_ts(self) -> str:
        return f"{1764000000 + next(self._ts)}.000100"

    def _chat_postMessage(self, params: dict[str, Any], token: str | None) -> dict[str, Any]:
        if refused := blocks_refusal(params.get("blocks")):
            return {"ok": False, "error": "invalid_blocks", "errors": [refused]}
        posted = Posted(
            channel=params["channel"],
            ts=self._next_ts(),
            thread_ts=params.get("thread_ts"),
            text=params.get("text") or "",
            blocks=params.get("blocks") or [],
            metadata=params.get("metadata"),
        )
        self.posted.append(posted)
        message = {
            "type": "message",
            "ts": posted.ts,
            "text": posted.text,
            "bot_id": self._team(token).bot_id,
        }
        return {"ok": True, "channel": posted.channel, "ts": posted.ts, "message": message}

    def _chat_update(self, params: dict[str, Any], token: str | None) -> dict[str, Any]:
        if refused := blocks_refusal(params.get("blocks")):
            return {"ok": False, "error": "invalid_blocks", "errors": [refused]}
        for posted in self.posted:
            if posted.channel == params["channel"] and posted.ts == params["ts"]:
                posted.text = params.get("text") or posted.text
                if "blocks" in params:
                    posted.blocks = params["blocks"] or []
                posted.updates += 1
                return {"ok": True, "channel": posted.channel, "ts": posted.ts}
        return {"ok": False, "error": "message_not_found"}

    def _chat_postEphemeral(self, params: dict[str, Any], token: str | None) -> dict[str, Any]:
        self.ephemeral.append(params)
        return {"ok": True, "message_ts": self._next_ts()}

    def _conversations_replies(self, params: dict[str, Any], token: str | None) -> dict[str, Any]:
        root = {"type": "message", "ts": params["ts"], "text": "", "user": "U0"}
        replies = [
            {
                "type": "message",
                "ts": p.ts,
                "thread_ts": p.thread_ts,
                "text": p.text,
                "metadata": p.metadata or {},
            }
            for p in self.posted
            if p.channel == params["channel"] and p.thread_ts == params["ts"]
        ]
        return {"ok": True, "messages": [root, *replies], "has_more": False}

    def _assistant_threads_setStatus(self, params: dict[str, Any], token: str | None) -> dict[str, Any]:
        return {"ok": True}

    def _assistant_threads_setSuggestedPrompts(
        self, params: dict[str, Any], token: str | None
    ) -> dict[str, Any]:
        return {"ok": True}

    def _assistant_threads_setTitle(self, params: dict[str, Any], token: str | None) -> dict[str, Any]:
        return {"ok": True}

    def _views_publish(self, params: dict[str, Any], token: str | None) -> dict[str, Any]:
        self.views.append(params)
        return {"ok": True, "view": {"id": "V1", **params["view"]}}

    # Files go up in three steps, each checked as Slack checks it: ask for an upload URL with the file's
    # name and exact length, post the bytes there, then complete the upload (sharing it to a channel).
    def _files_getUploadURLExternal(self, params: dict[str, Any], token: str | None) -> dict[str, Any]:
        filename, length = str(params.get("filename") or ""), str(params.get("length") or "")
        if not filename or not length.isdigit() or int(length) <= 0:
            return {"ok": False, "error": "invalid_arguments"}
        file_id = f"F{next(self._file_ids):08d}"
        self._pending_uploads[file_id] = _PendingUpload(filename, int(length))
        return {"ok": True, "upload_url": f"{self.root}/upload/{file_id}", "file_id": file_id}

    def share_file(
        self, team_id: str, user: str, name: str, content: bytes, *, mimetype: str, filetype: str
    ) -> dict[str, Any]:
        """A file a user shared; its object as files.info and file_share events carry it."""
        file_id = f"F{secrets.token_hex(5).upper()}"
        key = f"{team_id}-{file_id}"
        shared = {
            "id": file_id,
            "created": int(time.time()),
            "name": name,
            "title": name,
            "mimetype": mimetype,
            "filetype": filetype,
            "user": user,
            "user_team": team_id,
            "size": len(content),
            "mode": "hosted",
            "is_external": False,
            "url_private": f"{self.root}/files-pri/{key}/{urllib.parse.quote(name)}",
            "url_private_download": f"{self.root}/files-pri/{key}/download/{urllib.parse.quote(name)}",
        }
        with self._lock:
            self.shared_files[file_id] = (shared, content)
        return shared

    def _files_info(self, params: dict[str, Any], token: str | None) -> dict[str, Any]:
        found = self.shared_files.get(str(params.get("file")))
        if found is None or found[0]["user_team"] != self.tokens.get(token or ""):
            return {"ok": False, "error": "file_not_found"}
        return {"ok": True, "file": found[0], "comments": [], "response_metadata": {"next_cursor": ""}}

    async def _download(self, request: web.Request) -> web.Response:
        """A private file: only with a bot token of its workspace; otherwise Slack's sign-in redirect."""
        team_id, _, file_id = request.match_info["key"].partition("-")
        auth = request.headers.get("Authorization", "")
        with self._lock:
            found = self.shared_files.get(file_id)
            team = self.tokens.get(auth.removeprefix("Bearer ")) if auth.startswith("Bearer ") else None
        if found is None or team != team_id:
            raise web.HTTPFound(f"{self.root}/?redir=%2Ffiles-pri%2F{request.match_info['key']}")
        return web.Response(body=found[1], content_type=found[0]["mimetype"])

    def _files_completeUploadExternal(self, params: dict[str, Any], token: str | None) -> dict[str, Any]:
        try:
            files = json.loads(params["files"]) if isinstance(params.get("files"), str) else params["files"]
        except (KeyError, json.JSONDecodeError):
            return {"ok": False, "error": "invalid_arguments"}
        if (
            not isinstance(files, list)
            or not files
            or not all(isinstance(f, dict) and f.get("id") for f in files)
        ):
            return {"ok": False, "error": "invalid_arguments"}
        channel, thread_ts = params.get("channel_id"), params.get("thread_ts")
        if thread_ts and not channel:
            return {"ok": False, "error": "invalid_arguments"}
        if channel and not str(channel).startswith(("C", "D", "G")):
            return {"ok": False, "error": "channel_not_found"}
        pending = [self._pending_uploads.get(f["id"]) for f in files]
        # Unknown ids, files never uploaded (or not with the length announced), and second completions.
        if any(p is None or p.content is None or len(p.content) != p.length for p in pending):
            return {"ok": False, "error": "file_not_found"}
        for spec in files:
            upload = self._pending_uploads.pop(spec["id"])
            assert upload.content is not None
            self.files.append(
                SharedFile(
                    spec["id"],
                    upload.filename,
                    spec.get("title"),
                    upload.content,
                    channel,
                    thread_ts,
                    params.get("initial_comment"),
                )
            )
        return {"ok": True, "files": [{"id": f["id"], "title": f.get("title")} for f in files]}

    def _oauth_v2_access(self, params: dict[str, Any], token: str | None) -> dict[str, Any]:
        if params.get("client_id", CLIENT_ID) != CLIENT_ID:
            return {"ok": False, "error": "invalid_client_id"}
        if params.get("grant_type") == "refresh_token":
            team_id = self.refresh_tokens.pop(params.get("refresh_token", ""), None)
            if team_id is None:
                return {"ok": False, "error": "invalid_refresh_token"}
            for old in [t for t, team in self.tokens.items() if team == team_id]:
                del self.tokens[old]
            return {"ok": True, **self._grant(team_id, rotating=True, expires_in=43200), "token_type": "bot"}
        found = self.codes.pop(params.get("code", ""), None)
        if found is None:
            return {"ok": False, "error": "invalid_code"}
        team_id, installer, rotating = found
        ws = self.workspaces[team_id]
        return {
            "ok": True,
            "app_id": APP_ID,
            "authed_user": {"id": installer},
            "scope": "chat:write,im:history,users:read,users:read.email",
            "token_type": "bot",
            **self._grant(team_id, rotating=rotating),
            "bot_user_id": ws.bot_user_id,
            "team": {"id": ws.team_id, "name": ws.name},
            "enterprise": {"id": ws.enterprise_id, "name": "Grid"} if ws.enterprise_id else None,
            "is_enterprise_install": False,
        }

    def _grant(self, team_id: str, *, rotating: bool, expires_in: int = 600) -> dict[str, Any]:
        token = f"xoxb-{team_id}-{secrets.token_hex(12)}"
        self.tokens[token] = team_id
        if not rotating:
            return {"access_token": token}
        refresh = f"xoxe-1-{team_id}-{secrets.token_hex(12)}"
        self.refresh_tokens[refresh] = team_id
        # A first token expires within Bolt's two-hour rotation window, so its first use rotates it;
        # a rotated one lasts twelve hours, as Slack's do.
        return {"access_token": token, "refresh_token": refresh, "expires_in": expires_in}

    # -- Socket Mode ---------------------------------------------------------------------------

    async def _socket(self, request: web.Request) -> web.WebSocketResponse:
        socket = web.WebSocketResponse()
        await socket.prepare(request)
        await socket.send_json({"type": "hello", "num_connections": 1, "connection_info": {"app_id": APP_ID}})
        with self._lock:
            self._sockets.append(socket)
        async for message in socket:
            if message.type == web.WSMsgType.TEXT:
                with self._lock:
                    self.socket_acks.append(json.loads(message.data))
        return socket

    @property
    def socket_connected(self) -> bool:
        with self._lock:
            return any(not socket.closed for socket in self._sockets)

    def push(self, payload: dict[str, Any], *, kind: str = "events_api") -> str:
        """Deliver a payload over the open Socket Mode connection; returns its envelope id."""
        envelope_id = secrets.token_hex(8)
        envelope = {
            "envelope_id": envelope_id,
            "type": kind,
            "payload": payload,
            "accepts_response_payload": False,
        }
        with self._lock:
            socket = next(s for s in reversed(self._sockets) if not s.closed)
        assert self._loop is not None
        asyncio.run_coroutine_threadsafe(socket.send_json(envelope), self._loop).result(timeout=5)
        return envelope_id

    async def _upload(self, request: web.Request) -> web.Response:
        data = await request.read()
        file_id = request.match_info["file_id"]
        with self._lock:
            upload = self._pending_uploads.get(file_id)
            if upload is None or upload.content is not None:
                return web.Response(status=404, text="Not Found")
            upload.content = data
            self.uploads[file_id] = data
        return web.Response(text=f"OK - {len(data)}")

    async def _respond(self, request: web.Request) -> web.Response:
        body = await request.json()
        with self._lock:
            self.responses.append({"name": request.match_info["name"], **body})
        return web.Response(text="ok")


# -- requests from Slack into the app ----------------------------------------------------------


def sign(secret: str, body: str, timestamp: int | None = None) -> dict[str, str]:
    """The X-Slack-Signature headers for `body`, as SignatureVerifier computes them."""
    timestamp = int(time.time()) if timestamp is None else timestamp
    basestring = f"v0:{timestamp}:{body}".encode()
    signature = "v0=" + hmac.new(secret.encode(), basestring, hashlib.sha256).hexdigest()
    return {"X-Slack-Request-Timestamp": str(timestamp), "X-Slack-Signature": signature}


_event_ids = itertools.count(1)
_message_ts = itertools.count(1)


def new_ts() -> str:
    return f"{1763000000 + next(_message_ts)}.000200"


def dm_event(team_id: str, user: str, text: str) -> dict[str, Any]:
    """A message event of a user in their direct-message channel with the bot."""
    return {
        "type": "message",
        "channel": "D" + user,
        "channel_type": "im",
        "user": user,
        "text": text,
        "ts": new_ts(),
        "team": team_id,
    }


@dataclass
class SlackSender:
    """Signed Events API, interactivity and slash-command requests into the ASGI app."""

    http: httpx.AsyncClient
    secret: str
    fake: FakeSlack

    async def post(
        self, path: str, body: str, content_type: str, headers: dict[str, str] | None = None
    ) -> httpx.Response:
        signed = {**sign(self.secret, body), "Content-Type": content_type, **(headers or {})}
        return await self.http.post(path, content=body.encode(), headers=signed)

    def event_body(self, team_id: str, event: dict[str, Any], *, event_id: str | None = None) -> str:
        ws = self.fake.workspaces[team_id]
        return json.dumps(
            {
                "token": "legacy",
                "team_id": team_id,
                "enterprise_id": ws.enterprise_id,
                "api_app_id": APP_ID,
                "event": event,
                "type": "event_callback",
                "event_id": event_id or f"Ev{next(_event_ids):08d}",
                "event_time": int(time.time()),
                "authorizations": [
                    {
                        "enterprise_id": ws.enterprise_id,
                        "team_id": team_id,
                        "user_id": ws.bot_user_id,
                        "is_bot": True,
                        "is_enterprise_install": False,
                    }
                ],
            }
        )

    async def event(
        self, team_id: str, event: dict[str, Any], *, retry: int | None = None, body: str | None = None
    ) -> httpx.Response:
        body = body or self.event_body(team_id, event)
        headers = {"X-Slack-Retry-Num": str(retry), "X-Slack-Retry-Reason": "http_timeout"} if retry else {}
        return await self.post("/slack/events", body, "application/json", headers)

    async def dm(
        self,
        team_id: str,
        user: str,
        text: str,
        *,
        thread_ts: str | None = None,
        files: list[dict[str, Any]] | None = None,
    ) -> tuple[httpx.Response, dict[str, Any]]:
        event = dm_event(team_id, user, text)
        if thread_ts:
            event["thread_ts"] = thread_ts
        if files:
            event.update(subtype="file_share", files=files, upload=False)
        return await self.event(team_id, event), event

    async def action(
        self,
        team_id: str,
        user: str,
        posted: Posted,
        button: dict[str, Any],
        *,
        trigger_id: str | None = None,
        url: str = "/slack/events",
    ) -> httpx.Response:
        """A press of `button` on `posted`; `url` may name another server (a replica) than the client's."""
        payload = {
            "type": "block_actions",
            "user": {"id": user, "team_id": team_id, "username": user.lower()},
            "api_app_id": APP_ID,
            "token": "legacy",
            "team": {"id": team_id, "domain": team_id.lower()},
            "enterprise": None,
            "is_enterprise_install": False,
            "container": {
                "type": "message",
                "message_ts": posted.ts,
                "channel_id": posted.channel,
                "is_ephemeral": False,
            },
            "trigger_id": trigger_id or f"{next(_event_ids)}.{secrets.token_hex(6)}",
            "channel": {"id": posted.channel, "name": "directmessage"},
            "message": {"type": "message", "ts": posted.ts, "text": posted.text, "blocks": posted.blocks},
            "response_url": self.fake.response_url("action"),
            "actions": [
                {
                    "type": "button",
                    "action_id": button["action_id"],
                    "block_id": "b1",
                    "text": button["text"],
                    "value": button["value"],
                    "action_ts": f"{time.time():.6f}",
                }
            ],
        }
        if posted.thread_ts:  # as Slack sends it for a message inside a thread
            payload["container"]["thread_ts"] = posted.thread_ts
            payload["message"]["thread_ts"] = posted.thread_ts
        body = urllib.parse.urlencode({"payload": json.dumps(payload)})
        return await self.post(url, body, "application/x-www-form-urlencoded")

    async def file_share(
        self, team_id: str, user: str, shared: dict[str, Any], *, text: str = ""
    ) -> tuple[httpx.Response, dict[str, Any]]:
        """A user shares a file with the bot in their DM (a message event of subtype file_share)."""
        event = dm_event(team_id, user, text) | {
            "subtype": "file_share",
            "files": [{k: shared[k] for k in ("id", "name", "mimetype", "filetype", "size", "url_private")}],
            "upload": True,
            "display_as_bot": False,
        }
        return await self.event(team_id, event), event

    async def command(self, team_id: str, user: str, text: str) -> httpx.Response:
        body = urllib.parse.urlencode(
            {
                "token": "legacy",
                "team_id": team_id,
                "team_domain": team_id.lower(),
                "channel_id": "C0GENERAL",
                "channel_name": "general",
                "user_id": user,
                "user_name": user.lower(),
                "command": "/travelmate",
                "text": text,
                "api_app_id": APP_ID,
                "is_enterprise_install": "false",
                "response_url": self.fake.response_url("command"),
                "trigger_id": f"{next(_event_ids)}.{secrets.token_hex(6)}",
            }
        )
        return await self.post("/slack/events", body, "application/x-www-form-urlencoded")


# -- the product serving Slack, for tests --------------------------------------------------------

SIGNING_SECRET = "test-signing-secret"
ACME = "T0ACME"
ADMIN, TRAVELLER, OTHER = "U0ADMIN", "U0TRAVEL", "U0OTHER"


def acme_workspace(fake: FakeSlack, *, traveller_tz: str = "Europe/Berlin") -> str:
    """The fake reset to one workspace, Acme: Ada (to become admin), Tom (a traveller) and Olga. Its bot token."""
    fake.reset()
    fake.add_workspace(ACME, "Acme")
    fake.add_user(ACME, ADMIN, "Ada Admin", email="ada@acme.test")
    fake.add_user(ACME, TRAVELLER, "Tom Traveller", email="tom@acme.test", tz=traveller_tz)
    fake.add_user(ACME, OTHER, "Olga Other", email="olga@acme.test")
    return fake.issue_token(ACME)


@dataclass
class SlackHarness:
    """The running ASGI app, the signed-request sender and the fake Web API of one test."""

    product: Any
    send: SlackSender
    fake: FakeSlack
    app: Any = None  # the ASGI app itself, for tests that serve it through a real HTTP server

    async def settle(self) -> None:
        """Wait until every lazy Slack task has finished (replies posted, buttons updated)."""
        await self.product.extras["slack"].settle(30.0)


@contextlib.asynccontextmanager
async def slack_harness(
    *,
    db: Any,
    embedded: Any,
    model: Any,
    fake: FakeSlack,
    bot_token: str | None = None,
    app_token: str | None = None,
    oauth: bool = False,
    model_timeout: float = 5.0,
    clock: Callable[[], Any] | None = None,
) -> AsyncIterator[SlackHarness]:
    """The real product (scripted model, fixed clock, real Postgres and Redis) serving Slack over ASGI."""
    from cryptography.fernet import Fernet
    from redis.asyncio import Redis

    from agent.checkpoints import checkpoint_saver
    from agent.commands import CommandRunner
    from agent.conversation import ConversationService
    from agent.graph import build_graph
    from agent.tools import AgentServices
    from bot.product import Product
    from bot.runtime import Endpoints
    from bot.server import build_app
    from storage.settings import Settings
    from tests.conftest import NOW, chat_model

    now = clock or (lambda: NOW)
    values: dict[str, Any] = {
        "SLACK_SIGNING_SECRET": SIGNING_SECRET,
        "SLACK_API_URL": fake.base_url,
        "TRAVELMATE_MODEL": "scripted-model",
        "OPENAI_API_KEY": "test",
        "OPENAI_BASE_URL": model.base_url,
        "TRAVELMATE_ENCRYPTION_KEY": Fernet.generate_key().decode(),
    }
    if oauth:
        values.update(SLACK_CLIENT_ID=CLIENT_ID, SLACK_CLIENT_SECRET=CLIENT_SECRET)
    if bot_token:
        values["SLACK_BOT_TOKEN"] = bot_token
    if app_token:
        values["SLACK_APP_TOKEN"] = app_token
    settings = Settings(**values)
    endpoints = Endpoints(
        embedded.app_database_url, embedded.owner_database_url, embedded.redis_url, embedded=True
    )
    services = AgentServices(db=db, clock=now)
    redis = Redis.from_url(embedded.redis_url)
    try:
        async with checkpoint_saver(embedded.app_database_url, max_size=4) as saver:
            graph = build_graph(
                model=chat_model(model, timeout=model_timeout), services=services, checkpointer=saver
            )
            product = Product(
                settings=settings,
                endpoints=endpoints,
                db=db,
                conversation=ConversationService(services=services, graph=graph),
                commands=CommandRunner(db, clock=now),
                redis=redis,
            )
            app = build_app(product)
            async with app.router.lifespan_context(app):
                transport = httpx.ASGITransport(app=app)
                async with httpx.AsyncClient(transport=transport, base_url="http://travelmate.test") as http:
                    yield SlackHarness(product, SlackSender(http, SIGNING_SECRET, fake), fake, app)
    finally:
        await redis.aclose()


@contextlib.asynccontextmanager
async def acme_slack(
    *,
    db: Any,
    embedded: Any,
    model: Any,
    fake: FakeSlack,
    traveller_tz: str = "Europe/Berlin",
    introduced: tuple[str, ...] = (),
) -> AsyncIterator[SlackHarness]:
    """The product serving Acme's workspace; the `introduced` users have run /travelmate help, in order.

    The first person to use the app in a new workspace becomes its tenant's admin. Their answers are
    cleared, so a test sees only the responses it caused.
    """
    token = acme_workspace(fake, traveller_tz=traveller_tz)
    async with slack_harness(db=db, embedded=embedded, model=model, fake=fake, bot_token=token) as harness:
        for user in introduced:  # one after the other: the first person becomes the admin
            await harness.send.command(ACME, user, "help")
            await harness.settle()
        fake.responses.clear()
        yield harness
