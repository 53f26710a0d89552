from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from app.traces.filters import TraceFilter


class GateBaseline(BaseModel):
    """What the candidate is compared with: production traffic of the last `days`, or a named release."""

    kind: Literal["production", "release"] = "production"
    days: int = Field(default=7, ge=1, le=365)
    release: str | None = Field(default=None, max_length=200)

    @model_validator(mode="after")
    def _release_named(self):
        if self.kind == "release" and not self.release:
            raise ValueError("a release baseline needs 'release'")
        return self


class GateRunCreate(BaseModel):
    release: str = Field(min_length=1, max_length=200, description="The candidate release")
    source: Literal["file", "traces"] = Field(
        description="file: upload JSONL outputs to /gate-runs/{id}/outputs, then POST /start; "
                    "traces: the project's traces of this release (optionally filtered), queued at once")
    traces_filter: TraceFilter = Field(default_factory=TraceFilter,
                                       description="The explorer's filter (environment, name, tag, from…); "
                                                   "the release is the candidate's")
    baseline: GateBaseline = Field(default_factory=GateBaseline)
    commit: str | None = Field(default=None, max_length=100)
    trigger: str = Field(default="", max_length=300, description="Who or what ran it (a CI job URL, say)")


class GateRunSummary(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    project_id: int
    release: str
    commit: str | None
    trigger: str
    source: str
    traces_filter: dict
    baseline: dict
    thresholds: dict
    status: str
    verdict: str | None
    total: int
    done: int
    error: str | None
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None


class GateRunRead(GateRunSummary):
    report: dict


class OutputsReceived(BaseModel):
    received: int
    total: int


class GateThresholds(BaseModel):
    max_increase: float = Field(ge=0, le=1, description="Largest allowed rise of an issue's corrected failure rate")
    min_sample: int = Field(ge=1, le=10_000_000, description="Fewest evaluated outputs on each side to decide")


class GateThresholdsRead(GateThresholds):
    gate_min_mcc: float
