"""``bakery-admin``: numbers, tenants, assignments, messages, costs and the events for the platform from the
command line.

It talks to the same HTTP APIs as the admin page. The token comes from ``--token`` / ``BAKERY_ADMIN_TOKEN``; in
development, when neither is set, an admin token is signed with ``JWT_SECRET`` (as ``make token`` does).

Exit codes: 0 success, 1 the API refused (4xx: the message says why), 2 bad usage, 3 a service is unreachable or
failed (5xx).
"""

from __future__ import annotations

import json
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

import httpx
import typer
from rich.console import Console
from rich.table import Table

from bakery_shared.auth import Role, issue_token
from bakery_shared.settings import BaseServiceSettings

app = typer.Typer(help="Platform admin tool for the bakery WhatsApp backbone.", no_args_is_help=True)
out = Console()
err = Console(stderr=True)

EXIT_API_REFUSED = 1
EXIT_USAGE = 2
EXIT_UNAVAILABLE = 3
ACCOUNTS_PATH = "/api/v1/admin/whatsapp/accounts"


@dataclass
class Context:
    tenant_url: str
    notification_url: str
    token: str
    as_json: bool


def _state(ctx: typer.Context) -> Context:
    state: Context = ctx.obj
    return state


@app.callback()
def main(
    ctx: typer.Context,
    tenant_url: Annotated[str, typer.Option(envvar="BAKERY_TENANT_URL", help="Tenant service")] = (
        "http://127.0.0.1:8001"
    ),
    notification_url: Annotated[
        str, typer.Option(envvar="BAKERY_NOTIFICATION_URL", help="Notification service")
    ] = "http://127.0.0.1:8002",
    token: Annotated[str, typer.Option(envvar="BAKERY_ADMIN_TOKEN", help="Admin bearer token")] = "",
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable JSON output")] = False,
) -> None:
    if not token:
        settings = BaseServiceSettings()
        if settings.is_production:
            err.print("[red]Set BAKERY_ADMIN_TOKEN (or --token): no dev token is signed in production.[/red]")
            raise typer.Exit(EXIT_USAGE)
        token = issue_token(settings, role=Role.ADMIN, sub="bakery-admin-cli")
    ctx.obj = Context(tenant_url.rstrip("/"), notification_url.rstrip("/"), token, as_json)


def _call(ctx: Context, method: str, url: str, *, headers_extra: dict[str, str] | None = None, **kwargs: Any) -> Any:
    headers = {"Authorization": f"Bearer {ctx.token}", **(headers_extra or {})}
    try:
        response = httpx.request(method, url, headers=headers, timeout=15, **kwargs)
    except httpx.HTTPError as exc:
        err.print(f"[red]Cannot reach {url}: {exc}[/red]")
        raise typer.Exit(EXIT_UNAVAILABLE) from exc
    if response.status_code >= 400:
        try:
            body = response.json()
            detail = body.get("detail", response.text)
            code = body.get("code", "")
        except ValueError:
            detail, code = response.text, ""
        if ctx.as_json:
            print(json.dumps({"error": {"status": response.status_code, "detail": detail, "code": code}}))
        else:
            err.print(f"[red]Error {response.status_code}[/red] {detail}" + (f" [dim]({code})[/dim]" if code else ""))
        raise typer.Exit(EXIT_UNAVAILABLE if response.status_code >= 500 else EXIT_API_REFUSED)
    return response.json() if response.content else None


def _emit(ctx: Context, data: Any, table: Table | None) -> None:
    if ctx.as_json or table is None:
        print(json.dumps(data, ensure_ascii=False, indent=2))
    else:
        out.print(table)


def _done(ctx: Context, data: Any, text: str) -> None:
    """A change went through: its JSON, or a check mark and ``text``."""
    if ctx.as_json:
        _emit(ctx, data, None)
    else:
        out.print(f"[green]✓[/green] {text}")


