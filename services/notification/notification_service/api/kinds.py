"""``GET /api/v1/message-kinds``: the registry (domain/kinds.py) as the pages read it (admin or owner)."""

from __future__ import annotations

from fastapi import APIRouter
from pydantic import BaseModel

from bakery_shared.auth import AdminOrOwner
from notification_service.domain.kinds import KINDS, STAFF_KINDS

router = APIRouter(prefix="/api/v1/message-kinds", tags=["messages"])


class MessageKindOut(BaseModel):
    name: str
    label: str
    template: str
    category: str
    #: the key of the tenant's on/off switch in the notification settings
    switch: str
    #: our language → the template translation's code at Meta
    languages: dict[str, str]
    #: received by the bakery's staff numbers (each number lists the kinds it takes)
    for_staff: bool


class MessageKindList(BaseModel):
    items: list[MessageKindOut]


@router.get("", response_model=MessageKindList)
async def list_kinds(_: AdminOrOwner) -> MessageKindList:
    """Every message kind the service sends from events, in the registry's order (purchase orders first)."""
    return MessageKindList(
        items=[
            MessageKindOut(
                name=k.name,
                label=k.label,
                template=k.template,
                category=k.category,
                switch=k.switch,
                languages=dict(k.languages()),
                for_staff=k.name in STAFF_KINDS,
            )
            for k in KINDS.values()
        ]
    )
