// Shared code of every page: token, API calls, translations, the page header and small DOM helpers.
import es from "../i18n/es.js";
import en from "../i18n/en.js";

const DICTIONARIES = { es, en };
const TOKEN_KEY = "bakery.token";
const LANG_KEY = "bakery.lang";

export const config = {
  notificationUrl: (document.body.dataset.notificationUrl || "").replace(/\/+$/, ""),
  devLogin: document.body.dataset.devLogin === "true",
};

// -- translations ---------------------------------------------------------------------------------------------

let lang = (() => {
  try {
    const saved = localStorage.getItem(LANG_KEY);
    return saved && DICTIONARIES[saved] ? saved : "es";
  } catch {
    return "es";
  }
})();
const languageListeners = [];

export function currentLanguage() {
  return lang;
}

/** The string for ``key`` in the current language ("{name}" placeholders filled from ``vars``). */
export function t(key, vars = {}) {
  const text = DICTIONARIES[lang][key] ?? DICTIONARIES.es[key] ?? key;
  return text.replace(/\{(\w+)\}/g, (_, name) => (vars[name] ?? `{${name}}`).toString());
}

export function has(key) {
  return key in DICTIONARIES[lang] || key in DICTIONARIES.es;
}

/** Fills every ``data-i18n`` element and every ``data-i18n-attr="attr:key;attr:key"``. */
export function applyI18n(root = document) {
  root.querySelectorAll("[data-i18n]").forEach((node) => {
    node.textContent = t(node.dataset.i18n);
  });
  root.querySelectorAll("[data-i18n-attr]").forEach((node) => {
    for (const pair of node.dataset.i18nAttr.split(";")) {
      const [attr, key] = pair.split(":");
      if (attr && key) node.setAttribute(attr.trim(), t(key.trim()));
    }
  });
}

export function onLanguageChange(listener) {
  languageListeners.push(listener);
}

export function setLanguage(next) {
  if (!DICTIONARIES[next]) return;
  lang = next;
  try {
    localStorage.setItem(LANG_KEY, next);
  } catch {
    /* private mode: the choice lasts for this page only */
  }
  document.documentElement.lang = next;
  applyI18n();
  languageListeners.forEach((listener) => listener(next));
}

// -- token ---------------------------------------------------------------------------------------------------