def _quality(value: str | None) -> str:
    colours = {"GREEN": "green", "YELLOW": "yellow", "RED": "red"}
    value = value or "UNKNOWN"
    return f"[{colours.get(value, 'white')}]{value}[/]"


@app.command()
def numbers(ctx: typer.Context) -> None:
    """List the phone numbers of every active account with quality and which bakery holds each."""
    c = _state(ctx)
    data = _call(c, "GET", f"{c.tenant_url}/api/v1/admin/whatsapp/phone-numbers")
    table = Table("phone_number_id", "number", "name", "quality", "status", "limit", "account", "assigned to")
    for n in data:
        table.add_row(
            n["id"],
            n["display_phone_number"],
            n.get("verified_name") or "",
            _quality(n.get("quality_rating")),
            n.get("status") or "",
            n.get("messaging_limit") or "",
            n.get("account_name") or n.get("waba_id") or "",
            n.get("assigned_tenant_name") or "[dim]free[/dim]",
        )
    _emit(c, data, table)


@app.command()
def tenants(ctx: typer.Context) -> None:
    """List every bakery with its WhatsApp status and number."""
    c = _state(ctx)
    data = _call(c, "GET", f"{c.tenant_url}/api/v1/admin/whatsapp/tenants", params={"limit": 1000})
    table = Table("tenant_id", "bakery", "whatsapp", "number", "phone_number_id")
    for t in data:
        table.add_row(
            t["tenant_id"],
            t["tenant_name"],
            "[green]on[/green]" if t["whatsapp_enabled"] else "off",
            t.get("display_phone_number") or "[dim]none[/dim]",
            t.get("phone_number_id") or "",
        )
    _emit(c, data, table)


@app.command()
def assign(
    ctx: typer.Context,
    tenant_id: str,
    phone_number_id: str,
    display: Annotated[str | None, typer.Option(help="Display number (default: Meta's)")] = None,
) -> None:
    """Assign a master-account number to a bakery (moves it if it had another)."""
    c = _state(ctx)
    body: dict[str, Any] = {"phone_number_id": phone_number_id}
    if display:
        body["display_phone_number"] = display
    data = _call(c, "POST", f"{c.tenant_url}/api/v1/admin/whatsapp/tenants/{tenant_id}/assign-phone", json=body)
    _done(c, data, data["message"])


@app.command()
def unassign(ctx: typer.Context, tenant_id: str) -> None:
    """Free a bakery's number (this also turns its WhatsApp off)."""
    c = _state(ctx)
    data = _call(c, "DELETE", f"{c.tenant_url}/api/v1/admin/whatsapp/tenants/{tenant_id}/unassign-phone")
    _done(c, data, data["message"])


def _message_rows(items: list[dict[str, Any]]) -> Table:
    table = Table("created_at", "tenant", "to", "status", "reason / error", "attempts", "id")
    for m in items:
        reason = m.get("status_reason") or ""
        if m.get("error_code"):
            reason = f"{m['error_code']}: {m.get('error_message') or ''}"
        table.add_row(
            str(m.get("created_at", ""))[:19],
            str(m.get("tenant_id", ""))[:8],
            m.get("recipient_phone", ""),
            m.get("status", ""),
            reason,
            str(m.get("attempts", "")),
            str(m.get("id", "")),
        )
    return table


@app.command()
def messages(
    ctx: typer.Context,
    tenant: Annotated[str | None, typer.Option(help="Only this tenant")] = None,
    status: Annotated[str | None, typer.Option(help="Only this status")] = None,
    limit: Annotated[int, typer.Option(min=1, max=500)] = 20,
    follow: Annotated[bool, typer.Option("--follow", "-f", help="Keep printing new messages")] = False,
) -> None:
    """Show the latest messages (like `tail`); --follow keeps watching."""
    c = _state(ctx)
    params: dict[str, Any] = {"limit": limit}
    if tenant:
        params["tenant_id"] = tenant
    if status:
        params["status"] = status
    seen: dict[str, str] = {}
    while True:
        data = _call(c, "GET", f"{c.notification_url}/api/v1/messages", params=params)
        items = data.get("items", []) if isinstance(data, dict) else data
        fresh = [m for m in reversed(items) if seen.get(str(m["id"])) != m.get("status")]
        for m in fresh:
            seen[str(m["id"])] = m.get("status", "")
        if c.as_json:
            for m in fresh:
                print(json.dumps(m, ensure_ascii=False))
        elif fresh:
            out.print(_message_rows(fresh))
        if not follow:
            return
        sys.stdout.flush()
        time.sleep(2)


