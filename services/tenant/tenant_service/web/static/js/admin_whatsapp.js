// /app/admin/whatsapp: every bakery's WhatsApp state and number, assigning and freeing numbers, the accounts
// (adding and retiring them, each one's portfolio use today and its month's cost), the audit trail.
import {
  formatDateTime,
  formatMoney,
  h,
  has,
  initPage,
  notificationApi,
  onLanguageChange,
  qualityBadge,
  qualityWord,
  setResult,
  showBanner,
  t,
  tenantApi,
} from "./app.js";

const state = {
  tenants: [],
  numbers: null, // null: not available (the banner says why)
  audit: null,
  accounts: null, // null: not available (the accounts status line says why)
  usage: null, // tenant_id → its share of the portfolio's daily new recipients and its use today (null: n/a)
  portfolios: null, // portfolio_id → its use today and limit (usage.portfolios[]; null: n/a)
  accountCosts: null, // waba_id → this month's messages and cost (costs.accounts[]; null: n/a)
  rowMessages: {}, // tenant_id → {text, kind}
  accountMessages: {}, // waba_id → {text, kind}
};

const byId = (id) => document.getElementById(id);

function accountName(waba) {
  const account = (state.accounts || []).find((a) => a.waba_id === waba);
  return account ? account.display_name : waba;
}

function numberById(id) {
  return (state.numbers || []).find((n) => n.id === id) || null;
}

function freeNumbers() {
  return (state.numbers || []).filter((n) => !n.assigned_tenant_id);
}

function enabledBadge(on) {
  return h(
    "span",
    { class: `badge ${on ? "badge--on" : "badge--off"}`, "data-enabled": on ? "true" : "false" },
    h("span", { class: "badge__icon", "aria-hidden": "true" }, on ? "●" : "○"),
    " ",
    t(on ? "common.on" : "common.off"),
  );
}

function rowMessage(tenantId) {
  const message = state.rowMessages[tenantId];
  const node = h("p", { class: "row-msg result", id: `row-msg-${tenantId}`, role: "status", "aria-live": "polite", tabindex: "-1" });
  if (message) setResult(node, message.text, message.kind);
  return node;
}

function tenantRow(tenant) {
  const id = tenant.tenant_id;
  const number = tenant.phone_number_id ? numberById(tenant.phone_number_id) : null;
  const selectId = `assign-select-${id}`;
  const options = freeNumbers().map((n) =>
    h(
      "option",
      { value: n.id, "data-waba-id": n.waba_id || "" },
      `${n.display_phone_number} · ${t("adminWa.qualityShort")}: ${qualityWord(n.quality_rating)} · ${n.account_name || accountName(n.waba_id)}`,
    ),
  );
  const select = h(
    "select",
    { id: selectId, class: "assign-select", disabled: options.length === 0 || state.numbers === null },
    h("option", { value: "" }, options.length ? t("adminWa.chooseNumber") : t("adminWa.noFreeNumbers")),
    ...options,
  );
  const assignButton = h(
    "button",
    { type: "button", class: "button", "data-action": "assign", disabled: state.numbers === null },
    tenant.phone_number_id ? t("adminWa.change") : t("adminWa.assign"),
  );
  assignButton.addEventListener("click", () => assign(tenant, select, assignButton));
  const actions = h(
    "div",
    { class: "row-actions" },
    h("label", { for: selectId, class: "visually-hidden" }, t("adminWa.selectLabel", { name: tenant.tenant_name })),
    select,
    assignButton,
  );
  if (tenant.phone_number_id) {
    const unassignButton = h(
      "button",
      { type: "button", class: "button button--danger-quiet", "data-action": "unassign" },
      t("adminWa.unassign"),
    );
    unassignButton.addEventListener("click", () => confirmUnassign(tenant, unassignButton));
    actions.append(unassignButton);
  }
  return h(
    "tr",
    { "data-tenant-id": id, "data-tenant-name": tenant.tenant_name },
    h("th", { scope: "row", "data-label": t("adminWa.colBakery") }, tenant.tenant_name),
    h("td", { "data-label": t("adminWa.colWhatsapp") }, enabledBadge(tenant.whatsapp_enabled)),
    h(
      "td",
      { "data-label": t("adminWa.colNumber"), class: "cell-number" },
      tenant.phone_number_id
        ? [
            h("span", { class: "phone" }, tenant.display_phone_number || tenant.phone_number_id),
            h("br"),
            h("small", { class: "muted" }, `ID ${tenant.phone_number_id}`),
            ...(number
              ? [h("br"), h("small", { class: "muted cell-account" }, t("adminWa.ofAccount", { name: number.account_name || accountName(number.waba_id) }))]
              : []),
          ]
        : h("span", { class: "muted" }, t("adminWa.noNumber")),
    ),
    h(
      "td",
      { "data-label": t("adminWa.colQuality") },
      tenant.phone_number_id ? (state.numbers === null ? t("common.notAvailable") : qualityBadge(number && number.quality_rating)) : "—",
    ),
    h("td", { "data-label": t("adminWa.colShare") }, shareCell(id)),
    h("td", { "data-label": t("adminWa.colActions") }, actions, rowMessage(id)),
  );
}

