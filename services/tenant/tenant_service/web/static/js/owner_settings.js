// /app/settings/notifications: a bakery owner's WhatsApp switch, preferences, message kinds (switch + latest
// messages each), staff numbers, test message and latest messages.
import {
  config,
  explainMessage,
  formatDateTime,
  getToken,
  h,
  has,
  initPage,
  notificationApi,
  onLanguageChange,
  setResult,
  showBanner,
  statusBadge,
  t,
  tenantApi,
} from "./app.js";

const byId = (id) => document.getElementById(id);
const REFRESH_MS = 10000;

const MAX_STAFF = 5;

const state = {
  tenantId: null,
  kinds: [], // the notification service's registry (GET /api/v1/message-kinds)
  kindMessages: {}, // kind → its latest messages
  staff: [], // the staff numbers being edited: {phone, name, kinds}
  settings: null,
  messages: null,
  messagesError: "",
  busy: false,
};

const settingsPath = () => `/api/v1/tenants/${state.tenantId}/settings/notifications`;

function hasNumber() {
  return !!(state.settings && state.settings.whatsapp_phone_number_id);
}

function renderSettings() {
  const s = state.settings;
  const toggle = byId("wa-switch");
  const help = byId("wa-switch-help");
  if (!s) {
    toggle.disabled = true;
    return;
  }
  toggle.setAttribute("aria-checked", s.whatsapp_enabled ? "true" : "false");
  byId("wa-switch-text").textContent = t(s.whatsapp_enabled ? "common.on" : "common.off");
  // Turning off is always allowed; turning on needs a number the platform assigned.
  // (Not disabled while saving: that would drop the keyboard focus; clicks are ignored instead.)
  toggle.disabled = !s.whatsapp_enabled && !hasNumber();
  toggle.setAttribute("aria-busy", state.busy ? "true" : "false");
  if (!hasNumber()) help.textContent = t("owner.noNumberHelp");
  else help.textContent = s.whatsapp_enabled ? t("owner.onHelp") : t("owner.offHelp");
  byId("wa-number").textContent = hasNumber()
    ? s.whatsapp_display_phone_number || s.whatsapp_phone_number_id
    : t("owner.noNumber");
  byId("wa-number").dataset.assigned = hasNumber() ? "true" : "false";
  byId("language").value = s.whatsapp_default_language || "es";
  byId("po-notifications").checked = !!s.enable_po_notifications;
  byId("test-send").disabled = !hasNumber();
  byId("test-help").textContent = hasNumber() ? t("owner.testHelp") : t("owner.testNeedsNumber");
}

function explainSaveError(response) {
  if (response.code === "no_phone_number_assigned") return t("owner.needsNumber");
  if (response.status === 0) return response.detail;
  return t("owner.saveFailed", { detail: response.detail });
}

/**
 * Sends the three fields an owner may change, all of them (not the phone fields: the PUT accepts them back only
 * unchanged, and an admin may have changed them since this page loaded).
 */
async function save(changes, resultNode) {
  state.busy = true;
  renderSettings();
  setResult(resultNode, t("common.saving"));
  const s = state.settings;
  const body = {
    whatsapp_enabled: s.whatsapp_enabled,
    whatsapp_default_language: s.whatsapp_default_language,
    enable_po_notifications: s.enable_po_notifications,
    enable_inventory_alerts: !!s.enable_inventory_alerts,
    enable_production_alerts: !!s.enable_production_alerts,
    staff_numbers: s.staff_numbers || [],
    ...changes,
  };
  const response = await tenantApi(settingsPath(), { method: "PUT", body });
  state.busy = false;
  if (response.ok) {
    state.settings = response.data;
    setResult(resultNode, t("common.saved"), "success");
  } else {
    setResult(resultNode, explainSaveError(response), "error");
    if (response.status === 409) await loadSettings(); // the number may have been taken away meanwhile
  }
  renderSettings();
  renderKinds(); // the purchase-order switch is on the preferences form too
  return response.ok;
}