@app.command()
def costs(
    ctx: typer.Context,
    month: Annotated[str, typer.Option(help="YYYY-MM (default: this month)")] = "",
) -> None:
    """Per-bakery messages and cost (EUR) for a month: our estimate beside Meta's figure and the difference; then
    the same month per WhatsApp account (a tenant-owned account's messages are billed to the bakery's own)."""
    c = _state(ctx)
    params = {"month": month} if month else {}
    data = _call(c, "GET", f"{c.notification_url}/api/v1/admin/whatsapp/costs", params=params)
    rows = data.get("tenants", []) if isinstance(data, dict) else data
    # The notification service knows bakeries by id only; the tenant service has their names.
    tenants = _call(c, "GET", f"{c.tenant_url}/api/v1/admin/whatsapp/tenants", params={"limit": 1000})
    names = {t["tenant_id"]: t["tenant_name"] for t in tenants}
    table = Table("bakery", "tenant_id", "messages", "billable", "estimate EUR", "Meta EUR", "difference EUR")
    for row in rows:
        row.setdefault("tenant_name", names.get(str(row.get("tenant_id"))))
        rec = row.get("reconciliation") or {}
        table.add_row(
            str(row.get("tenant_name") or ""),
            str(row.get("tenant_id")),
            str(row.get("messages", "")),
            str(row.get("billable", "")),
            f"{float(row.get('cost_eur', 0)):.4f}",
            _money(rec.get("meta_cost_eur")),
            _money(rec.get("difference_eur")),
        )
    total = data.get("reconciliation") if isinstance(data, dict) else None
    if total:
        for extra in total.get("unattributed", []):
            table.add_row(
                f"(no bakery) +{extra['phone_number']}", "", str(extra["meta_messages"]), "", "",
                _money(extra.get("meta_cost_eur")), "",
            )  # fmt: skip
        table.add_row(
            "total", "", "", "", f"{float(total['estimate_cost_eur']):.4f}",
            _money(total.get("meta_cost_eur")), _money(total.get("difference_eur")),
        )  # fmt: skip
        table.caption = f"Meta's figures read {total.get('meta_synced_at') or 'never (run a sync)'}"
    _emit(c, data, table)
    accounts = data.get("accounts") if isinstance(data, dict) else None
    if accounts and not c.as_json:
        out.print(_account_costs_table(c, accounts))


def _portfolio_limit(limit: int | None, tier: str | None) -> str:
    if limit is not None:
        return str(limit)
    return "no limit" if tier == "TIER_UNLIMITED" else "limit unknown"


def _account_names(c: Context) -> dict[str, str]:
    """The accounts' display names from the tenant service (the notification service knows their ids only); a
    tenant service that cannot list them leaves the ids as they are."""
    try:
        response = httpx.get(
            f"{c.tenant_url}{ACCOUNTS_PATH}", headers={"Authorization": f"Bearer {c.token}"}, timeout=15
        )
    except httpx.HTTPError:
        return {}
    if response.status_code != 200:
        return {}
    return {a["waba_id"]: a["display_name"] for a in response.json() if a.get("waba_id")}


def _account_label(names: dict[str, str], waba_id: str | None) -> str:
    if not waba_id:
        return "(no account)"
    name = names.get(waba_id)
    return f"{name} ({waba_id})" if name else waba_id


