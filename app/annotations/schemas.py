from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from app.core.types import Id
from app.traces.filters import FILTER_FIELDS


class QueueCreate(BaseModel):
    name: str = Field(min_length=1, max_length=200)
    instructions: str = Field(default="", max_length=50_000, description="Markdown")
    annotators_per_item: int = Field(default=1, ge=1, le=5)
    filter: dict = Field(default_factory=dict, description=f"Explorer filter fields: {', '.join(FILTER_FIELDS)}")
    sampling_rate: float = Field(default=1.0, gt=0, le=1)
    cap: int | None = Field(default=None, ge=1, le=2**31 - 1)
    live: bool = False
    member_ids: list[Id] = Field(default_factory=list, description="Empty: every annotator and admin")


class QueueRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    name: str
    instructions: str
    annotators_per_item: int
    filter: dict
    sampling_rate: float
    cap: int | None
    live: bool
    created_at: datetime


class QueueItemsAdd(BaseModel):
    trace_ids: list[Id] = Field(default_factory=list, max_length=10_000)
    matching: dict | None = Field(default=None, description="Add every trace matching this explorer filter")
    limit: int = Field(default=10_000, ge=1, le=100_000, description="At most this many for `matching`")

    @model_validator(mode="after")
    def one_source(self):
        if bool(self.trace_ids) == (self.matching is not None):
            raise ValueError("give either trace_ids or matching")
        return self


class QueueItemsAdded(BaseModel):
    added: int


class AnnotationCreate(BaseModel):
    """A label for a trace: for importing existing labels, or annotating from code."""

    trace_id: Id | None = None
    trace_external_id: str | None = Field(default=None, max_length=256)
    verdict: Literal["pass", "fail"]
    feedback: str = Field(default="", max_length=20_000, description="Required when the verdict is fail")
    issue_ids: list[Id] = Field(default_factory=list)
    issues: list[str] = Field(default_factory=list, description="Issue titles; unknown titles create issues")
    corrected_output: str | None = None
    annotator: str = Field(default="api", min_length=1, max_length=100,
                           description="Who made the label (for API-key imports)")

    @model_validator(mode="after")
    def one_trace(self):
        if (self.trace_id is None) == (self.trace_external_id is None):
            raise ValueError("give either trace_id or trace_external_id")
        return self


class AnnotationRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    trace_id: int
    annotator: str
    verdict: str
    feedback: str
    corrected_output: str | None
    created_at: datetime
    updated_at: datetime
    issue_ids: list[int] = Field(default_factory=list)


class LabelRead(BaseModel):
    trace_id: int
    verdict: str | None
    issue_ids: list[int]
    source: str
    reason: str
