"""The audit page: filters, keyset pages that neither skip nor repeat, streamed CSV/JSONL export."""

import csv
import io
import json
from datetime import datetime, timedelta, timezone

from sqlalchemy import insert

from app.audit.models import AuditEvent
from tests.factories import PASSWORD

START = datetime(2026, 11, 1, 12, 0, tzinfo=timezone.utc)


def _seed(db, project, count: int) -> list[dict]:
    """`count` events, one per hour, alternating two actors and two actions; a few share a time."""
    rows = [{"at": START + timedelta(hours=i // 2 * 2), "actor": f"user:{1 + i % 2}",
             "action": "api_key.created" if i % 3 == 0 else "issue.merged",
             "target": f"thing:{i}", "project_id": project.id, "data": {"i": i, "note": "<b>x</b>"}}
            for i in range(count)]
    db.execute(insert(AuditEvent), rows)
    db.flush()
    return rows


def _admin(client, factory):
    client.login(factory.user("admin").email, PASSWORD)


def _shown_targets(html: str) -> list[str]:
    return [line.strip()[4:-5] for line in html.splitlines() if line.strip().startswith("<td>thing:")]


def test_pages_walk_every_filtered_event_newest_first_without_gaps(client, factory, db, project):
    rows = _seed(db, project, 130)
    _admin(client, factory)
    expected = sorted((r for r in rows if r["action"] == "issue.merged"),
                      key=lambda r: (r["at"], int(r["target"].split(":")[1])), reverse=True)
    # ids rise with i, so within one time newer ids come first, as the page orders them.
    seen, url = [], f"/projects/{project.id}/audit?action=issue."
    while url:
        response = client.get(url)
        assert response.status_code == 200
        seen += _shown_targets(response.text)
        marker = 'id="older" href="'
        url = response.text.split(marker)[1].split('"')[0].replace("&amp;", "&") if marker in response.text else None
    assert seen == [r["target"] for r in expected]
    page = client.get(f"/projects/{project.id}/audit").text
    assert "<b>x</b>" not in page and "\\u003cb\\u003ex" in page  # hostile data is escaped


def test_export_streams_the_filtered_events_as_jsonl_and_csv(client, factory, db, project):
    rows = _seed(db, project, 40)
    _admin(client, factory)
    day = (START + timedelta(days=1)).date().isoformat()
    query = f"action=api_key.&since={day}&until={day}"
    expected = [r for r in rows if r["action"] == "api_key.created" and r["at"].date().isoformat() == day]
    assert expected  # the filter keeps some and drops some
    assert len(expected) < len(rows)

    jsonl = client.get(f"/projects/{project.id}/audit/export?format=jsonl&{query}")
    assert jsonl.status_code == 200 and jsonl.headers["content-type"].startswith("application/x-ndjson")
    got = [json.loads(line) for line in jsonl.text.splitlines()]
    assert sorted(g["target"] for g in got) == sorted(r["target"] for r in expected)
    assert all(g["data"]["note"] == "<b>x</b>" for g in got)

    table = list(csv.DictReader(io.StringIO(client.get(f"/projects/{project.id}/audit/export?format=csv&{query}").text)))
    assert [(t["target"], json.loads(t["data"])) for t in table] == [(g["target"], g["data"]) for g in got]


def test_bad_filters_get_a_clear_error(client, factory, project):
    _admin(client, factory)
    response = client.get(f"/projects/{project.id}/audit/export?format=xml")
    assert response.status_code == 422 and "format must be one of jsonl, csv" in response.text
    assert client.get(f"/projects/{project.id}/audit?since=yesterday").status_code == 422
    assert client.get(f"/projects/{project.id}/audit?before=garbage").status_code == 422