/** "used of share today (source)": the bakery's part of the portfolio's messaging limit (issue 15). */
function shareCell(tenantId) {
  if (state.usage === null) return t("common.notAvailable");
  const row = state.usage[tenantId];
  if (!row) return "—";
  const source = has(`adminWa.share.${row.share_source}`) ? t(`adminWa.share.${row.share_source}`) : row.share_source;
  if (row.cap === null) return `${t("adminWa.shareUnlimited", { used: row.share_used })} (${source})`;
  return `${t("adminWa.shareUse", { used: row.share_used, share: row.cap })} (${source})`;
}

function renderTenants() {
  const body = byId("tenants-body");
  body.replaceChildren(...state.tenants.map(tenantRow));
  if (!state.tenants.length) body.append(h("tr", {}, h("td", { colspan: "6" }, t("adminWa.noTenants"))));
}

function auditChange(entry) {
  const from = entry.old_display_phone_number || entry.old_phone_number_id;
  const to = entry.new_display_phone_number || entry.new_phone_number_id;
  return `${from || "—"} → ${to || "—"}`;
}

function renderAudit() {
  const body = byId("audit-body");
  if (state.audit === null) {
    body.replaceChildren();
    return;
  }
  body.replaceChildren(
    ...state.audit.map((entry) =>
      h(
        "tr",
        {},
        h("td", { "data-label": t("adminWa.colWhen") }, formatDateTime(entry.at)),
        h("td", { "data-label": t("adminWa.colWho") }, entry.actor),
        h("td", { "data-label": t("adminWa.colAction") }, has(`audit.${entry.action}`) ? t(`audit.${entry.action}`) : entry.action),
        h("td", { "data-label": t("adminWa.colBakery") }, entry.tenant_name || entry.tenant_id),
        h("td", { "data-label": t("adminWa.colChange") }, auditChange(entry)),
      ),
    ),
  );
  if (!state.audit.length) body.append(h("tr", {}, h("td", { colspan: "5" }, t("adminWa.noAudit"))));
}

function tenantName(tenantId) {
  const tenant = state.tenants.find((row) => row.tenant_id === tenantId);
  return tenant ? tenant.tenant_name : tenantId;
}

/** The account's numbers as Meta lists them, each with the bakery holding it. */
function accountNumbers(account) {
  if (!account.numbers || !account.numbers.length) return null;
  const list = h(
    "ul",
    { class: "account-numbers" },
    ...account.numbers.map((n) =>
      h(
        "li",
        { "data-phone-number-id": n.id },
        h("span", { class: "phone" }, n.display_phone_number),
        n.assigned_tenant_id ? h("small", { class: "muted" }, ` · ${n.assigned_tenant_name || n.assigned_tenant_id}`) : null,
      ),
    ),
  );
  if (account.numbers.length <= 3) return list;
  return h("details", { class: "account-numbers-more" }, h("summary", {}, t("adminWa.showNumbers", { count: account.numbers.length })), list);
}