/** The platform may hand the token over once in the URL fragment (``#token=…``); keep it and clean the URL. */
function captureFragmentToken() {
  const params = new URLSearchParams(location.hash.replace(/^#/, ""));
  const token = params.get("token");
  if (!token) return;
  setToken(token);
  params.delete("token");
  const rest = params.toString();
  history.replaceState(null, "", location.pathname + location.search + (rest ? `#${rest}` : ""));
}

export function getToken() {
  try {
    return sessionStorage.getItem(TOKEN_KEY);
  } catch {
    return null;
  }
}

export function setToken(token) {
  sessionStorage.setItem(TOKEN_KEY, token);
}

export function clearToken() {
  sessionStorage.removeItem(TOKEN_KEY);
}

/** The token's claims (not verified here: the APIs verify every call), or null when absent or expired. */
export function claims() {
  const token = getToken();
  if (!token) return null;
  try {
    const part = token.split(".")[1].replace(/-/g, "+").replace(/_/g, "/");
    const json = decodeURIComponent(
      Array.from(atob(part.padEnd(part.length + ((4 - (part.length % 4)) % 4), "=")))
        .map((c) => "%" + c.charCodeAt(0).toString(16).padStart(2, "0"))
        .join(""),
    );
    const data = JSON.parse(json);
    if (data.exp && data.exp * 1000 < Date.now()) return null;
    return data;
  } catch {
    return null;
  }
}

// -- API calls -----------------------------------------------------------------------------------------------

/**
 * Calls an API with the bearer token. Never throws: returns ``{ok, status, data, detail, code}``;
 * ``status`` is 0 when the service could not be reached at all.
 */
export async function request(base, path, { method = "GET", body } = {}) {
  const headers = { Accept: "application/json" };
  const token = getToken();
  if (token) headers.Authorization = `Bearer ${token}`;
  if (body !== undefined) headers["Content-Type"] = "application/json";
  let response;
  try {
    response = await fetch(base + path, {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
      credentials: "omit",
      cache: "no-store",
    });
  } catch (error) {
    return { ok: false, status: 0, data: null, detail: t("common.unreachable"), code: "unreachable" };
  }
  let data = null;
  const text = await response.text();
  if (text) {
    try {
      data = JSON.parse(text);
    } catch {
      data = null;
    }
  }
  let detail = "";
  if (!response.ok) {
    if (data && typeof data.detail === "string") detail = data.detail;
    else if (data && Array.isArray(data.detail)) detail = data.detail.map((d) => d.msg || JSON.stringify(d)).join("; ");
    else detail = `HTTP ${response.status}`;
  }
  return { ok: response.ok, status: response.status, data, detail, code: (data && data.code) || "" };
}

export const tenantApi = (path, options) => request("", path, options);
export const notificationApi = (path, options) => request(config.notificationUrl, path, options);

// -- DOM helpers ---------------------------------------------------------------------------------------------

/** ``h("a", {href: "/x", class: "y"}, "text", child)``: attributes starting with "on" become listeners. */
export function h(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === undefined || value === null || value === false) continue;
    if (key.startsWith("on") && typeof value === "function") node.addEventListener(key.slice(2), value);
    else if (key === "dataset") Object.assign(node.dataset, value);
    else node.setAttribute(key, value === true ? "" : value);
  }
  for (const child of children.flat()) {
    if (child === undefined || child === null || child === false) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

export function setResult(node, text, kind = "info") {
  node.textContent = text;
  node.dataset.kind = kind;
}

export function showBanner(text, kind = "error") {
  const banner = document.getElementById("banner");
  if (!banner) return;
  banner.textContent = text;
  banner.dataset.kind = kind;
  banner.hidden = !text;
}

export function formatDateTime(value) {
  if (!value) return "—";
  const date = new Date(value);
  if (Number.isNaN(date.getTime())) return String(value);
  return date.toLocaleString(lang === "es" ? "es-ES" : "en-GB", { dateStyle: "short", timeStyle: "medium" });
}

export function formatMoney(value) {
  const n = Number(value);
  if (value === null || value === undefined || Number.isNaN(n)) return "—";
  return n.toLocaleString(lang === "es" ? "es-ES" : "en-GB", { style: "currency", currency: "EUR", maximumFractionDigits: 4 });
}

// -- statuses in words ---------------------------------------------------------------------------------------

export const STATUSES = ["queued", "sending", "held", "sent", "delivered", "read", "failed", "skipped"];
const STATUS_ICONS = {
  queued: "…",
  sending: "↗",
  held: "‖",
  sent: "✓",
  delivered: "✓✓",
  read: "◉",
  failed: "✗",
  skipped: "–",
};

/** A status badge: an icon and a word (never colour alone). */
export function statusBadge(status) {
  const known = STATUSES.includes(status);
  return h(
    "span",
    { class: `badge badge--${known ? status : "unknown"}`, "data-status": status },
    h("span", { class: "badge__icon", "aria-hidden": "true" }, STATUS_ICONS[status] || "?"),
    " ",
    known ? t(`status.${status}`) : String(status || "—"),
  );
}

const QUALITY_ICONS = { GREEN: "●", YELLOW: "◐", RED: "○" };

function qualityKey(rating) {
  const value = (rating || "").toUpperCase();
  return ["GREEN", "YELLOW", "RED"].includes(value) ? value : "UNKNOWN";
}

export function qualityWord(rating) {
  return t(`quality.${qualityKey(rating)}`);
}

export function qualityBadge(rating) {
  const value = (rating || "").toUpperCase();
  const key = qualityKey(rating);
  return h(
    "span",
    { class: `badge badge--quality-${key.toLowerCase()}`, "data-quality": value || "UNKNOWN" },
    h("span", { class: "badge__icon", "aria-hidden": "true" }, QUALITY_ICONS[key] || "?"),
    " ",
    t(`quality.${key}`),
  );
}

/** Meta error code → a plain sentence (falls back to Meta's own words). */
export function explainError(code, message) {
  const key = `error.${String(code || "").trim()}`;
  if (code && has(key)) return t(key);
  if (message) return t("error.generic", { code: code || "?", message });
  return t("error.unknown");
}

/** ``status_reason`` ("stable_code: words") → a plain sentence. */
export function explainReason(reason) {
  if (!reason) return "";
  const code = String(reason).split(":")[0].trim();
  const key = `reason.${code}`;
  if (has(key)) return t(key);
  const words = String(reason).includes(":") ? String(reason).split(":").slice(1).join(":").trim() : String(reason);
  return words;
}

/** One sentence that tells a non-technical reader what happened to a message. */
export function explainMessage(message) {
  const status = message.status;
  if (status === "failed") return t("explain.failed", { why: explainError(message.error_code, message.error_message) });
  if (status === "skipped") return t("explain.skipped", { why: explainReason(message.status_reason) || t("error.unknown") });
  if (status === "held") return t("explain.held", { why: explainReason(message.status_reason) || t("error.unknown") });
  if (status === "queued" && message.status_reason) return t("explain.queuedBecause", { why: explainReason(message.status_reason) });
  if (STATUSES.includes(status)) return t(`explain.${status}`);
  return "";
}

// -- page shell ----------------------------------------------------------------------------------------------

const NAV = {
  admin: [
    ["/app/admin/whatsapp", "nav.adminNumbers"],
    ["/app/admin/whatsapp/messages", "nav.adminMessages"],
  ],
  owner: [["/app/settings/notifications", "nav.ownerSettings"]],
};

function renderHeader(who) {
  const nav = document.getElementById("main-nav");
  nav.replaceChildren();
  const links = who ? NAV[who.role] || [] : [];
  const list = h("ul", {});
  for (const [href, key] of links) {
    const current = location.pathname.replace(/\/$/, "") === href;
    list.append(h("li", {}, h("a", { href, "aria-current": current ? "page" : undefined }, t(key))));
  }
  nav.append(list);
  nav.hidden = links.length === 0;
  const whoNode = document.getElementById("who");
  whoNode.textContent = who ? t(who.role === "admin" ? "common.whoAdmin" : "common.whoOwner") : "";
  document.getElementById("sign-out").hidden = !who;
}

export function homeFor(who) {
  if (!who) return "/app/";
  return who.role === "admin" ? "/app/admin/whatsapp" : "/app/settings/notifications";
}

function notice(messageKey, linkHref, linkKey) {
  const box = document.getElementById("page-notice");
  box.replaceChildren(h("p", {}, t(messageKey)));
  if (linkHref) box.append(h("p", {}, h("a", { href: linkHref }, t(linkKey))));
  box.hidden = false;
  document.getElementById("page-content").hidden = true;
}

/**
 * Sets up the header and the language switcher, checks the token's role, then calls ``start(claims)``.
 * ``roles``: the roles this page is for (empty: anyone, signed in or not).
 */
export function initPage({ roles = [], start }) {
  captureFragmentToken();
  // A token handed over later in the fragment of the same page (no new page load): take it and start afresh.
  window.addEventListener("hashchange", () => {
    if (new URLSearchParams(location.hash.replace(/^#/, "")).has("token")) {
      captureFragmentToken();
      location.reload();
    }
  });
  document.documentElement.lang = lang;
  applyI18n();
  const switcher = document.getElementById("lang-switch");
  switcher.value = lang;
  switcher.addEventListener("change", () => setLanguage(switcher.value));
  document.getElementById("sign-out").addEventListener("click", () => {
    clearToken();
    location.assign("/app/");
  });
  const who = claims();
  const draw = () => {
    renderHeader(who);
    if (roles.length && !who) notice("common.needSignIn", config.devLogin ? "/app/" : null, "common.goSignIn");
    else if (roles.length && !roles.includes(who.role)) notice("common.wrongRole", homeFor(who), "common.goHome");
  };
  draw();
  onLanguageChange(draw);
  if (roles.length && (!who || !roles.includes(who.role))) return;
  start(who);
}