def _account_costs_table(c: Context, accounts: list[dict[str, Any]]) -> Table:
    """The month per WhatsApp account; a tenant-owned account's messages are billed to the bakery's own account."""
    names = _account_names(c)
    table = Table("account", "kind", "messages", "billable", "estimate EUR", title="per account")
    for row in accounts:
        kind = row.get("kind") or "unknown"
        if kind == "tenant_owned":
            kind = "tenant_owned (billed to the bakery)"
        table.add_row(
            _account_label(names, row.get("waba_id")),
            kind,
            str(row.get("messages", "")),
            str(row.get("billable", "")),
            f"{float(row.get('cost_eur', 0)):.4f}",
        )
    return table


@app.command()
def usage(ctx: typer.Context) -> None:
    """Each bakery's share of its portfolio's daily new recipients and its use today, then each portfolio (its
    accounts, new recipients today against its limit)."""
    c = _state(ctx)
    data = _call(c, "GET", f"{c.notification_url}/api/v1/admin/whatsapp/usage")
    portfolio = data.get("portfolio", {})
    table = Table("tenant_id", "portfolio", "share", "source", "used", "remaining", "accepted today")
    for row in data.get("tenants", []):
        table.add_row(
            str(row.get("tenant_id")),
            str(row.get("portfolio_id") or ""),
            "no limit" if row.get("cap") is None else str(row.get("cap")),
            str(row.get("share_source", "")),
            str(row.get("share_used", "")),
            "" if row.get("remaining") is None else str(row.get("remaining")),
            str(row.get("new_recipients_today", "")),
        )
    table.caption = (
        f"portfolio {portfolio.get('messaging_limit_tier') or 'limit unknown'}: "
        f"{portfolio.get('new_recipients_today', 0)} new recipients today, "
        f"{portfolio.get('active_bakeries', 0)} active bakeries, derived share {portfolio.get('derived_share')}"
    )
    _emit(c, data, table)
    portfolios = data.get("portfolios") or []
    if portfolios and not c.as_json:
        names = _account_names(c)
        by_portfolio = Table(
            "portfolio", "accounts", "new recipients today / limit", "tier", "remaining", title="per portfolio"
        )
        for p in portfolios:
            limit = p.get("messaging_limit")
            by_portfolio.add_row(
                str(p.get("portfolio_id")),
                ", ".join(_account_label(names, w) for w in p.get("waba_ids") or []) or "–",
                f"{p.get('new_recipients_today', 0)} / {_portfolio_limit(limit, p.get('messaging_limit_tier'))}",
                str(p.get("messaging_limit_tier") or "unknown"),
                "" if p.get("remaining") is None else str(p.get("remaining")),
            )
        out.print(by_portfolio)


@app.command()
def share(
    ctx: typer.Context,
    tenant_id: str,
    daily: Annotated[int | None, typer.Option(help="New recipients per UTC day; none: derived")] = None,
) -> None:
    """Set a bakery's daily share of the portfolio's new recipients (without --daily: derived again)."""
    c = _state(ctx)
    data = _call(
        c,
        "PUT",
        f"{c.notification_url}/api/v1/admin/whatsapp/tenants/{tenant_id}/recipient-share",
        json={"daily_new_recipients": daily},
    )
    table = Table("tenant_id", "share", "source")
    table.add_row(str(data["tenant_id"]), str(data["daily_new_recipients"] or "no limit"), str(data["source"]))
    _emit(c, data, table)


def _money(value: str | None) -> str:
    return "–" if value is None else f"{float(value):.4f}"


rates_app = typer.Typer(help="The rate card: show it, load Meta's CSV.", no_args_is_help=True)
app.add_typer(rates_app, name="rates")


@rates_app.command("show")
def rates_show(ctx: typer.Context) -> None:
    """Every rate in use (market × category) with the date it took effect and its source."""
    c = _state(ctx)
    data = _call(c, "GET", f"{c.notification_url}/api/v1/admin/whatsapp/rates")
    table = Table("market", "category", "rate", "currency", "from", "source")
    for r in data.get("rates", []):
        table.add_row(r["market"], r["category"], r["rate"], r["currency"], r["effective_from"], r["source"][:60])
    _emit(c, data, table)