/** Meta's limit of a tier: a number, "no limit" (TIER_UNLIMITED) or not known yet. */
function limitWords(portfolio) {
  if (portfolio.messaging_limit !== null && portfolio.messaging_limit !== undefined) return String(portfolio.messaging_limit);
  return portfolio.messaging_limit_tier === "TIER_UNLIMITED" ? t("adminWa.limitUnlimited") : t("adminWa.limitUnknown");
}

/** New recipients of the account's portfolio today against its limit (shared by every account of the portfolio). */
function todayCell(account) {
  if (state.portfolios === null) return t("common.notAvailable");
  const portfolio =
    state.portfolios[account.portfolio_id] ||
    Object.values(state.portfolios).find((p) => (p.waba_ids || []).includes(account.waba_id));
  if (!portfolio) return "—";
  const parts = [
    h("span", { class: "portfolio-use" }, t("adminWa.todayUse", { used: portfolio.new_recipients_today, limit: limitWords(portfolio) })),
  ];
  if (portfolio.messaging_limit_tier) parts.push(h("br"), h("small", { class: "muted" }, portfolio.messaging_limit_tier));
  if ((portfolio.waba_ids || []).length > 1) {
    parts.push(h("br"), h("small", { class: "muted" }, t("adminWa.sharedPortfolio", { count: portfolio.waba_ids.length })));
  }
  return parts;
}

/** This month's messages and estimated cost of the account; a bakery's own account is billed to that bakery. */
function monthCell(account) {
  if (state.accountCosts === null) return t("common.notAvailable");
  const row = state.accountCosts[account.waba_id];
  const messages = row ? row.messages : 0;
  const parts = [
    h("span", { class: "account-cost" }, t("adminWa.monthUse", { messages, cost: formatMoney(row ? row.cost_eur : "0") })),
  ];
  if (account.kind === "tenant_owned") {
    parts.push(
      h("br"),
      h("small", { class: "muted billed-to" }, t("adminWa.billedToBakery", { name: account.tenant_id ? tenantName(account.tenant_id) : "—" })),
    );
  }
  return parts;
}

function accountMessage(account) {
  const message = state.accountMessages[account.waba_id];
  const node = h("p", {
    class: "row-msg result",
    id: `account-msg-${account.waba_id}`,
    role: "status",
    "aria-live": "polite",
    tabindex: "-1",
  });
  if (message) setResult(node, message.text, message.kind);
  return node;
}

function accountActions(account) {
  if (account.source === "environment" || account.status !== "active") return [accountMessage(account)];
  const retireButton = h(
    "button",
    {
      type: "button",
      class: "button button--danger-quiet button--small",
      "data-action": "retire",
      "aria-label": t("adminWa.retireLabel", { name: account.display_name }),
    },
    t("adminWa.retireShort"),
  );
  retireButton.addEventListener("click", () => confirmRetire(account, retireButton));
  return [retireButton, accountMessage(account)];
}

