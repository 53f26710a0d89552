"""The client side of `sextant gate`: talks to a Sextant server over its API, no database.

Exit codes: 0 the release passes, 1 it regresses, 2 anything else (server unreachable,
bad input, nothing fit to gate).
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from urllib.parse import parse_qsl
from xml.sax.saxutils import quoteattr

import httpx

PASS, REGRESSION, ERROR = 0, 1, 2
CHUNK_BYTES = 4 * 1024 * 1024  # well within the server's default 10 MB body limit
POLL_S = 1.0


class GateError(Exception):
    """Anything that stops the gate from giving a verdict (exit 2)."""


def parse_baseline(text: str) -> dict:
    """`production`, `production:14` (days) or `release:NAME`."""
    kind, _, value = text.partition(":")
    if kind == "production":
        if value and not value.isdigit():
            raise GateError(f"--baseline production:DAYS needs a whole number of days, not {value!r}")
        return {"kind": "production", "days": int(value or 7)}
    if kind == "release" and value:
        return {"kind": "release", "release": value}
    raise GateError(f"--baseline must be production, production:DAYS or release:NAME, not {text!r}")


def parse_traces_filter(text: str) -> dict:
    """The explorer's filter as its URL's query string (`environment=staging&name=chat`), checked
    here by the same TraceFilter the server reads."""
    from app.traces.filters import FilterError, read_filter

    try:
        return read_filter(dict(parse_qsl(text, strict_parsing=bool(text)))).stored()
    except FilterError as error:
        raise GateError(f"--traces-filter: {error.message}") from None


def chunks(path: str) -> Iterator[bytes]:
    """The file's non-blank lines, in chunks under CHUNK_BYTES (never splitting a line)."""
    buffer: list[bytes] = []
    size = 0
    with open(path, "rb") as handle:
        for line in handle:
            if not line.strip():
                continue
            if buffer and size + len(line) > CHUNK_BYTES:
                yield b"".join(buffer)
                buffer, size = [], 0
            buffer.append(line if line.endswith(b"\n") else line + b"\n")
            size += len(buffer[-1])
    if buffer:
        yield b"".join(buffer)


class GateClient:
    def __init__(self, url: str, api_key: str, timeout: float = 60.0):
        self.http = httpx.Client(base_url=url.rstrip("/") + "/api/v1", timeout=timeout,
                                 headers={"Authorization": f"Bearer {api_key}"})

    def call(self, method: str, path: str, **kwargs) -> dict:
        try:
            response = self.http.request(method, path, **kwargs)
        except httpx.HTTPError as error:
            raise GateError(f"cannot reach the Sextant server: {error}") from None
        if response.status_code >= 400:
            try:
                problem = response.json()["error"]
                detail = f" {json.dumps(problem.get('details'))}" if problem.get("details") else ""
                message = f"{problem['message']}{detail}"
            except (ValueError, KeyError, TypeError):
                message = response.text[:500]
            raise GateError(f"server answered {response.status_code}: {message}")
        return response.json()

    def run(self, *, release: str, file: str | None, traces_filter: dict | None, baseline: dict,
            commit: str | None, trigger: str) -> dict:
        body = {"release": release, "baseline": baseline, "commit": commit, "trigger": trigger}
        if file is None:
            return self.call("POST", "/gate-runs", json={**body, "source": "traces",
                                                         "traces_filter": traces_filter or {}})
        parts = chunks(file)
        first = next(parts, None)
        if first is None:
            raise GateError(f"{file} has no outputs: there is nothing to gate")
        run = self.call("POST", "/gate-runs", json={**body, "source": "file"})
        for chunk in (first, *parts):
            self.call("POST", f"/gate-runs/{run['id']}/outputs", content=chunk,
                      headers={"Content-Type": "application/x-ndjson"})
        return self.call("POST", f"/gate-runs/{run['id']}/start")

    def wait(self, run_id: int, timeout: float) -> dict:
        deadline = time.monotonic() + timeout
        while True:
            run = self.call("GET", f"/gate-runs/{run_id}")
            if run["status"] in ("done", "failed"):
                return run
            if time.monotonic() > deadline:
                raise GateError(f"gate run #{run_id} did not finish within {timeout:.0f} s "
                                f"({run['done']} / {run['total']} evaluated)")
            time.sleep(POLL_S)