async function loadSettings() {
  const response = await tenantApi(settingsPath());
  if (!response.ok) {
    showBanner(t("owner.loadFailed", { detail: response.detail }));
    return;
  }
  state.settings = response.data;
  state.staff = (response.data.staff_numbers || []).map((n) => ({ ...n, kinds: [...n.kinds] }));
  renderSettings();
  renderKinds();
  renderStaff();
}

// ---- message kinds (issue 17): each with its switch and its latest messages
const kindLabel = (kind) => (has(`kind.${kind.name}`) ? t(`kind.${kind.name}`) : kind.label);

function renderKinds() {
  const list = byId("kinds-list");
  if (!state.settings || !state.kinds.length) return;
  list.replaceChildren(
    ...state.kinds.map((kind) => {
      const id = `kind-${kind.name}`;
      const box = h("input", { type: "checkbox", id, "data-switch": kind.switch });
      box.checked = !!state.settings[kind.switch];
      box.addEventListener("change", async () => {
        const ok = await save({ [kind.switch]: box.checked }, byId("kinds-status"));
        if (!ok) box.checked = !!state.settings[kind.switch];
      });
      const messages = state.kindMessages[kind.name] || [];
      return h(
        "li",
        { class: "message", "data-kind": kind.name },
        h("div", { class: "field field--check" }, box, h("label", { for: id }, kindLabel(kind))),
        messages.length
          ? h(
              "ul",
              { class: "message__replies", "aria-label": t("owner.kindLatest") },
              ...messages.map((m) =>
                h(
                  "li",
                  { "data-message-id": m.id },
                  statusBadge(m.status),
                  " ",
                  m.recipient_phone || "—",
                  " · ",
                  formatDateTime(m.created_at),
                ),
              ),
            )
          : h("p", { class: "hint" }, t("owner.kindNoMessages")),
      );
    }),
  );
}

async function loadKinds() {
  const response = await notificationApi("/api/v1/message-kinds");
  if (!response.ok) {
    setResult(byId("kinds-status"), t("owner.messagesFailed", { detail: response.detail }), "error");
    return;
  }
  state.kinds = response.data.items;
  await loadKindMessages();
}

async function loadKindMessages() {
  await Promise.all(
    state.kinds.map(async (kind) => {
      const params = new URLSearchParams({ tenant_id: state.tenantId, kind: kind.name, limit: "3" });
      const response = await notificationApi(`/api/v1/messages?${params}`);
      state.kindMessages[kind.name] = response.ok ? response.data.items : [];
    }),
  );
  renderKinds();
  renderStaff();
}

// ---- staff numbers: up to 5, each with the staff kinds it receives
function renderStaff() {
  const staffKinds = state.kinds.filter((k) => k.for_staff);
  const list = byId("staff-list");
  list.replaceChildren(
    ...state.staff.map((entry, index) => {
      const phone = h("input", {
        type: "tel",
        id: `staff-phone-${index}`,
        autocomplete: "off",
        inputmode: "tel",
        placeholder: "+34 600 000 000",
        "data-testid": "staff-phone",
      });
      phone.value = entry.phone;
      phone.addEventListener("input", () => (entry.phone = phone.value));
      const name = h("input", { type: "text", id: `staff-name-${index}`, maxlength: "80", "data-testid": "staff-name" });
      name.value = entry.name || "";
      name.addEventListener("input", () => (entry.name = name.value));
      const remove = h("button", { type: "button", class: "button button--quiet" }, t("owner.staffRemove"));
      remove.addEventListener("click", () => {
        state.staff.splice(index, 1);
        renderStaff();
      });
      return h(
        "li",
        { class: "staff", "data-index": String(index) },
        h("div", { class: "field" }, h("label", { for: phone.id }, t("owner.staffPhone")), phone),
        h("div", { class: "field" }, h("label", { for: name.id }, t("owner.staffName")), name),
        ...staffKinds.map((kind) => {
          const id = `staff-${index}-${kind.name}`;
          const box = h("input", { type: "checkbox", id, "data-kind": kind.name });
          box.checked = entry.kinds.includes(kind.name);
          box.addEventListener("change", () => {
            entry.kinds = box.checked ? [...entry.kinds, kind.name] : entry.kinds.filter((k) => k !== kind.name);
          });
          return h("div", { class: "field field--check" }, box, h("label", { for: id }, kindLabel(kind)));
        }),
        remove,
      );
    }),
  );
  byId("staff-add").disabled = state.staff.length >= MAX_STAFF;
}

