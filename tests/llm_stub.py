"""A local OpenAI-compatible chat endpoint with deterministic, prompt-sensitive answers.

Judge calls (a system message, then the trace): the stub answers FAIL when the
trace contains any phrase the system prompt lists in double quotes, PASS
otherwise, so a prompt naming more true failure signs really scores better.
Reflection calls (a single user message holding the current instructions in
``` fences and annotator feedback): the stub answers the same instructions
plus a line quoting every "phrase" found in the feedback it was shown.
It counts every request, can fail the first N with 429 (to test retries),
and reports token usage. Served on 127.0.0.1, random port, in a thread.
"""

from __future__ import annotations

import json
import re
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

QUOTED = re.compile(r'"([^"\n]{2,80})"')
FENCED = re.compile(r"```(?:[a-z]*\n)?(.*?)```", re.DOTALL)
FEEDBACK = re.compile(r"^Annotator feedback: (.*)$", re.MULTILINE)


def judge_answer(system: str, trace: str) -> str:
    signs = QUOTED.findall(system)
    found = [s for s in signs if s.lower() in trace.lower()]
    if found:
        return f"FAIL\nThe trace contains the failure sign {found[0]!r}."
    return "PASS\nNo listed failure sign appears in the trace."


def reflection_answer(request: str) -> str:
    fenced = FENCED.search(request)
    current = fenced.group(1).strip() if fenced else ""
    phrases = []
    for note in FEEDBACK.findall(request):
        phrases.extend(p for p in QUOTED.findall(note) if p not in phrases and f'"{p}"' not in current)
    if not phrases:
        return f"```\n{current}\n```"
    signs = ", ".join(f'"{p}"' for p in phrases)
    return f"```\n{current}\nAlso a failure when the trace contains any of: {signs}.\n```"


class StubLLM:
    def __init__(self, *, fail_first: int = 0):
        self.requests: list[dict] = []
        self.fail_first = fail_first
        self._lock = threading.Lock()
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)

    @property
    def base_url(self) -> str:
        host, port = self.server.server_address[:2]
        return f"http://{host}:{port}/v1"

    @property
    def calls(self) -> int:
        return len(self.requests)

    def judge_calls(self) -> int:
        return sum(1 for r in self.requests if r["messages"][0]["role"] == "system")

    def start(self) -> "StubLLM":
        self.thread.start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def _handler(self):
        stub = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):  # keep test output quiet
                pass

            def do_POST(self):
                length = int(self.headers.get("content-length", 0))
                body = json.loads(self.rfile.read(length) or b"{}")
                with stub._lock:
                    stub.requests.append(body)
                    refuse = stub.fail_first > 0
                    stub.fail_first -= 1 if refuse else 0
                if not self.path.endswith("/chat/completions"):
                    return self._send(404, {"error": {"message": "not found"}})
                if self.headers.get("authorization") != "Bearer test-key":
                    return self._send(401, {"error": {"message": "bad key"}})
                if refuse:
                    return self._send(429, {"error": {"message": "slow down"}}, retry_after="0")
                messages = body.get("messages", [])
                if messages and messages[0]["role"] == "system":
                    answer = judge_answer(messages[0]["content"], messages[-1]["content"])
                else:
                    answer = reflection_answer(messages[-1]["content"] if messages else "")
                prompt_tokens = sum(len(m.get("content") or "") for m in messages) // 4
                self._send(
                    200,
                    {
                        "id": "stub",
                        "object": "chat.completion",
                        "model": body.get("model"),
                        "choices": [{"index": 0, "message": {"role": "assistant", "content": answer}, "finish_reason": "stop"}],
                        "usage": {"prompt_tokens": prompt_tokens, "completion_tokens": len(answer) // 4,
                                  "total_tokens": prompt_tokens + len(answer) // 4},
                    },
                )

            def _send(self, status, payload, retry_after=None):
                data = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(data)))
                if retry_after is not None:
                    self.send_header("retry-after", retry_after)
                self.end_headers()
                self.wfile.write(data)

        return Handler