def exit_code(run: dict) -> int:
    return {"pass": PASS, "fail": REGRESSION}.get(run.get("verdict") or "", ERROR)


def _pct(value: float | None) -> str:
    return "—" if value is None else f"{100 * value:.1f}%"


def _side(side: dict) -> str:
    text = f"{side['fails']}/{side['n']}"
    return f"{text} {_pct(side['observed'])}→{_pct(side['estimate'])}" if "estimate" in side else text


def _rise(row: dict) -> str:
    if not row.get("ci"):
        return "—"
    low, high = row["ci"]
    return f"{100 * row['difference']:+.1f} pts [{100 * low:+.1f}, {100 * high:+.1f}]"


def format_table(run: dict, server_url: str) -> str:
    report = run.get("report") or {}
    rows = [("issue", "baseline obs→corrected", "candidate obs→corrected", "rise (95% CI)", "decision")]
    for row in report.get("issues", []):
        decision = row["decision"] + (f" ({row['reason']})" if row.get("reason") else "")
        rows.append((row["issue"], _side(row["baseline"]), _side(row["candidate"]), _rise(row), decision))
    widths = [max(len(r[i]) for r in rows) for i in range(4)]
    lines = ["  ".join(cell.ljust(widths[i]) if i < 4 else cell for i, cell in enumerate(r)) for r in rows]
    for left in report.get("excluded", []):
        lines.append(f"left out: {left['name']} ({left['issue']}): {left['reason']}")
    verdict = {"pass": "PASS", "fail": "REGRESSION"}.get(run.get("verdict") or "", "ERROR")
    lines.append(f"{verdict}: gate run #{run['id']} of release {run['release']}"
                 + (f" — {run['error']}" if run.get("error") else ""))
    lines.append(f"report: {server_url.rstrip('/')}/projects/{run['project_id']}/gate-runs/{run['id']}")
    return "\n".join(lines)


def format_junit(run: dict) -> str:
    """One test case per issue; a regression is a failure, an issue that could not decide is skipped."""
    report = run.get("report") or {}
    cases = []
    for row in report.get("issues", []):
        body = ""
        if row["decision"] == "regression":
            body = f"<failure message={quoteattr('failure rate rose: ' + _rise(row))}/>"
        elif row["decision"] != "ok":
            body = f"<skipped message={quoteattr(row.get('reason') or row['decision'])}/>"
        cases.append(f"<testcase classname={quoteattr('sextant.gate')} name={quoteattr(row['issue'])}>"
                     f"{body}</testcase>")
    for left in report.get("excluded", []):
        cases.append(f"<testcase classname={quoteattr('sextant.gate')} name={quoteattr(left['issue'] or left['name'])}>"
                     f"<skipped message={quoteattr('left out: ' + left['reason'])}/></testcase>")
    if run.get("verdict") == "error":
        cases.append(f"<testcase classname={quoteattr('sextant.gate')} name=\"gate\">"
                     f"<error message={quoteattr(run.get('error') or 'error')}/></testcase>")
    failures = sum("<failure" in c for c in cases)
    errors = sum("<error" in c for c in cases)
    skipped = sum("<skipped" in c for c in cases)
    return (f'<?xml version="1.0" encoding="UTF-8"?>\n<testsuite name={quoteattr("sextant gate " + run["release"])} '
            f'tests="{len(cases)}" failures="{failures}" errors="{errors}" skipped="{skipped}">\n'
            + "\n".join(cases) + "\n</testsuite>")
