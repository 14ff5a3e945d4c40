// /app/admin/whatsapp: every bakery's WhatsApp state and number, assigning and freeing numbers, the audit trail.
import {
  formatDateTime,
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
  rowMessages: {}, // tenant_id → {text, kind}
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

function accountRow(account) {
  const problem = account.error;
  const kind = has(`adminWa.kind.${account.kind}`) ? t(`adminWa.kind.${account.kind}`) : account.kind;
  const source = account.source === "environment" ? [h("br"), h("small", { class: "muted" }, t("adminWa.fromEnvironment"))] : null;
  return h(
    "tr",
    { "data-waba-id": account.waba_id, "data-status": account.status },
    h("th", { scope: "row", "data-label": t("adminWa.colAccount") }, account.display_name, source),
    h("td", { "data-label": t("adminWa.colWaba") }, account.waba_id),
    h("td", { "data-label": t("adminWa.colKind") }, kind),
    h(
      "td",
      { "data-label": t("adminWa.colUsed"), class: "cell-used" },
      t("adminWa.usedOfMax", { used: account.assigned_count, max: account.max_numbers, listed: account.numbers.length }),
    ),
    h(
      "td",
      { "data-label": t("adminWa.colDailyLimit") },
      account.daily_limit === null ? t("adminWa.noDailyLimit") : String(account.daily_limit),
    ),
    h("td", { "data-label": t("adminWa.colStatus") }, t(`adminWa.accountStatus.${account.status}`)),
    h(
      "td",
      { "data-label": t("adminWa.colProblems"), class: problem ? "cell-problem" : "" },
      problem ? h("span", { class: "result", "data-kind": "error" }, problem.detail) : h("small", { class: "muted" }, account.token_ref),
    ),
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

function render() {
  renderTenants();
  renderAccounts();
  renderAudit();
}

async function load() {
  setResult(byId("load-status"), t("common.loading"));
  const [tenants, numbers, audit, usage, accounts] = await Promise.all([
    tenantApi("/api/v1/admin/whatsapp/tenants?limit=1000"),
    tenantApi("/api/v1/admin/whatsapp/phone-numbers"),
    tenantApi("/api/v1/admin/whatsapp/audit?limit=50"),
    notificationApi("/api/v1/admin/whatsapp/usage"),
    tenantApi("/api/v1/admin/whatsapp/accounts"),
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

function confirmUnassign(tenant, trigger) {
  const dialog = byId("confirm-dialog");
  byId("confirm-text").textContent = t("adminWa.confirmText", {
    number: tenant.display_phone_number || tenant.phone_number_id,
    name: tenant.tenant_name,
  });
  dialog.returnValue = "";
  dialog.addEventListener(
    "close",
    async () => {
      if (dialog.returnValue !== "confirm") {
        trigger.focus();
        return;
      }
      await unassign(tenant);
    },
    { once: true },
  );
  dialog.showModal();
  byId("confirm-ok").focus();
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

initPage({
  roles: ["admin"],
  start: async () => {
    byId("reload").addEventListener("click", () => {
      state.rowMessages = {};
      load();
    });
    onLanguageChange(render);
    await load();
  },
});