function accountRow(account) {
  const problem = account.error;
  const kind = has(`adminWa.kind.${account.kind}`) ? t(`adminWa.kind.${account.kind}`) : account.kind;
  const source = account.source === "environment" ? [h("br"), h("small", { class: "muted" }, t("adminWa.fromEnvironment"))] : null;
  const dailyLimit = account.daily_limit === null ? t("adminWa.noDailyLimit") : String(account.daily_limit);
  return h(
    "tr",
    { "data-waba-id": account.waba_id, "data-status": account.status },
    h(
      "th",
      { scope: "row", "data-label": t("adminWa.colAccount") },
      account.display_name,
      source,
      h("br"),
      h("small", { class: "muted cell-waba" }, `WABA ${account.waba_id}`),
      h("br"),
      h("small", { class: "cell-kind" }, kind),
    ),
    h(
      "td",
      { "data-label": t("adminWa.colUsed"), class: "cell-used" },
      t("adminWa.usedOfMax", { used: account.assigned_count, max: account.max_numbers, listed: account.numbers.length }),
      accountNumbers(account),
    ),
    h("td", { "data-label": t("adminWa.colStatus") }, t(`adminWa.accountStatus.${account.status}`)),
    h(
      "td",
      { "data-label": t("adminWa.colProblems"), class: problem ? "cell-problem cell-token" : "cell-token" },
      problem ? h("span", { class: "result", "data-kind": "error" }, problem.detail) : h("small", { class: "muted" }, account.token_ref),
    ),
    h(
      "td",
      { "data-label": t("adminWa.colToday"), class: "cell-today" },
      todayCell(account),
      h("br"),
      h("small", { class: "muted cell-daily-limit" }, t("adminWa.dailyLimitLine", { limit: dailyLimit })),
    ),
    h("td", { "data-label": t("adminWa.colMonth"), class: "cell-month" }, monthCell(account)),
    h("td", { "data-label": t("adminWa.colActions") }, accountActions(account)),
  );
}

function renderAccounts() {
  const body = byId("accounts-body");
  if (state.accounts === null) {
    body.replaceChildren();
    return;
  }
  body.replaceChildren(...state.accounts.map(accountRow));
  if (!state.accounts.length) body.append(h("tr", {}, h("td", { colspan: "7" }, t("adminWa.noAccounts"))));
}

/** The bakery select of the add form (a tenant_owned account belongs to one bakery). */
function renderAddForm() {
  const select = byId("acc-tenant");
  const chosen = select.value;
  select.replaceChildren(
    h("option", { value: "" }, t("adminWa.chooseBakery")),
    ...state.tenants.map((tenant) => h("option", { value: tenant.tenant_id }, tenant.tenant_name)),
  );
  select.value = chosen;
  byId("acc-tenant-field").hidden = byId("acc-kind").value !== "tenant_owned";
}

function render() {
  renderTenants();
  renderAccounts();
  renderAddForm();
  renderAudit();
}

async function load() {
  setResult(byId("load-status"), t("common.loading"));
  const [tenants, numbers, audit, usage, accounts, costs] = await Promise.all([
    tenantApi("/api/v1/admin/whatsapp/tenants?limit=1000"),
    tenantApi("/api/v1/admin/whatsapp/phone-numbers"),
    tenantApi("/api/v1/admin/whatsapp/audit?limit=50"),
    notificationApi("/api/v1/admin/whatsapp/usage"),
    tenantApi("/api/v1/admin/whatsapp/accounts"),
    notificationApi("/api/v1/admin/whatsapp/costs"),
  ]);
  if (accounts.ok) {
    state.accounts = accounts.data;
    const failing = accounts.data.filter((a) => a.error).length;
    setResult(byId("accounts-status"), failing ? t("adminWa.accountsFailing", { count: failing }) : "", failing ? "error" : undefined);
  } else {
    state.accounts = null;
    setResult(byId("accounts-status"), t("adminWa.accountsFailed", { detail: accounts.detail }), "error");
  }
  state.usage = usage.ok ? Object.fromEntries(usage.data.tenants.map((row) => [row.tenant_id, row])) : null;
  state.portfolios = usage.ok ? Object.fromEntries((usage.data.portfolios || []).map((p) => [p.portfolio_id, p])) : null;
  state.accountCosts = costs.ok
    ? Object.fromEntries((costs.data.accounts || []).filter((a) => a.waba_id).map((a) => [a.waba_id, a]))
    : null;
  const problems = [];
  if (tenants.ok) state.tenants = tenants.data;
  else problems.push(t("adminWa.tenantsFailed", { detail: tenants.detail }));
  if (numbers.ok) state.numbers = numbers.data;
  else {
    state.numbers = null;
    problems.push(t("adminWa.numbersFailed", { detail: numbers.detail }));
  }
  if (audit.ok) state.audit = audit.data;
  else {
    state.audit = null;
    setResult(byId("audit-status"), t("adminWa.auditFailed", { detail: audit.detail }), "error");
  }
  showBanner(problems.join(" "));
  render();
  setResult(byId("load-status"), tenants.ok ? t("adminWa.loaded", { count: state.tenants.length }) : "");
}

