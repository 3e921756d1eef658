"""A fake Slack over real HTTP, for driving slack-sdk the way production does.

It speaks enough of the Web API (chat.postMessage, conversations.history,
auth.test) and incoming webhooks, records every request, keeps posted
messages (with their metadata) per channel, and answers with whatever a test
queues: rate limits with Retry-After, 500s, Slack error codes, or a dropped
connection after the message was stored (the "did it post or not?" case).
slack-sdk tests itself the same way (tests/mock_web_api_server/).
"""

from __future__ import annotations

import itertools
import json
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs


@dataclass
class Reply:
    """What to answer to the next call of a method, instead of the normal answer."""

    status: int = 200
    body: dict[str, Any] | str | None = None
    headers: dict[str, str] = field(default_factory=dict)
    drop: bool = False  # close the connection without answering
    store: bool = False  # keep the message as if posted, before answering (or dropping)
    channel: str | None = None  # only for a call about this channel (by name), as Slack's rate limits are


@dataclass
class Call:
    method: str
    body: dict[str, Any]
    headers: dict[str, str]


class FakeSlack:
    def __init__(self) -> None:
        self.calls: list[Call] = []
        self.channels: dict[str, list[dict[str, Any]]] = {}  # by channel id
        self.ids: dict[str, str] = {}  # channel name -> id, as Slack knows them
        self.webhook_messages: list[dict[str, Any]] = []
        self._queued: dict[str, list[Reply]] = {}
        self._lock = threading.Lock()
        self._ts = itertools.count(1)
        self._server: ThreadingHTTPServer | None = None

    # --- for tests ------------------------------------------------------------------

    @property
    def api_url(self) -> str:
        assert self._server is not None
        return f"http://127.0.0.1:{self._server.server_address[1]}/api/"

    @property
    def webhook_url(self) -> str:
        assert self._server is not None
        return f"http://127.0.0.1:{self._server.server_address[1]}/services/T000/B000/XXXX"

    def queue(self, method: str, *replies: Reply) -> None:
        with self._lock:
            self._queued.setdefault(method, []).extend(replies)

    def add_channel(self, name: str) -> str:
        """A channel that exists in the workspace before anything is posted to it."""
        return self.channel_id(name)

    def channel_id(self, channel: str) -> str:
        """Like Slack: posting accepts a name or an id; a new name gets an id here."""
        if channel.startswith(("C", "G")) and channel.isupper():
            return channel
        name = channel.removeprefix("#")
        with self._lock:
            return self.ids.setdefault(name, f"C{len(self.ids) + 1:08d}")

    def chatter(self, channel: str, count: int) -> None:
        """People talking in ``channel``: ``count`` plain messages after whatever is there."""
        for n in range(count):
            self._store(channel, {"text": f"message {n}"})

    def posts(self, channel: str | None = None) -> list[dict[str, Any]]:
        """Messages that were posted (stored), oldest first; ``channel`` by name or id."""
        key = self.channel_id(channel) if channel is not None else None
        with self._lock:
            if key is not None:
                return list(self.channels.get(key, []))
            return [m for messages in self.channels.values() for m in messages]

    def attempts(self, method: str = "chat.postMessage") -> list[Call]:
        return [c for c in self.calls if c.method == method]

    # --- the server -----------------------------------------------------------------

    def _next_reply(self, method: str, body: dict[str, Any]) -> Reply | None:
        channel = str(body.get("channel", "")).removeprefix("#")
        with self._lock:
            queued = self._queued.get(method, [])
            for n, reply in enumerate(queued):
                if reply.channel is None or reply.channel.removeprefix("#") == channel:
                    return queued.pop(n)
            return None

    def _store(self, channel: str, body: dict[str, Any]) -> dict[str, Any]:
        channel = self.channel_id(channel)
        message = {
            # Unique, increasing, and on the clock (time-machine moves it with the test).
            "type": "message",
            "ts": f"{int(time.time())}.{next(self._ts):06d}",
            "text": body.get("text", ""),
            "blocks": body.get("blocks", []),
            "metadata": body.get("metadata"),
        }
        with self._lock:
            self.channels.setdefault(channel, []).append(message)
        return message

    def handle(self, method: str, body: dict[str, Any], headers: dict[str, str]) -> Reply:
        self.calls.append(Call(method, body, headers))
        reply = self._next_reply(method, body)
        if method == "webhook":
            if reply is not None:
                if reply.store:
                    self.webhook_messages.append(body)
                return reply
            self.webhook_messages.append(body)
            return Reply(200, "ok")
        if reply is not None:
            if reply.store and method == "chat.postMessage":
                self._store(str(body.get("channel")), body)
            return reply
        if headers.get("authorization", "") != "Bearer xoxb-test-token":
            return Reply(200, {"ok": False, "error": "invalid_auth"})
        if method == "chat.postMessage":
            channel = self.channel_id(str(body.get("channel")))
            message = self._store(channel, body)
            return Reply(200, {"ok": True, "channel": channel, "ts": message["ts"], "message": message})
        if method == "conversations.list":
            with self._lock:
                channels = [{"id": cid, "name": name, "is_archived": False} for name, cid in self.ids.items()]
            return Reply(200, {"ok": True, "channels": channels, "response_metadata": {"next_cursor": ""}})
        if method == "conversations.history":
            channel = str(body.get("channel"))
            if channel not in self.channels and channel not in self.ids.values():
                return Reply(200, {"ok": False, "error": "channel_not_found"})  # names are not accepted here
            oldest = float(body.get("oldest") or 0)
            messages = [m for m in self.posts(channel) if float(m["ts"]) >= oldest]
            if str(body.get("include_all_metadata")).lower() not in ("1", "true"):
                messages = [{k: v for k, v in m.items() if k != "metadata"} for m in messages]
            # Newest first, a page at a time as Slack does: ``limit`` a page, the next one by its cursor.
            newest_first = list(reversed(messages))
            start, limit = int(body.get("cursor") or 0), int(body.get("limit") or 100)
            more = start + limit < len(newest_first)
            return Reply(
                200,
                {
                    "ok": True,
                    "messages": newest_first[start : start + limit],
                    "has_more": more,
                    "response_metadata": {"next_cursor": str(start + limit) if more else ""},
                },
            )
        if method == "auth.test":
            return Reply(200, {"ok": True, "team": "Test", "user": "launch-tally"})
        return Reply(200, {"ok": False, "error": "unknown_method"})

    @contextmanager
    def running(self) -> Iterator[FakeSlack]:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:  # quiet
                pass

            def do_POST(self) -> None:
                length = int(self.headers.get("content-length") or 0)
                raw = self.rfile.read(length).decode("utf-8") if length else ""
                content_type = self.headers.get("content-type", "")
                if "json" in content_type:
                    body = json.loads(raw or "{}")
                else:
                    body = {k: v[0] for k, v in parse_qs(raw).items()}
                if self.path.startswith("/services/"):
                    method = "webhook"
                else:
                    method = self.path.removeprefix("/api/").split("?")[0]
                reply = fake.handle(method, body, {k.lower(): v for k, v in self.headers.items()})
                if reply.drop:
                    self.close_connection = True
                    self.connection.shutdown(2)
                    return
                payload = reply.body if isinstance(reply.body, str) else json.dumps(reply.body or {"ok": True})
                data = payload.encode("utf-8")
                self.send_response(reply.status)
                self.send_header(
                    "Content-Type", "text/plain" if isinstance(reply.body, str) else "application/json; charset=utf-8"
                )
                self.send_header("Content-Length", str(len(data)))
                for name, value in reply.headers.items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(data)

        server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        server.daemon_threads = True
        self._server = server
        thread = threading.Thread(target=server.serve_forever, name="fake-slack", daemon=True)
        thread.start()
        try:
            yield self
        finally:
            server.shutdown()
            server.server_close()
            thread.join()