async function saveStaff(event) {
  event.preventDefault();
  const staff = state.staff
    .map((s) => ({ phone: s.phone.trim(), name: s.name.trim(), kinds: s.kinds }))
    .filter((s) => s.phone);
  const ok = await save({ staff_numbers: staff }, byId("staff-result"));
  if (ok) {
    state.staff = (state.settings.staff_numbers || []).map((n) => ({ ...n, kinds: [...n.kinds] }));
    renderStaff();
  }
}

function renderMessages() {
  const list = byId("latest-list");
  const status = byId("latest-status");
  if (state.messages === null) {
    list.replaceChildren();
    setResult(status, state.messagesError ? t("owner.messagesFailed", { detail: state.messagesError }) : t("common.loading"), state.messagesError ? "error" : "info");
    return;
  }
  setResult(status, state.messages.length ? t("owner.messagesCount", { count: state.messages.length }) : t("owner.noMessages"));
  list.replaceChildren(
    ...state.messages.map((m) =>
      h(
        "li",
        { class: "message", "data-message-id": m.id, "data-status": m.status },
        h(
          "div",
          { class: "message__head" },
          statusBadge(m.status),
          h("span", { class: "message__to" }, messageTo(m)),
          h("time", { class: "muted", datetime: m.created_at || "" }, formatDateTime(m.created_at)),
        ),
        h("p", { class: "message__explain" }, explainMessage(m)),
        ...documentLink(m),
        ...supplierAnswer(m),
      ),
    ),
  );
}

// The purchase order's PDF (issue 17): the notification service is another origin and wants the bearer token, so
// a plain link cannot carry it: fetch with the Authorization header and save the answer as a blob.
const DOCUMENT_TEMPLATE = "po_notification_document";

function documentLink(m) {
  if (m.template_name !== DOCUMENT_TEMPLATE) return [];
  const result = h("span", { class: "result", role: "status" });
  const button = h("button", { type: "button", class: "button button--quiet", "data-document": m.id }, t("owner.downloadPdf"));
  button.addEventListener("click", () => downloadDocument(m.id, button, result));
  return [h("p", { class: "message__document" }, button, " ", result)];
}

async function downloadDocument(messageId, button, result) {
  button.disabled = true;
  setResult(result, "");
  try {
    const headers = {};
    const token = getToken();
    if (token) headers.Authorization = `Bearer ${token}`;
    const response = await fetch(`${config.notificationUrl}/api/v1/messages/${encodeURIComponent(messageId)}/document`, { headers });
    if (!response.ok) {
      let detail = `HTTP ${response.status}`;
      try {
        detail = (await response.json()).detail || detail;
      } catch {
        /* not JSON: keep the status */
      }
      setResult(result, t("owner.downloadFailed", { detail }), "error");
      return;
    }
    const disposition = response.headers.get("Content-Disposition") || "";
    const match = /filename="([^"]+)"/.exec(disposition);
    const blob = await response.blob();
    const url = URL.createObjectURL(blob);
    const link = h("a", { href: url, download: match ? match[1] : "purchase-order.pdf", hidden: true });
    document.body.append(link);
    link.click();
    link.remove();
    setTimeout(() => URL.revokeObjectURL(url), 10000);
  } catch (error) {
    setResult(result, t("owner.downloadFailed", { detail: String(error) }), "error");
  } finally {
    button.disabled = false;
  }
}