@rates_app.command("load")
def rates_load(
    ctx: typer.Context,
    file: Annotated[Path, typer.Argument(exists=True, dir_okay=False, readable=True, help="The rate-card CSV")],
    effective_from: Annotated[
        str, typer.Option(help="YYYY-MM-DD: the card's date (required for Meta's layout, which has none per row)")
    ] = "",
) -> None:
    """Load a rate-card CSV: Meta's layout (Market, Currency, Marketing, Utility, …) with --effective-from, or
    market,category,currency,rate,effective_from,source. The service validates the whole file first."""
    c = _state(ctx)
    params = {"effective_from": effective_from} if effective_from else {}
    data = _call(
        c,
        "PUT",
        f"{c.notification_url}/api/v1/admin/whatsapp/rates",
        params=params,
        content=file.read_bytes(),
        headers_extra={"Content-Type": "text/csv"},
    )
    if c.as_json:
        _emit(c, data, None)
    else:
        out.print(f"Loaded {data['loaded']} rates from {file.name}; the card now has {data['rates_in_card']}.")


events_app = typer.Typer(help="Events for the platform (signed HTTP, RabbitMQ): list them, re-drive dead ones.")
app.add_typer(events_app, name="events")


def _delivery(d: dict[str, Any]) -> str:
    text = f"{d['status']} ({d['attempts']})" if d["status"] != "off" else "off"
    return text + (f": {d['last_error'][:50]}" if d["status"] != "delivered" and d.get("last_error") else "")


@events_app.command("list")
def events_list(
    ctx: typer.Context,
    status: Annotated[str | None, typer.Option(help="pending, delivered, dead or off")] = "dead",
    destination: Annotated[str | None, typer.Option(help="http or amqp (default: either)")] = None,
    tenant: Annotated[str | None, typer.Option(help="only this tenant's events")] = None,
    limit: Annotated[int, typer.Option(min=1, max=500)] = 50,
    all_statuses: Annotated[bool, typer.Option("--all", help="every status (ignores --status)")] = False,
) -> None:
    """Events for the platform, newest first (by default the dead ones), with each destination's state."""
    c = _state(ctx)
    params: dict[str, Any] = {"limit": limit}
    if status and not all_statuses:
        params["status"] = status
    if destination:
        params["destination"] = destination
    if tenant:
        params["tenant_id"] = tenant
    data = _call(c, "GET", f"{c.notification_url}/api/v1/admin/outbound-events", params=params)
    table = Table("id", "type", "tenant", "po", "http", "amqp", "created")
    for e in data["events"]:
        po = (e["body"].get("purchase_order") or {}).get("number") or "–"
        table.add_row(
            e["id"], e["type"], e["tenant_id"][:8], po, _delivery(e["http"]), _delivery(e["amqp"]), e["created_at"][:19]
        )
    _emit(c, data, table)


@events_app.command("redrive")
def events_redrive(
    ctx: typer.Context,
    event_id: str,
    destination: Annotated[str | None, typer.Option(help="http or amqp (default: every dead one)")] = None,
) -> None:
    """Deliver a dead event again (fresh attempts); the later events of its purchase order follow."""
    c = _state(ctx)
    params = {"destination": destination} if destination else {}
    data = _call(c, "POST", f"{c.notification_url}/api/v1/admin/outbound-events/{event_id}/redrive", params=params)
    if c.as_json:
        _emit(c, data, None)
    else:
        out.print(f"Re-driven {data['event']['type']} {data['event']['id']} to {', '.join(data['redriven'])}.")


templates_app = typer.Typer(
    help="The WABA's templates: what the product needs at Meta, and submitting the missing ones.", no_args_is_help=True
)
app.add_typer(templates_app, name="templates")

