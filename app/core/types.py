"""Bounded values shared by routes and schemas, so input that the database cannot hold is refused
at the edge with a 422 (naming the field) rather than failing inside a query with a 500.

`Id`: a row id, as typed in a path, a query string, a form or a JSON body. Every id column is a
Postgres BIGINT, so an id beyond 2^63 - 1 names nothing.
`Timestamp`: a moment sent over the API. ISO 8601 allows UTC offsets up to ±23:59, Postgres
only up to ±15:59 (and no place on Earth is beyond ±14:00).
"""

from datetime import datetime, timedelta
from typing import Annotated

from pydantic import AfterValidator, Field

MAX_ID = 2**63 - 1
MAX_UTC_OFFSET = timedelta(hours=15, minutes=59)

Id = Annotated[int, Field(ge=1, le=MAX_ID)]


def _offset_storable(moment: datetime) -> datetime:
    offset = moment.utcoffset()
    if offset is not None and abs(offset) > MAX_UTC_OFFSET:
        raise ValueError("the UTC offset must be between -15:59 and +15:59")
    return moment


Timestamp = Annotated[datetime, AfterValidator(_offset_storable)]
