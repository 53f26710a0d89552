"""Synthetic labelled traces with a planted failure mode (for tests and benchmarks).

Customer-support-like conversations with tool calls and spans, ~1.5 KB each.
A failing trace shows the failure through one of several signs (a phrase in
the output, a wrong tool call, an error span), and a share of labels is
flipped to model annotator disagreement, so no evaluator is perfect.
"""

from __future__ import annotations

import json
import random
from typing import Any

TOPICS = ["baggage", "refund", "seat", "upgrade", "cancellation", "meal", "wifi", "pet", "lounge", "delay"]
FILLER = (
    "thank you for contacting us today I can help you with that request let me check the details "
    "of your booking please hold on while I look this up the reservation shows two passengers "
    "travelling next week and the fare includes one checked bag per person our policy allows changes "
    "up to twenty four hours before departure without a fee otherwise a small charge applies"
).split()
FAIL_PHRASES = ["refund within {n} days guaranteed", "we always waive every fee", "I promise compensation"]


def _sentence(rng: random.Random, words: int) -> str:
    return " ".join(rng.choice(FILLER) for _ in range(words)).capitalize() + "."


def synthetic_trace(i: int, rng: random.Random, fail: bool, *, label_noise: float = 0.0) -> dict[str, Any]:
    topic = rng.choice(TOPICS)
    answer = " ".join(_sentence(rng, rng.randint(8, 18)) for _ in range(rng.randint(5, 9)))
    tool = "lookup_booking"
    arguments: dict[str, Any] = {"booking_id": f"B{rng.randint(1000, 9999)}", "topic": topic}
    span_status = "ok"
    if fail:
        sign = rng.random()
        if sign < 0.6:
            answer += " " + rng.choice(FAIL_PHRASES).format(n=rng.randint(3, 30))
        elif sign < 0.85:
            tool, arguments = "issue_refund", {"amount": rng.randint(50, 900), "reason": topic}
        else:
            span_status = "error"
    label_fail = fail if rng.random() >= label_noise else not fail
    question = f"Hello, I have a question about my {topic}. " + _sentence(rng, rng.randint(6, 12))
    return {
        "id": f"t{i}",
        "input": question,
        "output": answer,
        "label": "fail" if label_fail else "pass",
        "feedback": "promised something we cannot keep" if label_fail else "",
        "group": f"s{i // 2}",
        "metadata": {"channel": rng.choice(["web", "app", "phone"])},
        "messages": [
            {"role": "user", "content": question},
            {"role": "assistant", "content": "", "tool_calls": [{"id": "c1", "name": tool, "arguments": json.dumps(arguments)}]},
            {"role": "tool", "tool_call_id": "c1", "name": tool, "content": '{"status": "found"}'},
            {"role": "assistant", "content": answer},
        ],
        "spans": [
            {"name": "llm", "kind": "llm", "status": "ok", "latency_ms": rng.randint(300, 2500),
             "tokens_in": rng.randint(200, 900), "tokens_out": rng.randint(50, 400)},
            {"name": tool, "kind": "tool", "status": span_status, "tool_name": tool,
             "tool_arguments": json.dumps(arguments), "latency_ms": rng.randint(5, 80)},
        ],
    }


def synthetic_traces(n: int, *, seed: int = 0, fail_rate: float = 0.4, label_noise: float = 0.05) -> list[dict[str, Any]]:
    rng = random.Random(seed)
    return [synthetic_trace(i, rng, rng.random() < fail_rate, label_noise=label_noise) for i in range(n)]


def random_labels(traces: list[dict[str, Any]], *, seed: int = 0) -> list[dict[str, Any]]:
    """Same traces, labels drawn at random: nothing to learn.

    The label stream must not be the stream that wrote the traces (same seed
    -> same draws), or labels would echo trace content.
    """
    rng = random.Random(f"labels-{seed}")
    return [{**t, "label": "fail" if rng.random() < 0.5 else "pass"} for t in traces]