function focusRowMessage(tenantId) {
  const node = byId(`row-msg-${tenantId}`);
  if (node) node.focus();
}

/** 409/422 belong to the row; 502/503 (Meta or configuration) go to the banner. */
function reportFailure(tenant, response) {
  if (response.status === 502 || response.status === 503 || response.status === 0) {
    showBanner(t("adminWa.upstream", { detail: response.detail }));
    state.rowMessages[tenant.tenant_id] = { text: t("adminWa.seeBanner"), kind: "error" };
  } else {
    state.rowMessages[tenant.tenant_id] = { text: response.detail, kind: "error" };
  }
}

async function assign(tenant, select, button) {
  const phoneNumberId = select.value;
  if (!phoneNumberId) {
    state.rowMessages[tenant.tenant_id] = { text: t("adminWa.pickFirst"), kind: "error" };
    setResult(byId(`row-msg-${tenant.tenant_id}`), t("adminWa.pickFirst"), "error");
    select.focus();
    return;
  }
  button.disabled = true;
  setResult(byId(`row-msg-${tenant.tenant_id}`), t("common.working"));
  const response = await tenantApi(`/api/v1/admin/whatsapp/tenants/${tenant.tenant_id}/assign-phone`, {
    method: "POST",
    body: { phone_number_id: phoneNumberId },
  });
  if (response.ok) {
    state.rowMessages[tenant.tenant_id] = {
      text: t("adminWa.assigned", { number: response.data.display_phone_number, name: response.data.tenant_name }),
      kind: "success",
    };
    await load();
  } else {
    reportFailure(tenant, response);
    if (response.status === 409) await load(); // someone else changed things: show the fresh state too
    else render();
  }
  focusRowMessage(tenant.tenant_id);
}

/** Opens a confirm dialog (its confirm button focused); ``action`` runs on confirm, else the focus goes back. */
function confirmThen(dialogId, okId, trigger, action) {
  const dialog = byId(dialogId);
  dialog.returnValue = "";
  dialog.addEventListener(
    "close",
    async () => {
      if (dialog.returnValue !== "confirm") {
        trigger.focus();
        return;
      }
      await action();
    },
    { once: true },
  );
  dialog.showModal();
  byId(okId).focus();
}

function confirmUnassign(tenant, trigger) {
  byId("confirm-text").textContent = t("adminWa.confirmText", {
    number: tenant.display_phone_number || tenant.phone_number_id,
    name: tenant.tenant_name,
  });
  confirmThen("confirm-dialog", "confirm-ok", trigger, () => unassign(tenant));
}

async function unassign(tenant) {
  setResult(byId(`row-msg-${tenant.tenant_id}`), t("common.working"));
  const response = await tenantApi(`/api/v1/admin/whatsapp/tenants/${tenant.tenant_id}/unassign-phone`, { method: "DELETE" });
  if (response.ok) {
    state.rowMessages[tenant.tenant_id] = { text: t("adminWa.unassigned", { name: response.data.tenant_name }), kind: "success" };
    await load();
  } else {
    reportFailure(tenant, response);
    render();
  }
  focusRowMessage(tenant.tenant_id);
}

// -- accounts: add, retire -----------------------------------------------------------------------------------

const NUMBER_FIELDS = ["max_numbers", "daily_limit"];
const OPTIONAL_FIELDS = ["portfolio_id", "daily_limit", "tenant_id"];