_STATE_COLOURS = {
    "missing": "red",
    "present": "green",
    "differs": "yellow",
    "unbuildable": "red",
    "created": "green",
    "refused": "red",
}


def _body_text(components: list[dict[str, Any]]) -> str:
    body = next((c for c in components if c.get("type") == "BODY"), {})
    examples = (body.get("example") or {}).get("body_text") or [[]]
    text = str(body.get("text", ""))
    return text + (f" [dim](e.g. {' | '.join(examples[0])})[/dim]" if examples[0] else "")


#: ``--account WABA_ID``: the templates of another account than the environment's (issue 18)
AccountOption = Annotated[
    str | None, typer.Option("--account", help="WABA id of the account (default: the environment's account)")
]


@templates_app.command("plan")
def templates_plan(ctx: typer.Context, account: AccountOption = None) -> None:
    """What the product needs at Meta (name, language, category, components with examples) against what the WABA
    has (status, category). The notification service reads the WABA; the CLI never talks to Meta."""
    c = _state(ctx)
    params = {"account": account} if account else None
    data = _call(c, "GET", f"{c.notification_url}/api/v1/admin/whatsapp/templates/plan", params=params)
    table = Table("name", "language", "category", "at the WABA", "status", "WABA category", "body (examples)")
    for t in data["templates"]:
        waba = t.get("waba") or {}
        state = t["state"]
        table.add_row(
            t["name"],
            t["language"],
            t["category"],
            f"[{_STATE_COLOURS[state]}]{state}[/]",
            waba.get("status") or "–",
            waba.get("category") or "–",
            _body_text(t["components"]) if t["components"] else f"[red]{t.get('error') or ''}[/red]",
        )
    table.caption = f"WABA {data['waba_id']}; {len(data['extra'])} other template(s) there the product does not use"
    _emit(c, data, table)


@templates_app.command("submit")
def templates_submit(ctx: typer.Context, account: AccountOption = None) -> None:
    """Create the templates the WABA lacks (with the example values Meta requires); those already there are
    skipped. Exit 1 when Meta refused any (or a definition could not become a request)."""
    c = _state(ctx)
    params = {"account": account} if account else None
    data = _call(c, "POST", f"{c.notification_url}/api/v1/admin/whatsapp/templates/submit", params=params)
    table = Table("name", "language", "result", "status", "id", "Meta's answer")
    for r in data["results"]:
        colour = _STATE_COLOURS.get(r["result"], "white")
        error = r.get("error") or ""
        if r.get("error_code") is not None:
            error = f"({r['error_code']}{'/' + str(r['error_subcode']) if r.get('error_subcode') else ''}) {error}"
        table.add_row(
            r["name"], r["language"], f"[{colour}]{r['result']}[/]", r.get("status") or "", r.get("id") or "", error
        )
    table.caption = f"{data['created']} created, {data['skipped']} skipped, {data['refused']} refused"
    if data.get("unbuildable"):
        table.caption += f", {data['unbuildable']} not buildable (fix the definitions)"
    _emit(c, data, table)
    if data["refused"] or data.get("unbuildable"):
        raise typer.Exit(EXIT_API_REFUSED)


accounts_app = typer.Typer(
    help="WhatsApp Business Accounts: list, add (checked against Meta), retire, connect a bakery's own.",
    no_args_is_help=True,
)
app.add_typer(accounts_app, name="accounts")


@accounts_app.command("list")
def accounts_list(ctx: typer.Context) -> None:
    """Every account (the environment's first) with numbers used / max, daily limit, status and token problems."""
    c = _state(ctx)
    data = _call(c, "GET", f"{c.tenant_url}{ACCOUNTS_PATH}")
    table = Table("waba_id", "name", "kind", "numbers", "assigned / max", "daily limit", "status", "token / problem")
    for a in data:
        problem = a.get("error")
        table.add_row(
            a["waba_id"],
            a["display_name"],
            a["kind"] + (f" ({a['tenant_id']})" if a.get("tenant_id") else ""),
            str(len(a.get("numbers") or [])),
            f"{a.get('assigned_count', 0)} / {a.get('max_numbers')}",
            str(a["daily_limit"]) if a.get("daily_limit") else "[dim]none[/dim]",
            a["status"] if a["status"] == "active" else f"[dim]{a['status']}[/dim]",
            f"[red]{problem['detail']}[/red]" if problem else f"[dim]{a['token_ref']}[/dim]",
        )
    _emit(c, data, table)