const TO_KEYS = {
  test: "owner.testTo",
  purchase_order: "owner.orderTo",
  supplier_ack: "owner.ackTo",
  inventory_alert: "owner.alertTo",
  production_alert: "owner.alertTo",
};

// Issue 17: the supplier's name and the PO number when the message carries them, not only the phone.
function messageTo(m) {
  const to = m.recipient_phone || "—";
  const number = m.purchase_order_number;
  if (m.kind === "purchase_order" && m.supplier_name && number) return t("owner.orderToNamed", { name: m.supplier_name, number, to });
  if (m.kind === "supplier_ack" && number) return t("owner.ackToNamed", { number, to });
  return t(TO_KEYS[m.kind] || "owner.orderTo", { to });
}

// What the supplier answered (issue 16): the decision of the buttons, then what they wrote about this message.
function supplierAnswer(m) {
  const parts = [];
  const decision = m.supplier_decision;
  if (decision) {
    parts.push(
      h(
        "p",
        { class: `message__decision message__decision--${decision.decision}`, "data-decision": decision.decision },
        h("span", { "aria-hidden": "true" }, decision.decision === "confirmed" ? "✔ " : "✖ "),
        t(`owner.decision.${decision.decision}`, { when: formatDateTime(decision.decided_at) }),
      ),
    );
  }
  const replies = (m.replies || []).filter((r) => r.outcome === "reply" && r.text);
  if (replies.length) {
    parts.push(
      h(
        "ul",
        { class: "message__replies", "aria-label": t("owner.repliesLabel") },
        ...replies.map((r) =>
          h("li", { "data-reply": r.id }, t("owner.reply", { text: r.text, when: formatDateTime(r.sent_at) })),
        ),
      ),
    );
  }
  return parts;
}

// Suppliers who wrote an opt-out word (STOP, BAJA, …): only their own opt-in word (START, ALTA, …) lifts it.
async function loadOptedOut() {
  const status = byId("opted-out-status");
  const list = byId("opted-out-list");
  const response = await notificationApi(`/api/v1/tenants/${state.tenantId}/whatsapp/opted-out`);
  if (!response.ok) {
    list.replaceChildren();
    setResult(status, t("owner.optedOutFailed", { detail: response.detail }), "error");
    return;
  }
  const suppliers = response.data.suppliers;
  setResult(status, suppliers.length ? "" : t("owner.optedOutNone"));
  list.replaceChildren(
    ...suppliers.map((s) =>
      h(
        "li",
        { class: "message", "data-phone": s.supplier_phone || "" },
        h("div", { class: "message__head" }, h("span", { class: "message__to" }, s.supplier_phone || t("owner.optedOutNoPhone"))),
        h("p", { class: "message__explain" }, t("owner.optedOutSince", { word: s.word, since: formatDateTime(s.opted_out_at) })),
      ),
    ),
  );
}

async function loadMessages() {
  const params = new URLSearchParams({ tenant_id: state.tenantId, limit: "20" });
  const response = await notificationApi(`/api/v1/messages?${params}`);
  if (response.ok) {
    const data = response.data;
    state.messages = Array.isArray(data) ? data : (data && data.items) || [];
    state.messagesError = "";
  } else {
    state.messages = null;
    state.messagesError = response.detail;
  }
  renderMessages();
}