function accountBody(form) {
  const body = {};
  for (const [key, raw] of new FormData(form).entries()) {
    const value = String(raw).trim();
    if (key === "tenant_id" && form.elements.kind.value !== "tenant_owned") continue;
    if (value === "" && OPTIONAL_FIELDS.includes(key)) continue;
    body[key] = NUMBER_FIELDS.includes(key) && /^\d+$/.test(value) ? Number(value) : value;
  }
  return body;
}

/** The fields a refusal names: a validation 422 lists them in ``fields`` ("body.token_ref"), the account rules start
 * their detail with the field ("token_ref: no file at …"). Marks them invalid; returns the first to focus. */
function markRefusedFields(form, response) {
  const data = response.data || {};
  const names = (Array.isArray(data.fields) ? data.fields : []).map((path) => String(path).split(".").pop());
  const lead = /^([a-z_]+):/.exec(response.detail || "");
  if (lead) names.push(lead[1]);
  let first = null;
  for (const name of names) {
    const input = form.elements[name];
    if (!input || !input.setAttribute) continue;
    input.setAttribute("aria-invalid", "true");
    first = first || input;
  }
  return first;
}

async function addAccount(event) {
  event.preventDefault();
  const form = event.currentTarget;
  const result = byId("add-account-result");
  const submit = byId("add-account-submit");
  for (const input of form.querySelectorAll("[aria-invalid]")) input.removeAttribute("aria-invalid");
  const missing = ["waba_id", "display_name", "token_ref"].map((name) => form.elements[name]).find((input) => !input.value.trim());
  if (missing) {
    missing.setAttribute("aria-invalid", "true");
    setResult(result, t("adminWa.fillField", { field: missing.labels[0].textContent }), "error");
    missing.focus();
    return;
  }
  if (form.elements.kind.value === "tenant_owned" && !form.elements.tenant_id.value) {
    form.elements.tenant_id.setAttribute("aria-invalid", "true");
    setResult(result, t("adminWa.pickBakery"), "error");
    form.elements.tenant_id.focus();
    return;
  }
  submit.disabled = true;
  setResult(result, t("adminWa.checkingWithMeta"));
  const response = await tenantApi("/api/v1/admin/whatsapp/accounts", { method: "POST", body: accountBody(form) });
  submit.disabled = false;
  if (response.ok) {
    form.reset();
    byId("acc-tenant-field").hidden = true;
    setResult(result, t("adminWa.accountAdded", { name: response.data.display_name, count: response.data.numbers.length }), "success");
    await load();
    result.focus();
    return;
  }
  const field = markRefusedFields(form, response);
  setResult(result, response.status === 0 ? response.detail : t("adminWa.notAdded", { detail: response.detail }), "error");
  (field || result).focus();
}

function confirmRetire(account, trigger) {
  byId("retire-text").textContent = t("adminWa.retireText", { name: account.display_name, waba: account.waba_id });
  confirmThen("retire-dialog", "retire-ok", trigger, () => retire(account));
}

async function retire(account) {
  const node = byId(`account-msg-${account.waba_id}`);
  if (node) setResult(node, t("common.working"));
  const response = await tenantApi(`/api/v1/admin/whatsapp/accounts/${encodeURIComponent(account.waba_id)}/retire`, {
    method: "POST",
  });
  state.accountMessages[account.waba_id] = response.ok
    ? { text: t("adminWa.retired", { name: account.display_name }), kind: "success" }
    : { text: response.detail, kind: "error" };
  await load();
  const message = byId(`account-msg-${account.waba_id}`);
  if (message) message.focus();
}

initPage({
  roles: ["admin"],
  start: async () => {
    byId("reload").addEventListener("click", () => {
      state.rowMessages = {};
      state.accountMessages = {};
      load();
    });
    byId("add-account").addEventListener("submit", addAccount);
    byId("acc-kind").addEventListener("change", () => {
      byId("acc-tenant-field").hidden = byId("acc-kind").value !== "tenant_owned";
    });
    onLanguageChange(render);
    await load();
  },
});
