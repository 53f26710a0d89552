from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field


class ProjectCreate(BaseModel):
    name: str = Field(min_length=1, max_length=200)


class ProjectUpdate(BaseModel):
    name: str = Field(min_length=1, max_length=200)


class ProjectRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    name: str
    organization_id: int
    created_at: datetime
    role: str | None = None


class ApiKeyCreate(BaseModel):
    name: str = Field(default="", max_length=200)


class ApiKeyRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    name: str
    prefix: str
    created_at: datetime
    last_used_at: datetime | None
    revoked_at: datetime | None


class ApiKeyCreated(ApiKeyRead):
    key: str = Field(description="The key itself. Shown once; store it now.")


class UserRead(BaseModel):
    id: int
    email: str
    name: str
    projects: list[ProjectRead]


class MemberCreate(BaseModel):
    email: str
    password: str
    role: str = "annotator"
    name: str = ""


class MemberRead(BaseModel):
    user_id: int
    email: str
    name: str
    role: str
