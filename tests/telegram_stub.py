"""A local stand-in for the Telegram Bot API's sendMessage, strict about the request.

It checks each request as https://core.telegram.org/bots/api#sendmessage documents it:
POST to /bot<token>/sendMessage, a JSON or form-encoded body, `chat_id` (Integer, or a
String: the numeric id or @channelusername), `text` (1-4096 characters), optional
`parse_mode` (MarkdownV2 | HTML | Markdown) and `disable_web_page_preview` (Boolean). A
request that breaks a rule is answered as Telegram does ({"ok": false, "error_code": …,
"description": …}) and recorded in `violations`, so a test can assert there were none.

Behaviour is scripted: `script` is consumed one entry per request ("ok", "429:<s>",
"500", "hang"); when empty, `default` applies.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs

PARSE_MODES = {"MarkdownV2", "HTML", "Markdown"}


@dataclass
class Received:
    chat_id: int | str
    text: str
    at: float
    body: dict[str, Any]


@dataclass
class TelegramStub:
    token: str
    chat_ids: set[str]
    url: str = ""
    script: list[str] = field(default_factory=list)
    default: str = "ok"
    messages: list[Received] = field(default_factory=list)
    requests: list[float] = field(default_factory=list)  # arrival time of every request
    violations: list[str] = field(default_factory=list)
    release: threading.Event = field(default_factory=threading.Event)  # ends "hang"
    lock: threading.Lock = field(default_factory=threading.Lock)

    def texts(self) -> list[str]:
        with self.lock:
            return [m.text for m in self.messages]

    def wait_for(self, n: int, timeout: float = 5.0) -> bool:
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            if len(self.messages) >= n:
                return True
            time.sleep(0.01)
        return len(self.messages) >= n


def _validate(stub: TelegramStub, method: str, path: str, ctype: str, raw: bytes) -> tuple[int, str, dict[str, Any]]:
    """(error code, description, parsed body); code 0 when the request is valid."""
    if method != "POST":
        return 405, f"Method Not Allowed: {method}", {}
    if path != f"/bot{stub.token}/sendMessage":
        # Telegram answers an unknown token with 401 and an unknown method with 404.
        if path.startswith("/bot") and path.endswith("/sendMessage"):
            return 401, "Unauthorized", {}
        return 404, "Not Found", {}
    media = ctype.split(";")[0].strip().lower()
    if media == "application/json":
        try:
            body = json.loads(raw.decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError):
            return 400, "Bad Request: can't parse JSON object", {}
        if not isinstance(body, dict):
            return 400, "Bad Request: JSON body must be an object", {}
    elif media == "application/x-www-form-urlencoded":
        body = {k: v[-1] for k, v in parse_qs(raw.decode("utf-8"), keep_blank_values=True).items()}
    else:
        return 400, f"Bad Request: unsupported content type {ctype!r}", {}
    chat = body.get("chat_id")
    if isinstance(chat, bool) or not isinstance(chat, int | str) or chat == "":
        return 400, "Bad Request: chat_id is empty", body
    if isinstance(chat, str) and not (chat.startswith("@") or chat.lstrip("-").isdigit()):
        return 400, "Bad Request: chat not found", body
    if str(chat) not in stub.chat_ids:
        return 400, "Bad Request: chat not found", body
    text = body.get("text")
    if not isinstance(text, str) or not text.strip():
        return 400, "Bad Request: message text is empty", body
    if len(text) > 4096:
        return 400, "Bad Request: message is too long", body
    if "parse_mode" in body and body["parse_mode"] not in PARSE_MODES:
        return 400, f"Bad Request: unsupported parse_mode {body['parse_mode']!r}", body
    dwp = body.get("disable_web_page_preview")
    if dwp is not None and not (isinstance(dwp, bool) or (media != "application/json" and dwp in ("true", "false"))):
        return 400, "Bad Request: disable_web_page_preview must be a Boolean", body
    return 0, "", body


def _handler(stub: TelegramStub) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: Any) -> None:  # keep test output quiet
            pass

        def _answer(self, status: int, doc: dict[str, Any]) -> None:
            data = json.dumps(doc).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def _handle(self) -> None:
            raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            with stub.lock:
                stub.requests.append(time.monotonic())
                step = stub.script.pop(0) if stub.script else stub.default
            if step == "hang":
                stub.release.wait(60)
                return
            code, desc, body = _validate(stub, self.command, self.path, self.headers.get("Content-Type", ""), raw)
            if code:
                with stub.lock:
                    stub.violations.append(f"{code} {desc}")
                self._answer(code, {"ok": False, "error_code": code, "description": desc})
                return
            if step.startswith("429:"):
                after = int(step[4:])
                self._answer(429, {"ok": False, "error_code": 429,
                                   "description": f"Too Many Requests: retry after {after}",
                                   "parameters": {"retry_after": after}})
                return
            if step == "500":
                self._answer(500, {"ok": False, "error_code": 500, "description": "Internal Server Error"})
                return
            with stub.lock:
                stub.messages.append(Received(body["chat_id"], body["text"], time.monotonic(), body))
                n = len(stub.messages)
            self._answer(200, {"ok": True, "result": {
                "message_id": n, "date": int(time.time()), "text": body["text"],
                "chat": {"id": body["chat_id"], "type": "private"}}})

        do_POST = _handle
        do_GET = _handle

    return Handler


@contextmanager
def telegram_stub(token: str, chat_ids: set[str]) -> Iterator[TelegramStub]:
    stub = TelegramStub(token, chat_ids)
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(stub))
    server.daemon_threads = True
    stub.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield stub
    finally:
        stub.release.set()
        server.shutdown()
        server.server_close()
