// /app/admin/whatsapp/messages: the message log (notification service), each message's attempts, monthly costs,
// number quality and held numbers, templates (category holds, with a release button) and a warning when the
// Graph API version ends soon. Every section copes on its own with the notification service being away.
import {
  STATUSES,
  explainMessage,
  formatDateTime,
  formatMoney,
  h,
  has,
  initPage,
  notificationApi,
  onLanguageChange,
  qualityBadge,
  setResult,
  statusBadge,
  t,
  tenantApi,
} from "./app.js";

const byId = (id) => document.getElementById(id);

const state = {
  kinds: null, // the notification service's registry (GET /api/v1/message-kinds)
  tenantNames: {},
  messages: [],
  nextCursor: null,
  filters: {},
  details: {}, // message id → {open, loading, data, error}
  costs: null,
  costsError: "",
  quality: null,
  qualityError: "",
  apiVersion: null,
  templates: null,
  inbound: null, // what suppliers wrote (issue 16)
};

/** A list out of ``[...]``, ``{items: [...]}`` or a few other likely wrappers. */
function listOf(data, ...keys) {
  if (Array.isArray(data)) return data;
  for (const key of ["items", ...keys]) if (data && Array.isArray(data[key])) return data[key];
  return [];
}

function tenantName(id) {
  return state.tenantNames[id] || id || "—";
}

// -- filters -------------------------------------------------------------------------------------------------

function fillStatusOptions() {
  const select = byId("f-status");
  const current = select.value;
  select.replaceChildren(h("option", { value: "" }, t("adminMsg.allStatuses")), ...STATUSES.map((s) => h("option", { value: s }, t(`status.${s}`))));
  select.value = current;
}

function fillTenantOptions() {
  const select = byId("f-tenant");
  const current = select.value;
  const entries = Object.entries(state.tenantNames).sort((a, b) => a[1].localeCompare(b[1]));
  select.replaceChildren(h("option", { value: "" }, t("adminMsg.allTenants")), ...entries.map(([id, name]) => h("option", { value: id }, name)));
  select.value = current;
}

/** Local calendar dates → instants: ``since`` at 00:00, ``until`` through the end of that day. */
function readFilters() {
  const filters = {};
  const tenant = byId("f-tenant").value;
  const status = byId("f-status").value;
  const since = byId("f-since").value;
  const until = byId("f-until").value;
  if (tenant) filters.tenant_id = tenant;
  if (status) filters.status = status;
  if (since) filters.since = new Date(`${since}T00:00:00`).toISOString();
  if (until) {
    const end = new Date(`${until}T00:00:00`);
    end.setDate(end.getDate() + 1);
    filters.until = end.toISOString();
  }
  return filters;
}

// -- message log ---------------------------------------------------------------------------------------------

function attemptsList(detail) {
  const attempts = Array.isArray(detail.attempts) ? detail.attempts : Array.isArray(detail.attempt_log) ? detail.attempt_log : [];
  if (!attempts.length) return h("p", { class: "muted" }, t("adminMsg.noAttempts"));
  return h(
    "ol",
    { class: "attempts" },
    ...attempts.map((a) =>
      h(
        "li",
        {},
        h("strong", {}, t("adminMsg.attemptN", { n: a.attempt_no ?? "?" })),
        ` · ${formatDateTime(a.started_at)} · ${a.outcome ? t(`outcome.${a.outcome}`) : t("adminMsg.inProgress")}`,
        a.http_status ? ` · HTTP ${a.http_status}` : "",
        a.duration_ms !== null && a.duration_ms !== undefined ? ` · ${a.duration_ms} ms` : "",
        a.error_code || a.error_message ? h("div", { class: "attempt-error" }, `${a.error_code || ""} ${a.error_message || ""}`.trim()) : "",
      ),
    ),
  );
}

