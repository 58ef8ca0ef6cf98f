"""Base classes for request and response bodies."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, field_validator


class RequestBody(BaseModel):
    """Unknown fields are refused (422), so `role` or `status` can't be smuggled in."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    @field_validator("*", mode="after")
    @classmethod
    def _no_control_nul(cls, value: Any) -> Any:
        # Text with NUL can't be stored by every backend (PostgreSQL refuses it); refuse it here.
        if isinstance(value, str) and "\x00" in value:
            raise ValueError("must not contain NUL characters")
        return value


class ResponseBody(BaseModel):
    model_config = ConfigDict(from_attributes=True)
