"""Counting the SQL statements one page load runs (the no-N+1 tests)."""

from sqlalchemy import event

from app.core.db import get_engine


def page_statements(db, client, url: str) -> list[str]:
    """The statements a GET of `url` runs, transaction scaffolding aside. Expiring first makes
    every object the page needs a query: otherwise whether the user or the project is still in
    the shared session's identity map (which holds them weakly) would depend on when the
    garbage collector last ran."""
    db.flush()
    db.expire_all()
    statements: list[str] = []

    def record(*args):
        if "SAVEPOINT" not in args[2]:
            statements.append(args[2])

    event.listen(get_engine(), "before_cursor_execute", record)
    try:
        response = client.get(url)
    finally:
        event.remove(get_engine(), "before_cursor_execute", record)
    assert response.status_code == 200, response.text
    return statements
