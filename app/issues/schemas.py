from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from app.core.types import Id
from app.issues.lifecycle import State

SortKey = Literal["occurrences", "trend", "last_seen"]


class IssueCreate(BaseModel):
    title: str = Field(min_length=1, max_length=300)
    description: str = Field(default="", max_length=20_000, description="The definition an annotator can apply")


class IssueUpdate(BaseModel):
    title: str | None = Field(default=None, min_length=1, max_length=300)
    description: str | None = Field(default=None, max_length=20_000)


class TransitionCreate(BaseModel):
    to_state: State
    reason: str = Field(default="", max_length=5_000,
                        description="Required to resolve (what was fixed, which release) or to ignore")


class MergeCreate(BaseModel):
    target_id: Id = Field(description="The issue that absorbs this one")


class EvaluatorFigureRead(BaseModel):
    id: int
    name: str
    active: bool
    version: int | None
    mcc: float | None
    mcc_ci_low: float | None
    mcc_ci_high: float | None
    version_is_active: bool = Field(description="False: figures of the latest ready version, never activated")
    fit_for_gating: bool


class IssueEventRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    at: datetime
    actor: str
    kind: str
    from_state: str | None
    to_state: str | None
    reason: str


class IssueRead(BaseModel):
    id: int
    project_id: int
    title: str
    description: str
    state: str
    first_seen: datetime | None
    last_seen: datetime | None
    resolved_at: datetime | None
    merged_into_id: int | None
    created_at: datetime
    url: str
    occurrences_human: int = Field(description="Traces whose human label is a fail naming this issue")
    occurrences_detected: int = Field(description="Traces failed by an active evaluator of this issue")
    affected_traces: int = Field(description="Distinct traces in either set")
    trend: list[int] = Field(description="Affected traces per UTC day, the last 14 days, oldest first")
    allowed_transitions: list[str] = Field(description="States a person may move it to now")
    evaluators: list[EvaluatorFigureRead]


class IssueDetail(IssueRead):
    history: list[IssueEventRead]
