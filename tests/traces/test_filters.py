"""The one trace filter: old explorer links, stored queue filters and API query strings read as
before; bad values (NUL bytes among them) are refused clearly."""

from datetime import datetime, timedelta, timezone

import pytest
from starlette.requests import Request

from app.core.errors import Unprocessable
from app.traces import views
from app.traces.filters import TraceFilter, parse_utc, read_filter
from tests.traces.test_views import NOW, auth, flat, listed, list_page, send, viewer  # noqa: F401 (fixtures)

UTC = timezone.utc


def explorer_filter(query: str) -> TraceFilter:
    return views.list_query(Request({"type": "http", "query_string": query.encode(), "headers": []})).filters


# What the explorer made of its URLs before the one filter (worked out from the old
# `list_query`: values trimmed, blanks dropped, `from`/`to` naive means UTC), as the fields that
# differ from the defaults.
OLD_EXPLORER_URLS = [
    ("", {}),
    ("q=refund+window", {"q": "refund window"}),
    ("name=support_chat&model=gpt-4o&tag=vip&release=v2&environment=prod&session_id=s-1&user_id=u-9",
     {"name": "support_chat", "model": "gpt-4o", "tag": "vip", "release": "v2", "environment": "prod",
      "session_id": "s-1", "user_id": "u-9"}),
    ("name=+support_chat+&tag=&model=%20", {"name": "support_chat"}),
    ("status=error&annotated=no&sort=latency&order=asc",
     {"status": "error", "annotated": "no", "sort": "latency", "order": "asc"}),
    ("annotated=fail&sort=cost", {"annotated": "fail", "sort": "cost"}),
    ("range=custom&from=2026-01-31T14:00&to=2026-02-01T09:30",
     {"start_from": datetime(2026, 1, 31, 14, tzinfo=UTC), "start_to": datetime(2026, 2, 1, 9, 30, tzinfo=UTC)}),
    ("from=2026-01-31T14:00%2B02:00", {"start_from": datetime(2026, 1, 31, 12, tzinfo=UTC)}),
    ("range=&from=&to=2026-03-01T00:00:00Z", {"start_to": datetime(2026, 3, 1, tzinfo=UTC)}),
    ("sort=&order=", {}),
    ("cursor=abc&unknown=1&q=x", {"q": "x"}),
]


@pytest.mark.parametrize(("query", "expected"), OLD_EXPLORER_URLS)
def test_old_explorer_links_read_as_before(query, expected):
    assert explorer_filter(query).model_dump(exclude_defaults=True) == expected


def test_a_time_preset_moves_with_the_clock_and_wins_over_from_and_to():
    before = datetime.now(UTC)
    filters = explorer_filter("range=24h&from=2020-01-01T00:00&to=2020-01-02T00:00")
    after = datetime.now(UTC)
    assert before - timedelta(days=1) <= filters.start_from <= after - timedelta(days=1)
    assert filters.start_to is None


# Stored queue and backfill filters, as the old forms wrote them.
OLD_STORED = [
    ({"annotated": "no"}, {"annotated": "no"}),
    ({"environment": "prod", "start_from": "2025-12-31T00:00:00+00:00"},
     {"environment": "prod", "start_from": "2025-12-31T00:00:00+00:00"}),
    ({"start_from": "2026-01-31T14:00:00+02:00", "start_to": "2026-02-01T00:00:00"},
     {"start_from": "2026-01-31T12:00:00+00:00", "start_to": "2026-02-01T00:00:00+00:00"}),
    ({"status": "error", "q": "refund", "tag": "vip", "annotated": "pass"},
     {"status": "error", "q": "refund", "tag": "vip", "annotated": "pass"}),
]


@pytest.mark.parametrize(("stored", "kept"), OLD_STORED)
def test_old_stored_filters_read_and_store_as_before(stored, kept):
    assert read_filter(stored).stored() == kept
    assert read_filter(kept) == read_filter(stored)


def test_the_one_date_parser():
    assert parse_utc("2026-01-31T14:00") == datetime(2026, 1, 31, 14, tzinfo=UTC)
    assert parse_utc("2026-01-31T14:00-05:00") == datetime(2026, 1, 31, 19, tzinfo=UTC)
    assert parse_utc("2026-01-31T14:00-05:00").tzinfo == UTC
    assert parse_utc(datetime(2026, 1, 31, 14)) == datetime(2026, 1, 31, 14, tzinfo=UTC)
    with pytest.raises(ValueError):
        parse_utc("31/01/2026")


@pytest.mark.parametrize(("query", "field"), [
    ("q=a%00b", "q"), ("tag=%00", "tag"), ("from=yesterday", "start_from"), ("sort=size", "sort"),
    ("issue=0", "issue"), ("evaluator=x", "evaluator"), ("name=" + "n" * 513, "name"),
])
def test_the_explorer_refuses_what_it_cannot_read_and_names_the_field(query, field):
    with pytest.raises(Unprocessable) as refused:
        explorer_filter(query)
    assert refused.value.details == {"field": field}


def test_the_api_reads_the_same_query_strings(viewer, auth, project):  # noqa: F811
    send(viewer, auth, flat("a", environment="prod", tags=["vip"]), flat("b", minutes_ago=1, environment="dev"),
         flat("c", minutes_ago=2, seconds=5, environment="prod"))

    def api(query: str) -> list[str]:
        response = viewer.get(f"/api/v1/traces?{query}", headers=auth)
        assert response.status_code == 200, response.text
        return [item["external_id"] for item in response.json()["items"]]

    # Each query string: what the API and the explorer list (worked out by hand).
    cases = {"": ["a", "b", "c"], "environment=prod": ["a", "c"], "environment=prod&order=asc": ["c", "a"],
             "tag=vip": ["a"], "environment=%20dev%20": ["b"], "name=&environment=": ["a", "b", "c"],
             "sort=latency&order=desc&environment=prod": ["c", "a"]}
    for query, expected in cases.items():
        assert api(query) == expected, query
        assert listed(list_page(viewer, project, "?" + query)) == expected, query
    # The API takes start_from/start_to, the explorer from/to: both spellings mean the same.
    since = (NOW - timedelta(seconds=90)).strftime("%Y-%m-%dT%H:%M:%S")
    assert api(f"start_from={since}") == api(f"from={since}") == ["a", "b"]


NUL_QUERIES = ["q=a%00b", "name=%00", "session_id=x%00y"]


@pytest.mark.parametrize("query", NUL_QUERIES)
def test_nul_bytes_are_a_422_in_the_api(viewer, auth, query):  # noqa: F811
    response = viewer.get(f"/api/v1/traces?{query}", headers=auth)
    assert response.status_code == 422
    error = response.json()["error"]
    assert error["code"] == "validation_error" and "must not contain NUL characters" in str(error["details"])


@pytest.mark.parametrize("query", NUL_QUERIES)
def test_nul_bytes_are_a_message_in_the_explorer(viewer, project, query):  # noqa: F811
    page = viewer.get(f"/projects/{project.id}/traces?{query}")
    assert page.status_code == 422
    assert "must not contain NUL characters" in page.text
