"""A local HTTP server that records webhook deliveries, as a customer's endpoint would receive them."""

import threading
import time
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes


class Receiver:
    def __init__(self, status: int = 200, headers: dict[str, str] | None = None, body: bytes = b"ok"):
        """A receiver on 127.0.0.1: Sextant reaches it only with SEXTANT_WEBHOOK_ALLOW_PRIVATE set
        (`allow_private_webhooks`, or the worker's environment in end-to-end tests)."""
        self.status, self.extra_headers, self.body = status, headers or {}, body
        self.received: list[Received] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802 (the stdlib's name)
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                receiver.received.append(Received(self.path, dict(self.headers.items()), body))
                self.send_response(receiver.status)
                for name, value in receiver.extra_headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(receiver.body)))
                self.end_headers()
                self.wfile.write(receiver.body)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/hook"

    def wait_for(self, predicate, timeout: float = 30.0) -> Received:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for item in list(self.received):
                if predicate(item):
                    return item
            time.sleep(0.1)
        raise AssertionError(f"no matching delivery within {timeout} s; got {len(self.received)}")

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def allow_private_webhooks(monkeypatch) -> None:
    """Let this process's webhooks reach the local receiver (loopback is refused by default)."""
    from app.core.settings import clear_caches

    monkeypatch.setenv("SEXTANT_WEBHOOK_ALLOW_PRIVATE", "1")
    clear_caches()