// Suppliers WhatsApp could not deliver to (Meta error 131026): not messaged until the owner clears them.
async function loadUnreachable() {
  const status = byId("unreachable-status");
  const list = byId("unreachable-list");
  const response = await notificationApi(`/api/v1/tenants/${state.tenantId}/whatsapp/unreachable`);
  if (!response.ok) {
    list.replaceChildren();
    setResult(status, t("owner.unreachableFailed", { detail: response.detail }), "error");
    return;
  }
  const suppliers = response.data.suppliers;
  setResult(status, suppliers.length ? "" : t("owner.unreachableNone"));
  list.replaceChildren(
    ...suppliers.map((s) => {
      const button = h("button", { type: "button", class: "button button--quiet" }, t("owner.unreachableClear"));
      button.addEventListener("click", () => clearUnreachable(s.recipient_phone, button));
      return h(
        "li",
        { class: "message", "data-phone": s.recipient_phone },
        h("div", { class: "message__head" }, h("span", { class: "message__to" }, s.recipient_phone), button),
        h(
          "p",
          { class: "message__explain" },
          t(s.retried_after ? "owner.unreachableSince" : "owner.unreachableSinceForever", {
            since: formatDateTime(s.marked_at),
            until: formatDateTime(s.retried_after),
          }),
        ),
      );
    }),
  );
}

async function clearUnreachable(phone, button) {
  button.disabled = true;
  const response = await notificationApi(
    `/api/v1/tenants/${state.tenantId}/whatsapp/unreachable/${encodeURIComponent(phone)}`,
    { method: "DELETE" },
  );
  if (!response.ok) {
    button.disabled = false;
    setResult(byId("unreachable-status"), t("owner.unreachableFailed", { detail: response.detail }), "error");
    return;
  }
  await loadUnreachable();
}

async function sendTest(event) {
  event.preventDefault();
  const result = byId("test-result");
  const phone = byId("test-phone").value.trim();
  if (!phone) {
    setResult(result, t("owner.testNeedsPhone"), "error");
    byId("test-phone").focus();
    return;
  }
  byId("test-send").disabled = true;
  setResult(result, t("common.working"));
  const response = await notificationApi(`/api/v1/tenants/${state.tenantId}/whatsapp/test-message`, {
    method: "POST",
    body: { to: phone },
  });
  byId("test-send").disabled = !hasNumber();
  if (response.ok) {
    setResult(result, t("owner.testQueued"), "success");
    await loadMessages();
  } else {
    setResult(result, t("owner.testFailed", { detail: response.detail }), "error");
  }
}

initPage({
  roles: ["owner"],
  start: async (who) => {
    state.tenantId = who.tenant_id;
    byId("wa-switch").addEventListener("click", () => {
      if (!state.settings || state.busy || byId("wa-switch").disabled) return;
      save({ whatsapp_enabled: !state.settings.whatsapp_enabled }, byId("wa-result"));
    });
    byId("prefs-form").addEventListener("submit", (event) => {
      event.preventDefault();
      save(
        { whatsapp_default_language: byId("language").value, enable_po_notifications: byId("po-notifications").checked },
        byId("prefs-result"),
      );
    });
    byId("test-form").addEventListener("submit", sendTest);
    byId("staff-form").addEventListener("submit", saveStaff);
    byId("staff-add").addEventListener("click", () => {
      if (state.staff.length >= MAX_STAFF) return;
      state.staff.push({ phone: "", name: "", kinds: state.kinds.filter((k) => k.for_staff).map((k) => k.name) });
      renderStaff();
      byId(`staff-phone-${state.staff.length - 1}`).focus();
    });
    byId("refresh-messages").addEventListener("click", () => Promise.all([loadMessages(), loadOptedOut()]));
    onLanguageChange(() => {
      renderSettings();
      renderMessages();
      renderKinds();
      renderStaff();
    });
    const tenant = await tenantApi(`/api/v1/tenants/${state.tenantId}`);
    if (tenant.ok) byId("bakery-name").textContent = tenant.data.name;
    await Promise.all([loadSettings(), loadMessages(), loadUnreachable(), loadOptedOut(), loadKinds()]);
    setInterval(() => {
      if (document.visibilityState === "visible") {
        loadMessages();
        loadOptedOut();
        if (state.kinds.length) loadKindMessages();
      }
    }, REFRESH_MS);
  },
});