function detailRow(message) {
  const detail = state.details[message.id];
  if (!detail || !detail.open) return null;
  let content;
  if (detail.loading) content = h("p", {}, t("common.loading"));
  else if (detail.error) content = h("p", { class: "error-text" }, t("adminMsg.detailFailed", { detail: detail.error }));
  else {
    const d = detail.data;
    content = h(
      "div",
      { class: "detail" },
      h(
        "dl",
        { class: "facts facts--inline" },
        h("dt", {}, "ID"),
        h("dd", {}, d.id),
        h("dt", {}, t("adminMsg.number")),
        h("dd", {}, d.phone_number_id || "—"),
        h("dt", {}, "wamid"),
        h("dd", {}, d.wamid || "—"),
        h("dt", {}, "BSUID"),
        h("dd", {}, d.recipient_user_id || "—"),
        h("dt", {}, t("adminMsg.sentAt")),
        h("dd", {}, formatDateTime(d.sent_at)),
        h("dt", {}, t("adminMsg.deliveredAt")),
        h("dd", {}, formatDateTime(d.delivered_at)),
        h("dt", {}, t("adminMsg.readAt")),
        h("dd", {}, formatDateTime(d.read_at)),
      ),
      d.error_code || d.error_message ? h("p", {}, h("strong", {}, t("adminMsg.metaSaid")), ` ${d.error_code || ""} ${d.error_message || ""}`) : "",
      d.supplier_decision
        ? h("p", { "data-decision": d.supplier_decision.decision }, h("strong", {}, t("adminMsg.decision")), ` ${t(`adminMsg.decision.${d.supplier_decision.decision}`)} (${formatDateTime(d.supplier_decision.decided_at)})`)
        : "",
      (d.replies || []).length
        ? h("ul", { class: "message__replies" }, ...d.replies.map((r) => h("li", {}, `${formatDateTime(r.sent_at)} · ${r.text || r.button_text || r.type} · ${t(`adminMsg.outcome.${r.outcome}`)}`)))
        : "",
      h("h3", {}, t("adminMsg.attempts")),
      attemptsList(d),
    );
  }
  return h("tr", { class: "detail-row", id: `detail-${message.id}` }, h("td", { colspan: "8" }, content));
}

async function toggleDetail(message) {
  const current = state.details[message.id];
  if (current && current.open) {
    current.open = false;
    renderMessages(message.id);
    return;
  }
  state.details[message.id] = { open: true, loading: true };
  renderMessages(message.id);
  const response = await notificationApi(`/api/v1/messages/${encodeURIComponent(message.id)}`);
  state.details[message.id] = response.ok
    ? { open: true, loading: false, data: response.data }
    : { open: true, loading: false, error: response.detail };
  renderMessages(message.id);
}

// Who the message went to (issue 17): the supplier's name when the event named one, then the phone.
function recipientCell(message) {
  const phone = message.recipient_phone || "—";
  if (!message.supplier_name) return [phone];
  return [h("span", { class: "message-supplier" }, message.supplier_name), h("br"), h("span", { class: "muted" }, phone)];
}

function messageRows(message) {
  const open = !!(state.details[message.id] && state.details[message.id].open);
  const button = h(
    "button",
    { type: "button", class: "button button--quiet button--small", "aria-expanded": open ? "true" : "false", "aria-controls": `detail-${message.id}`, "data-message-id": message.id },
    t(open ? "adminMsg.hideAttempts" : "adminMsg.showAttempts", { n: message.attempts ?? 0 }),
  );
  button.addEventListener("click", () => toggleDetail(message));
  const row = h(
    "tr",
    { "data-message-id": message.id, "data-status": message.status },
    h("td", { "data-label": t("adminMsg.colCreated") }, formatDateTime(message.created_at)),
    h("td", { "data-label": t("adminMsg.colBakery") }, tenantName(message.tenant_id)),
    h("td", { "data-label": t("adminMsg.colRecipient") }, ...recipientCell(message)),
    h("td", { "data-label": t("adminMsg.colOrder"), class: "message-order" }, message.purchase_order_number || "—"),
    h("td", { "data-label": t("adminMsg.colTemplate") }, `${message.template_name || "—"}${message.language ? ` (${message.language})` : ""}`),
    h("td", { "data-label": t("adminMsg.colStatus") }, statusBadge(message.status)),
    h("td", { "data-label": t("adminMsg.colReason") }, explainMessage(message)),
    h("td", { "data-label": t("adminMsg.colAttempts") }, button),
  );
  return [row, detailRow(message)].filter(Boolean);
}

