"""Response models of the API itself: the one error shape and the health probes."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field


class ErrorRead(BaseModel):
    """The one error shape every endpoint answers with."""

    error: str = Field(..., description="a stable machine-readable code, e.g. invalid_input")
    detail: str = Field(..., description="what went wrong and what to do about it")


class HealthRead(BaseModel):
    status: Literal["ok", "unavailable"]
    checks: dict[str, str] = Field(default_factory=dict)
