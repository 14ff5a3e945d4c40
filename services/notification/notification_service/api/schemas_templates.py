"""Shapes of the admin's template management: what the product needs at Meta against what the WABA has, and the
result of submitting the missing ones."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field


class WabaTemplateOut(BaseModel):
    id: str | None = None
    status: str
    category: str | None = None


class PlanItemOut(BaseModel):
    name: str
    language: str = Field(description="Meta's language code")
    category: str = Field(description="The category the product asks for")
    components: list[dict[str, Any]] = Field(description="Meta's create-template components, with examples")
    state: Literal["missing", "present", "differs", "unbuildable"] = Field(
        description=(
            "missing: not at the WABA; present: there with the category asked for; differs: another category; "
            "unbuildable: the product's definition cannot become a create request (see error)"
        )
    )
    waba: WabaTemplateOut | None = Field(description="What the WABA has under this name and language")
    error: str | None = Field(default=None, description="Why the definition cannot be built (state unbuildable)")


class ExtraTemplateOut(BaseModel):
    name: str
    language: str
    status: str
    category: str | None = None


class PlanOut(BaseModel):
    waba_id: str
    templates: list[PlanItemOut]
    extra: list[ExtraTemplateOut] = Field(description="Templates at the WABA the product does not use")


class SubmitItemOut(BaseModel):
    name: str
    language: str
    result: Literal["created", "skipped", "refused", "unbuildable"]
    id: str | None = None
    status: str | None = Field(default=None, description="Meta's status (PENDING after a creation)")
    category: str | None = None
    error_code: int | None = None
    error_subcode: int | None = None
    error: str | None = Field(default=None, description="Meta's error text (never a token)")


class SubmitOut(BaseModel):
    waba_id: str
    results: list[SubmitItemOut]
    created: int
    skipped: int
    refused: int
    unbuildable: int = Field(description="Definitions that could not become a create request (nothing sent to Meta)")
