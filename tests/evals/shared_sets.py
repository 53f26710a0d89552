"""The shared labelled data sets as Sextant trace views (for tests and bench/evals.py)."""

from __future__ import annotations

import csv
import json
from collections import defaultdict
from pathlib import Path
from typing import Any

from tests.datasets import shared_data_dir


def tau_bench_airline(path: Path | None = None) -> list[dict[str, Any]]:
    """200 airline conversations; reward 1 = pass. Grouped by task: the 4 trials are near-duplicates."""
    path = path or shared_data_dir() / "tau-bench-airline" / "gpt-4o-airline.json"
    return [_tau_view(record) for record in json.loads(Path(path).read_text())]


def _tau_view(record: dict[str, Any]) -> dict[str, Any]:
    traj = record["traj"]
    messages = []
    for message in traj:
        calls = [
            {"id": c.get("id", ""), "name": c["function"]["name"], "arguments": c["function"]["arguments"]}
            for c in message.get("tool_calls") or []
        ]
        entry = {"role": message["role"], "content": message.get("content") or ""}
        if calls:
            entry["tool_calls"] = calls
        for key in ("tool_call_id", "name"):
            if message.get(key):
                entry[key] = message[key]
        messages.append(entry)
    user = [m["content"] for m in messages if m["role"] == "user"]
    assistant = [m["content"] for m in messages if m["role"] == "assistant" and m["content"]]
    system = "\n".join(m["content"] for m in messages if m["role"] == "system")
    return {
        "id": f"{record['task_id']}-{record['trial']}",
        "input": user[0] if user else "",
        "output": assistant[-1] if assistant else "",
        "label": "pass" if record["reward"] >= 1 else "fail",
        "group": str(record["task_id"]),
        "system": system,
        "messages": messages,
        "spans": _tau_spans(messages),
    }


def _tau_spans(messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    results = {m.get("tool_call_id"): m["content"] for m in messages if m["role"] == "tool"}
    spans = []
    for message in messages:
        for call in message.get("tool_calls", []):
            result = results.get(call["id"], "")
            failed = result.lower().startswith("error")
            spans.append(
                {
                    "name": call["name"],
                    "kind": "tool",
                    "status": "error" if failed else "ok",
                    "error": result if failed else None,
                    "tool_name": call["name"],
                    "tool_arguments": call["arguments"],
                }
            )
    return spans


def tofueval(folder: Path | None = None) -> list[dict[str, Any]]:
    """Topic-focused summaries; one summary = rows sharing (doc_id, annotation_id, model_name).

    A summary fails when any sentence is judged inconsistent; grouped by source document.
    """
    folder = folder or shared_data_dir() / "tofueval"
    summaries: dict[tuple, list[dict[str, str]]] = defaultdict(list)
    for path in sorted(Path(folder).glob("*.csv")):
        with path.open(newline="", encoding="utf-8") as handle:
            for row in csv.DictReader(handle):
                summaries[(path.stem, row["doc_id"], row["annotation_id"], row["model_name"])].append(row)
    views = []
    for (source, doc_id, annotation_id, model), rows in summaries.items():
        rows.sort(key=lambda r: int(r["sent_idx"]))
        failed = [r for r in rows if r["sent_label"].strip().lower() == "no"]
        views.append(
            {
                "id": f"{source}:{doc_id}:{annotation_id}:{model}",
                "input": rows[0]["topic"],
                "output": " ".join(r["summ_sent"] for r in rows),
                "label": "fail" if failed else "pass",
                "feedback": " ".join(r["exp"] for r in failed if r["exp"]),
                "group": doc_id,
                "metadata": {"model": model},
            }
        )
    return views
