"""``python -m bakery_shared.token_cli --role admin|owner|service [--tenant UUID]``: print a signed dev token.

The token is the last line of the output. The secret is ``JWT_SECRET`` from the environment (or ``.env``).
"""

from __future__ import annotations

import argparse
import sys
from datetime import timedelta

from bakery_shared.auth import Role, issue_token
from bakery_shared.settings import BaseServiceSettings


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--role", required=True, choices=[r.value for r in Role])
    parser.add_argument("--tenant", default=None, help="tenant UUID (required for owners)")
    parser.add_argument("--sub", default=None, help="subject (user or service name)")
    parser.add_argument("--hours", type=float, default=12.0, help="lifetime in hours")
    args = parser.parse_args(argv)
    if args.role == Role.OWNER and not args.tenant:
        parser.error("an owner token needs --tenant <uuid> (make token ROLE=owner TENANT=<uuid>)")
    try:
        token = issue_token(
            BaseServiceSettings(), role=args.role, sub=args.sub, tenant_id=args.tenant, ttl=timedelta(hours=args.hours)
        )
    except ValueError as exc:
        parser.error(str(exc))
    print(f"# {args.role} token, valid {args.hours:g} h", file=sys.stderr)
    print(token)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