function renderMessages(focusId) {
  const body = byId("messages-body");
  body.replaceChildren(...state.messages.flatMap(messageRows));
  if (!state.messages.length) body.append(h("tr", {}, h("td", { colspan: "8" }, t("adminMsg.noMessages"))));
  byId("load-more").hidden = !state.nextCursor;
  if (focusId) {
    const button = body.querySelector(`button[data-message-id="${CSS.escape(focusId)}"]`);
    if (button) button.focus();
  }
}

async function loadMessages({ append = false } = {}) {
  const status = byId("log-status");
  setResult(status, t("common.loading"));
  const params = new URLSearchParams({ ...state.filters, limit: "50" });
  if (append && state.nextCursor) params.set("cursor", state.nextCursor);
  const response = await notificationApi(`/api/v1/messages?${params}`);
  byId("messages-table").hidden = !response.ok && !append;
  if (!response.ok) {
    if (!append) state.messages = [];
    state.nextCursor = null;
    renderMessages();
    setResult(status, t("adminMsg.logFailed", { detail: response.detail }), "error");
    return;
  }
  const items = listOf(response.data);
  state.messages = append ? state.messages.concat(items) : items;
  state.nextCursor = (response.data && response.data.next_cursor) || null;
  renderMessages();
  setResult(status, t("adminMsg.logLoaded", { count: state.messages.length }));
}

// -- costs ---------------------------------------------------------------------------------------------------

function byStatusText(row) {
  const counts = row.messages_by_status || row.by_status || row.messages || row.counts || {};
  if (typeof counts !== "object" || counts === null) return String(counts);
  const parts = Object.entries(counts)
    .filter(([, n]) => Number(n) > 0)
    .map(([status, n]) => `${STATUSES.includes(status) ? t(`status.${status}`) : status}: ${n}`);
  return parts.length ? parts.join(", ") : "0";
}

function metaMoney(row, key) {
  const value = row.reconciliation ? row.reconciliation[key] : null;
  return value === null || value === undefined ? "—" : formatMoney(value);
}

function renderCosts() {
  const body = byId("costs-body");
  byId("costs-table").hidden = state.costs === null;
  if (state.costs === null) {
    body.replaceChildren();
    return;
  }
  const rows = state.costs;
  body.replaceChildren(
    ...rows.map((row) =>
      h(
        "tr",
        { "data-tenant-id": row.tenant_id },
        h("th", { scope: "row", "data-label": t("adminMsg.colBakery") }, row.tenant_name || tenantName(row.tenant_id)),
        h("td", { "data-label": t("adminMsg.colByStatus") }, byStatusText(row)),
        h("td", { "data-label": t("adminMsg.colBillable") }, String(row.billable_count ?? row.billable ?? "—")),
        h("td", { "data-label": t("adminMsg.colCost") }, formatMoney(row.cost_eur)),
        // Meta's pricing analytics for the bakery's number (issue 15): "—" until the sync has read them
        h("td", { "data-label": t("adminMsg.colMetaCost"), "data-meta": "" }, metaMoney(row, "meta_cost_eur")),
        h("td", { "data-label": t("adminMsg.colDifference"), "data-difference": "" }, metaMoney(row, "difference_eur")),
      ),
    ),
  );
  if (!rows.length) body.append(h("tr", {}, h("td", { colspan: "6" }, t("adminMsg.noCosts"))));
}

