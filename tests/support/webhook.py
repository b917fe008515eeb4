"""A real local HTTP server standing in for Google Chat: records what it receives and can
fail on demand."""

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class RecordingWebhook:
    def __init__(self, host: str = "127.0.0.1"):
        self.requests: list[dict] = []
        self.failures_left = 0
        self.lock = threading.Lock()
        # Set unless held: a held receiver keeps every request waiting for its answer.
        self.answering = threading.Event()
        self.answering.set()
        self.server = ThreadingHTTPServer((host, 0), self._handler())
        # shutdown() waits for serve_forever's next look at its flag: every 0.5 s by
        # default, which each test using this receiver would spend on leaving it.
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)

    @property
    def port(self) -> int:
        return self.server.server_address[1]

    @property
    def url(self) -> str:
        return f"http://{self.server.server_address[0]}:{self.port}/v1/spaces/test/messages?key=k&token=t"

    def fail_next(self, count: int) -> None:
        with self.lock:
            self.failures_left = count

    def hold(self) -> None:
        """Keep requests waiting for their answer (a slow Chat) until `release`."""
        self.answering.clear()

    def release(self) -> None:
        self.answering.set()

    def _handler(self):
        webhook = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                with webhook.lock:
                    webhook.requests.append(
                        {"path": self.path, "host": self.headers.get("Host"), "json": json.loads(body or b"null")}
                    )
                    failing = webhook.failures_left > 0
                    webhook.failures_left -= 1 if failing else 0
                webhook.answering.wait(timeout=60)
                self.send_response(503 if failing else 200)
                self.send_header("Content-Type", "application/json")
                self.end_headers()
                self.wfile.write(b'{"error": "down"}' if failing else b'{"name": "spaces/test/messages/1"}')

            # Whatever arrives is recorded, so a test can prove that nothing did.
            do_GET = do_PUT = do_PATCH = do_DELETE = do_POST

            def log_message(self, *args):
                pass

        return Handler

    def __enter__(self) -> "RecordingWebhook":
        self.thread.start()
        return self

    def __exit__(self, *exc_info) -> None:
        self.release()
        self.server.shutdown()
        self.server.server_close()
