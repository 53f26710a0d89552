"""How fast one core decodes and maps OTLP trace exports (no database, no HTTP).

    .venv/bin/python bench/otlp_decode.py [--rounds 5]

Workloads, each one export request built with the real OpenTelemetry SDK:
- typical: 128 traces x 4 spans (agent, chat LLM call, tool call, plain HTTP client),
  ~1.5 KB of prompt and completion text per LLM span; 512 spans is the SDK's default
  export batch.
- tau-bench: 20 tau-bench airline conversations; every chat span carries the whole
  conversation so far, ~10 KB per span.
Prints spans per CPU second (best round; CPU time, so that other load on the machine
does not count) per workload and encoding (protobuf, OTLP/JSON).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from opentelemetry import trace  # noqa: E402

from app.traces.otlp import decode_export  # noqa: E402
from tests.traces import taubench  # noqa: E402
from tests.traces.otlp_bodies import otlp_json, sdk_request  # noqa: E402

WORDS = "the flight from new york to seattle departs at eleven and arrives in the evening".split()


def prose(chars: int, seed: int) -> str:
    words = [WORDS[(seed + i * 7) % len(WORDS)] for i in range(chars // 5)]
    return " ".join(words)[:chars]


def record_typical(tracer: trace.Tracer, traces: int = 128) -> None:
    for n in range(traces):
        common = {"session.id": f"session-{n % 17}", "user.id": f"user-{n % 31}"}
        with tracer.start_as_current_span(
            "invoke_agent support", attributes={**common, "gen_ai.operation.name": "invoke_agent"}
        ):
            with tracer.start_as_current_span("chat gpt-4o", attributes={**common, **chat(n)}):
                pass
            with tracer.start_as_current_span(
                "execute_tool search_flights", attributes={**common, **tool(n)}
            ):
                pass
            with tracer.start_as_current_span(
                "GET", kind=trace.SpanKind.CLIENT, attributes=http(n)
            ):
                pass


def chat(n: int) -> dict:
    user = {"role": "user", "parts": [{"type": "text", "content": prose(400, n)}]}
    answer = {"role": "assistant", "parts": [{"type": "text", "content": prose(800, n + 1)}]}
    return {
        "gen_ai.operation.name": "chat",
        "gen_ai.provider.name": "openai",
        "gen_ai.request.model": "gpt-4o",
        "gen_ai.response.model": "gpt-4o-2024-08-06",
        "gen_ai.system_instructions": json.dumps([{"type": "text", "content": prose(300, n)}]),
        "gen_ai.input.messages": json.dumps([user]),
        "gen_ai.output.messages": json.dumps([answer]),
        "gen_ai.usage.input_tokens": 180 + n,
        "gen_ai.usage.output_tokens": 160,
        "gen_ai.usage.cache_read.input_tokens": 64,
        "gen_ai.response.finish_reasons": ["stop"],
    }


def tool(n: int) -> dict:
    return {
        "gen_ai.operation.name": "execute_tool",
        "gen_ai.tool.name": "search_flights",
        "gen_ai.tool.call.id": f"call_{n}",
        "gen_ai.tool.call.arguments": json.dumps({"origin": "JFK", "destination": "SEA"}),
        "gen_ai.tool.call.result": json.dumps([{"flight": f"HAT{n:03}", "note": prose(300, n)}]),
    }


def http(n: int) -> dict:
    return {
        "http.request.method": "GET",
        "url.full": f"https://api.example.com/flights/{n}",
        "http.response.status_code": 200,
        "server.address": "api.example.com",
    }


def measure(body: bytes, content_type: str, rounds: int) -> tuple[int, float]:
    best = float("inf")
    for _ in range(rounds):
        started = time.process_time()
        decoded = decode_export(body, content_type)
        best = min(best, time.process_time() - started)
    return len(decoded.spans), best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    rounds = parser.parse_args().rounds
    workloads = {
        "typical": sdk_request(record_typical),
        "tau-bench": taubench.export_request(20),
    }
    for name, request in workloads.items():
        bodies = {
            "application/x-protobuf": request.SerializeToString(),
            "application/json": otlp_json(request),
        }
        for content_type, body in bodies.items():
            spans, seconds = measure(body, content_type, rounds)
            print(
                f"{name:10} {content_type:24} {spans:5} spans {len(body) / 1e6:6.2f} MB  "
                f"{spans / seconds:9,.0f} spans/s  {len(body) / seconds / 1e6:6.1f} MB/s"
            )


if __name__ == "__main__":
    main()