async function loadCosts() {
  const month = byId("c-month").value;
  const status = byId("costs-status");
  setResult(status, t("common.loading"));
  const response = await notificationApi(`/api/v1/admin/whatsapp/costs?month=${encodeURIComponent(month)}`);
  if (!response.ok) {
    state.costs = null;
    renderCosts();
    setResult(status, t("adminMsg.costsFailed", { detail: response.detail }), "error");
    return;
  }
  state.costs = listOf(response.data, "tenants", "rows");
  renderCosts();
  const total = response.data && response.data.total_cost_eur !== undefined
    ? response.data.total_cost_eur
    : state.costs.reduce((sum, row) => sum + (Number(row.cost_eur) || 0), 0);
  const meta = response.data && response.data.reconciliation;
  const metaText = meta && meta.meta_cost_eur !== null && meta.meta_cost_eur !== undefined
    ? " " + t("adminMsg.costsMeta", { meta: formatMoney(meta.meta_cost_eur), difference: formatMoney(meta.difference_eur) })
    : " " + t("adminMsg.costsNoMeta");
  setResult(status, t("adminMsg.costsLoaded", { month, total: formatMoney(total) }) + metaText);
}

// -- what suppliers write (issue 16) -------------------------------------------------------------------------

function renderInbound() {
  const body = byId("inbound-body");
  byId("inbound-table").hidden = state.inbound === null;
  if (!state.inbound) {
    body.replaceChildren();
    return;
  }
  body.replaceChildren(
    ...state.inbound.map((r) =>
      h(
        "tr",
        { "data-inbound": r.id, "data-outcome": r.outcome },
        h("td", { "data-label": t("adminMsg.colWhen") }, formatDateTime(r.sent_at)),
        h("td", { "data-label": t("adminMsg.colBakery") }, r.tenant_id ? tenantName(r.tenant_id) : "—"),
        h("td", { "data-label": t("adminMsg.colFrom") }, r.from_phone || (r.from_user_id ? `BSUID ${r.from_user_id}` : "—")),
        h("td", { "data-label": t("adminMsg.colWrote") }, r.text || (r.button_text ? `[${r.button_text}]` : r.type)),
        h("td", { "data-label": t("adminMsg.colOrder") }, r.purchase_order_number || "—"),
        h(
          "td",
          { "data-label": t("adminMsg.colOutcome") },
          t(`adminMsg.outcome.${r.outcome}`) + (r.outcome_detail ? ` (${r.outcome_detail})` : ""),
        ),
      ),
    ),
  );
}

async function loadInbound() {
  const status = byId("inbound-status");
  setResult(status, t("common.loading"));
  const params = new URLSearchParams({ limit: "50" });
  if (state.filters && state.filters.tenant_id) params.set("tenant_id", state.filters.tenant_id);
  const response = await notificationApi(`/api/v1/admin/whatsapp/inbound?${params}`);
  if (!response.ok) {
    state.inbound = null;
    renderInbound();
    setResult(status, t("adminMsg.inboundFailed", { detail: response.detail }), "error");
    return;
  }
  state.inbound = listOf(response.data, "items");
  renderInbound();
  setResult(status, state.inbound.length ? t("adminMsg.inboundCount", { count: state.inbound.length }) : t("adminMsg.inboundNone"));
}

// -- quality -------------------------------------------------------------------------------------------------

function renderQuality() {
  const body = byId("quality-body");
  byId("quality-table").hidden = state.quality === null;
  if (state.quality === null) {
    body.replaceChildren();
    return;
  }
  body.replaceChildren(
    ...state.quality.map((n) =>
      h(
        "tr",
        { "data-phone-number-id": n.phone_number_id || n.id },
        h("th", { scope: "row", "data-label": t("adminMsg.colNumber") }, n.display_phone_number || n.phone_number_id || n.id || "—", n.tenant_name ? h("br") : "", n.tenant_name ? h("small", { class: "muted" }, n.tenant_name) : ""),
        h("td", { "data-label": t("adminMsg.colQuality") }, qualityBadge(n.quality_rating)),
        h("td", { "data-label": t("adminMsg.colLimit") }, n.messaging_limit || "—"),
        h("td", { "data-label": t("adminMsg.colNumberStatus") }, n.status || "—"),
        h(
          "td",
          { "data-label": t("adminMsg.colHeld") },
          n.held
            ? h("span", { class: "badge badge--held" }, h("span", { class: "badge__icon", "aria-hidden": "true" }, "‖"), " ", t("adminMsg.held"), n.hold_reason ? `: ${n.hold_reason}` : "")
            : h("span", { class: "badge badge--on" }, h("span", { class: "badge__icon", "aria-hidden": "true" }, "●"), " ", t("adminMsg.notHeld")),
        ),
      ),
    ),
  );
  if (!state.quality.length) body.append(h("tr", {}, h("td", { colspan: "5" }, t("adminMsg.noNumbers"))));
}