@accounts_app.command("add")
def accounts_add(
    ctx: typer.Context,
    waba_id: Annotated[str, typer.Option("--waba-id", help="The WhatsApp Business Account id")],
    name: Annotated[str, typer.Option("--name", help="Display name")],
    token_ref: Annotated[
        str, typer.Option("--token-ref", help="file:/absolute/path or env:NAME (where the token is; never the token)")
    ],
    kind: Annotated[str, typer.Option("--kind", help="platform or tenant_owned")] = "platform",
    tenant: Annotated[str | None, typer.Option("--tenant", help="The bakery of a tenant_owned account")] = None,
    portfolio: Annotated[str | None, typer.Option("--portfolio", help="Business portfolio id (default: WABA)")] = None,
    max_numbers: Annotated[int, typer.Option("--max-numbers", help="Numbers the portfolio may register")] = 20,
    daily_limit: Annotated[
        int | None, typer.Option("--daily-limit", help="Business-initiated conversations per 24 h")
    ] = None,
) -> None:
    """Add an account once Meta confirms its token reads the WABA and its numbers."""
    c = _state(ctx)
    body: dict[str, Any] = {
        "waba_id": waba_id,
        "display_name": name,
        "token_ref": token_ref,
        "kind": kind,
        "max_numbers": max_numbers,
    }
    for key, value in (("tenant_id", tenant), ("portfolio_id", portfolio), ("daily_limit", daily_limit)):
        if value is not None:
            body[key] = value
    data = _call(c, "POST", f"{c.tenant_url}{ACCOUNTS_PATH}", json=body)
    _done(c, data, f"Added {data['display_name']} ({data['waba_id']}): {len(data['numbers'])} number(s)")


@accounts_app.command("retire")
def accounts_retire(ctx: typer.Context, waba_id: str) -> None:
    """Retire an account none of whose numbers is assigned (its numbers leave the phone list)."""
    c = _state(ctx)
    data = _call(c, "POST", f"{c.tenant_url}{ACCOUNTS_PATH}/{waba_id}/retire")
    _done(c, data, data["message"])


@accounts_app.command("connect")
def accounts_connect(
    ctx: typer.Context,
    code: Annotated[str, typer.Option("--code", help="The code Embedded Signup handed back (valid once, minutes)")],
    waba_id: Annotated[str, typer.Option("--waba-id", help="The bakery's WABA id from Embedded Signup")],
    phone_number_id: Annotated[str, typer.Option("--phone-number-id", help="Its phone number id")],
    tenant: Annotated[str, typer.Option("--tenant", help="The bakery (tenant id)")],
    pin: Annotated[str, typer.Option("--pin", help="The number's 6-digit two-step verification PIN")],
    name: Annotated[str | None, typer.Option("--name", help="Display name (default: the bakery's)")] = None,
) -> None:
    """Connect a bakery's own account after Embedded Signup: token, webhooks, number registration, assignment."""
    c = _state(ctx)
    body: dict[str, Any] = {
        "code": code,
        "waba_id": waba_id,
        "phone_number_id": phone_number_id,
        "tenant_id": tenant,
        "pin": pin,
    }
    if name:
        body["display_name"] = name
    data = _call(c, "POST", f"{c.tenant_url}{ACCOUNTS_PATH}/embedded-signup", json=body)
    _done(c, data, f"{data['assignment']['message']} (token at {data['account']['token_ref']})")
