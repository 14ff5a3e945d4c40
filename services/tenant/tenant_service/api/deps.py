from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from tenant_service.account_service import AccountService
from tenant_service.services import TenantService


def get_service(request: Request) -> TenantService:
    service: TenantService = request.app.state.service
    return service


Service = Annotated[TenantService, Depends(get_service)]


def get_accounts(request: Request) -> AccountService:
    accounts: AccountService = request.app.state.accounts
    return accounts


Accounts = Annotated[AccountService, Depends(get_accounts)]