async function loadQuality() {
  const status = byId("quality-status");
  setResult(status, t("common.loading"));
  const response = await notificationApi("/api/v1/admin/whatsapp/quality");
  if (!response.ok) {
    state.quality = null;
    renderQuality();
    setResult(status, t("adminMsg.qualityFailed", { detail: response.detail }), "error");
    return;
  }
  state.quality = listOf(response.data, "numbers", "phone_numbers");
  renderQuality();
  setResult(status, "");
}

// -- Graph API version ----------------------------------------------------------------------------------------

function renderApiVersion() {
  const banner = byId("api-version-warning");
  const v = state.apiVersion;
  const show = !!(v && (v.state === "ending" || v.state === "expired" || v.state === "unknown"));
  banner.hidden = !show;
  if (!show) return;
  banner.dataset.kind = v.state === "ending" ? "warning" : "error";
  const key = v.state === "ending" ? "adminMsg.versionEnding" : "adminMsg.versionExpired";
  banner.textContent = t(key, { version: v.version, expires: v.expires || "?", days: v.days_left ?? "?" });
  banner.title = v.detail || "";
}

async function loadApiVersion() {
  const response = await notificationApi("/api/v1/admin/whatsapp/api-version");
  state.apiVersion = response.ok ? response.data : null;
  renderApiVersion();
}

// -- templates -----------------------------------------------------------------------------------------------

async function releaseTemplate(name, language, button) {
  button.disabled = true;
  const status = byId("templates-status");
  const path = `/api/v1/admin/whatsapp/templates/${encodeURIComponent(name)}/${encodeURIComponent(language)}/release`;
  const response = await notificationApi(path, { method: "POST" });
  if (!response.ok) {
    button.disabled = false;
    setResult(status, t("adminMsg.releaseFailed", { detail: response.detail }), "error");
    return;
  }
  setResult(status, t("adminMsg.released", { name, language, n: response.data.requeued }));
  await loadTemplates({ keepStatus: true });
}

function templateRows(template) {
  return template.languages.map((x) => {
    const changed = x.previous_category && x.previous_category !== x.category ? `${x.previous_category} → ` : "";
    const category = `${changed}${x.category || template.category || "—"}`;
    const release = x.held && x.hold_reason && x.hold_reason.startsWith("template_")
      ? h("button", { type: "button", class: "button button--small", onclick: (e) => releaseTemplate(template.name, x.language, e.currentTarget) }, t("adminMsg.acceptCategory"))
      : "";
    const sending = x.held
      ? h("span", { class: "badge badge--held" }, h("span", { class: "badge__icon", "aria-hidden": "true" }, "‖"), " ", t("adminMsg.held"), x.hold_reason ? `: ${x.hold_reason}` : "")
      : h("span", { class: "badge badge--on" }, h("span", { class: "badge__icon", "aria-hidden": "true" }, "●"), " ", x.route === "marketing_messages" ? t("adminMsg.sentAsMarketing") : t("adminMsg.notHeld"));
    return h(
      "tr",
      { "data-template": `${template.name}:${x.language}` },
      h("th", { scope: "row", "data-label": t("adminMsg.colTemplate") }, `${template.name} (${x.language})`),
      h("td", { "data-label": t("adminMsg.colTemplateStatus") }, x.status || "—"),
      h("td", { "data-label": t("adminMsg.colCategory") }, category),
      h("td", { "data-label": t("adminMsg.colHeld") }, sending, release ? h("br") : "", release),
    );
  });
}

