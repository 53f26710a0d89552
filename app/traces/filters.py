"""The one trace filter: what the explorer, `GET /api/v1/traces`, annotation queues and backfills
select traces by (and, when they land, exports and the CI gate).

Pure pydantic, no web framework and no database, so a CLI or a worker can read a filter too.
Each field's `title` is its label in forms; the API reads the same model from its query string
(`Annotated[TraceFilter, Query()]`), the explorer from its URL (which also says `from`/`to`),
and queues and backfills store `stored(...)` of it as JSON.
"""

from collections.abc import Mapping
from datetime import datetime, timezone
from typing import Any, Literal

from pydantic import (AliasChoices, BaseModel, ConfigDict, Field, PrivateAttr, ValidationError, field_validator,
                      model_validator)

MAX_TEXT = 512
MAX_SEARCH = 500
SORTS = ("time", "latency", "tokens", "cost")
ANNOTATION_CHOICES = {"yes": "Annotated", "no": "Not annotated", "fail": "Labelled failed",
                      "pass": "Labelled passed"}
VERDICT_CHOICES = {"fail": "Failed", "pass": "Passed"}
STATUS_CHOICES = {"ok": "OK", "error": "Error"}
DATE_HINT = "a date and time like 2026-01-31T14:00"
DATE_FIELDS = ("start_from", "start_to")


def parse_utc(value: str | datetime) -> datetime:
    """A moment as typed or stored (ISO 8601, `2026-01-31T14:00`, with or without an offset), in UTC.

    Without an offset it is read as UTC: every page shows times in UTC. The one date parser of
    filters, forms and stored filters.
    """
    moment = value if isinstance(value, datetime) else datetime.fromisoformat(value.strip())
    return moment.replace(tzinfo=timezone.utc) if moment.tzinfo is None else moment.astimezone(timezone.utc)


def _text(title: str, max_length: int = MAX_TEXT, **extra: Any):
    return Field(default=None, title=title, max_length=max_length, **extra)


class TraceFilter(BaseModel):
    """Which traces, and in what order. Empty or blank values mean "any"."""

    model_config = ConfigDict(frozen=True, populate_by_name=True)
    _blind_for: str | None = PrivateAttr(default=None)  # set by `seen_blind_by`, never by a query

    q: str | None = _text("Words in input or output", MAX_SEARCH,
                          description="Full-text search of input and output")
    start_from: datetime | None = Field(default=None, title="From (UTC)",
                                        validation_alias=AliasChoices("start_from", "from"),
                                        description="Traces started at or after this time (no offset: UTC)")
    start_to: datetime | None = Field(default=None, title="To (UTC)",
                                      validation_alias=AliasChoices("start_to", "to"),
                                      description="Traces started before this time (no offset: UTC)")
    name: str | None = _text("Trace name")
    model: str | None = _text("Model")
    tag: str | None = _text("Tag")
    release: str | None = _text("Release")
    environment: str | None = _text("Environment")
    session_id: str | None = _text("Session")
    user_id: str | None = _text("User")
    status: Literal["error", "ok"] | None = Field(default=None, title="Status")
    annotated: Literal["yes", "no", "fail", "pass"] | None = Field(
        default=None, title="Annotation",
        description="yes/no: has an annotation or none; fail/pass: the trace's human label (an "
                    "adjudication, else the annotators' majority; a tie is neither)")
    evaluator: int | None = Field(default=None, title="Evaluator", ge=1, le=2**63 - 1,
                                  description="Traces judged by this evaluator's active version")
    evaluator_verdict: Literal["fail", "pass"] | None = Field(
        default=None, title="Evaluator verdict", description="With `evaluator`: only this verdict")
    issue: int | None = Field(default=None, title="Issue", ge=1, le=2**63 - 1,
                              description="Traces people labelled with this issue, or its active "
                                          "evaluators failed")
    sort: Literal["time", "latency", "tokens", "cost"] = Field(default="time", title="Sort by")
    order: Literal["asc", "desc"] = Field(default="desc", title="Order")

    @field_validator("*", mode="before")
    @classmethod
    def _as_typed(cls, value: Any, info) -> Any:
        """Text as typed: trimmed, blank means "any" (or the default order), no NUL (Postgres cannot
        store one); times through the one UTC parser."""
        if not isinstance(value, str):
            return parse_utc(value) if isinstance(value, datetime) else value
        if "\x00" in value:
            raise ValueError("must not contain NUL characters")
        value = value.strip()
        if not value:
            return cls.model_fields[info.field_name].default
        if info.field_name in DATE_FIELDS:
            try:
                return parse_utc(value)
            except ValueError:
                raise ValueError(f"must be {DATE_HINT}") from None
        return value

    @model_validator(mode="after")
    def _verdict_needs_evaluator(self) -> "TraceFilter":
        if self.evaluator_verdict and self.evaluator is None:
            raise ValueError("an evaluator verdict needs an evaluator")
        return self

    def stored(self) -> dict[str, Any]:
        """The filter as JSON to keep (a queue's, a run's): only what was set, times in ISO 8601."""
        return {name: value.isoformat() if isinstance(value, datetime) else value
                for name, value in self.model_dump(exclude_defaults=True).items()}

    @property
    def filtered(self) -> bool:
        """Whether anything narrows the traces (sorting does not)."""
        return bool(self.model_dump(exclude_defaults=True, exclude={"sort", "order"}))

    @property
    def reveals_labels(self) -> bool:
        """Whether the filter selects by what people judged (a label or an issue)."""
        return self.annotated in ("fail", "pass") or self.issue is not None

    def seen_blind_by(self, annotator: str) -> "TraceFilter":
        """This filter as an annotator may use it: labelling is blind, so a filter on people's
        verdicts leaves out the traces still open in a queue that this annotator has not judged."""
        copy = self.model_copy()
        copy._blind_for = annotator
        return copy


FILTER_FIELDS = tuple(name for name in TraceFilter.model_fields if name not in ("sort", "order"))
TEXT_FIELDS = tuple(name for name, f in TraceFilter.model_fields.items()
                    if f.annotation == (str | None))
LABELS = {name: f.title for name, f in TraceFilter.model_fields.items()}
_ALIASES = {"from": "start_from", "to": "start_to"}


class FilterError(ValueError):
    """A filter that cannot be read, with a message for people and the field it is about."""

    def __init__(self, message: str, field: str | None):
        super().__init__(message)
        self.message, self.field = message, field


def read_filter(values: Mapping[str, Any]) -> TraceFilter:
    """A filter from a URL's parameters, a form or a stored filter; unknown names are ignored."""
    try:
        return TraceFilter.model_validate(dict(values))
    except ValidationError as error:
        raise FilterError(*_explained(error)) from None


def _explained(error: ValidationError) -> tuple[str, str | None]:
    first = error.errors()[0]
    name = _ALIASES.get(str(first["loc"][0]), str(first["loc"][0])) if first["loc"] else None
    message = first["msg"].removeprefix("Value error, ")
    if name is None:
        return message[:1].upper() + message[1:] + ".", None
    kind, context = first["type"], first.get("ctx") or {}
    if kind == "literal_error":
        message = "must be " + context["expected"].replace("'", "")
    elif kind == "string_too_long":
        message = f"must be at most {context['max_length']} characters"
    elif kind in ("int_parsing", "int_from_float", "greater_than_equal", "less_than_equal"):
        message = "must be an id (a whole number)"
    else:
        message = message[:1].lower() + message[1:]
    return f"{LABELS.get(name, name)} ({name}) {message}.", name
