from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from app.core.types import Id


class GenerateRequest(BaseModel):
    issue_id: Id


class ManualEvaluatorCreate(BaseModel):
    issue_id: Id
    name: str = Field(min_length=1, max_length=300)
    spec: dict[str, Any] = Field(description="An evaluator spec: rule, regex, structure, or judge prompt")


class ManualVersionCreate(BaseModel):
    spec: dict[str, Any] = Field(description="The edited spec; scored now, active once activated")


class EvaluatorUpdate(BaseModel):
    sampling_rate: float = Field(gt=0, le=1)


class VersionRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    number: int
    status: str
    error: str | None
    family: str | None
    spec: dict | None
    mcc: float | None
    mcc_ci_low: float | None
    mcc_ci_high: float | None
    tpr: float | None
    tnr: float | None
    metrics: dict
    train_size: int | None
    holdout_size: int | None
    created_at: datetime
    finished_at: datetime | None
    no_better_than_chance: bool = False
    chance_reason: str | None = Field(default=None, description="Why it is no better than chance, in words")


class EvaluatorRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    issue_id: int | None
    name: str
    origin: str
    active: bool
    active_version_id: int | None
    sampling_rate: float
    drift: dict | None
    fit_for_gating: bool = False
    no_better_than_chance: bool = Field(default=False, description="The version shown (active, else latest) is no "
                                        "better than chance: retire or refine it")
    chance_reason: str | None = None
    versions: list[VersionRead] = Field(default_factory=list)


class BackfillCreate(BaseModel):
    evaluator_ids: list[Id] = Field(min_length=1)
    filter: dict = Field(default_factory=dict, description="Explorer filter fields, e.g. start_from/start_to")


class RunRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    kind: str
    status: str
    evaluator_version_ids: list[int]
    filter: dict
    total: int
    done: int
    created_at: datetime
    finished_at: datetime | None


class FailureRate(BaseModel):
    observed: float | None
    n: int
    estimate: float | None
    ci: list[float | None] | None
    reason: str | None = None
    ci_method: str | None = Field(default=None, description="What the interval accounts for")