function renderTemplates() {
  const body = byId("templates-body");
  byId("templates-table").hidden = state.templates === null;
  if (state.templates === null) {
    body.replaceChildren();
    return;
  }
  body.replaceChildren(...state.templates.flatMap(templateRows));
  if (!state.templates.length) body.append(h("tr", {}, h("td", { colspan: "4" }, t("adminMsg.noTemplates"))));
}

async function loadTemplates({ keepStatus = false } = {}) {
  const status = byId("templates-status");
  if (!keepStatus) setResult(status, t("common.loading"));
  const response = await notificationApi("/api/v1/admin/whatsapp/templates");
  if (!response.ok) {
    state.templates = null;
    renderTemplates();
    setResult(status, t("adminMsg.templatesFailed", { detail: response.detail }), "error");
    return;
  }
  state.templates = listOf(response.data, "templates");
  renderTemplates();
  renderKinds();
  if (!keepStatus) setResult(status, "");
}

// -- message kinds (issue 17): per kind and language, whether its template is approved at Meta -------------------

async function loadKinds() {
  const response = await notificationApi("/api/v1/message-kinds");
  if (!response.ok) {
    setResult(byId("kinds-status"), t("adminMsg.templatesFailed", { detail: response.detail }), "error");
    return;
  }
  state.kinds = response.data.items;
  renderKinds();
}

function renderKinds() {
  const body = byId("kinds-body");
  if (!state.kinds) return;
  const known = new Map();
  for (const template of state.templates || []) {
    for (const x of template.languages) known.set(`${template.name}:${x.language}`, x.status);
  }
  body.replaceChildren(
    ...state.kinds.flatMap((kind) =>
      Object.values(kind.languages).map((language) => {
        const status = known.get(`${kind.template}:${language}`);
        const approved = status === "APPROVED";
        return h(
          "tr",
          { "data-kind": `${kind.name}:${language}`, "data-approved": approved ? "true" : "false" },
          h("th", { scope: "row", "data-label": t("adminMsg.colKind") }, has(`kind.${kind.name}`) ? t(`kind.${kind.name}`) : kind.label),
          h("td", { "data-label": t("adminMsg.colTemplate") }, `${kind.template} (${language})`),
          h(
            "td",
            { "data-label": t("adminMsg.colKindApproved") },
            h(
              "span",
              { class: approved ? "badge badge--on" : "badge badge--held" },
              approved ? t("adminMsg.kindApproved") : status ? t("adminMsg.kindNotApproved", { status }) : t("adminMsg.kindMissing"),
            ),
          ),
        );
      }),
    ),
  );
}

function renderAll() {
  fillStatusOptions();
  fillTenantOptions();
  renderMessages();
  renderInbound();
  renderCosts();
  renderQuality();
  renderApiVersion();
  renderTemplates();
  renderKinds();
}

initPage({
  roles: ["admin"],
  start: async () => {
    const now = new Date();
    byId("c-month").value = `${now.getFullYear()}-${String(now.getMonth() + 1).padStart(2, "0")}`;
    const params = new URLSearchParams(location.search);
    fillStatusOptions();
    byId("f-status").value = params.get("status") || "";
    byId("filters").addEventListener("submit", (event) => {
      event.preventDefault();
      state.filters = readFilters();
      state.details = {};
      loadMessages();
      loadInbound();
    });
    byId("refresh-inbound").addEventListener("click", loadInbound);
    byId("load-more").addEventListener("click", () => loadMessages({ append: true }));
    byId("costs-form").addEventListener("submit", (event) => {
      event.preventDefault();
      loadCosts();
    });
    onLanguageChange(renderAll);
    const tenants = await tenantApi("/api/v1/admin/whatsapp/tenants?limit=1000");
    if (tenants.ok) for (const row of tenants.data) state.tenantNames[row.tenant_id] = row.tenant_name;
    fillTenantOptions();
    byId("f-tenant").value = params.get("tenant_id") || "";
    state.filters = readFilters();
    await Promise.all([loadMessages(), loadInbound(), loadCosts(), loadQuality(), loadApiVersion(), loadTemplates(), loadKinds()]);
  },
});
