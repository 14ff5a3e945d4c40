// /app/: who is signed in, and (development only) the demo users to sign in as.
import { config, h, homeFor, initPage, onLanguageChange, setResult, setToken, t, tenantApi } from "./app.js";

let users = [];

function renderSignedIn(who) {
  const box = document.getElementById("signed-in");
  if (!who) {
    box.hidden = true;
    return;
  }
  box.hidden = false;
  document.getElementById("signed-in-as").textContent = t(who.role === "admin" ? "signin.asAdmin" : "signin.asOwner");
  const links = document.getElementById("signed-in-links");
  links.replaceChildren(
    ...(who.role === "admin"
      ? [
          h("li", {}, h("a", { href: "/app/admin/whatsapp" }, t("nav.adminNumbers"))),
          h("li", {}, h("a", { href: "/app/admin/whatsapp/messages" }, t("nav.adminMessages"))),
        ]
      : [h("li", {}, h("a", { href: "/app/settings/notifications" }, t("nav.ownerSettings")))]),
  );
}

async function signInAs(user, button) {
  const result = document.getElementById("dev-login-result");
  button.disabled = true;
  setResult(result, t("common.working"));
  const response = await tenantApi("/app/dev/token", {
    method: "POST",
    body: user.role === "owner" ? { role: "owner", tenant_id: user.tenant_id } : { role: "admin" },
  });
  button.disabled = false;
  if (!response.ok) {
    setResult(result, t("signin.failed", { detail: response.detail }), "error");
    return;
  }
  setToken(response.data.access_token);
  location.assign(homeFor({ role: response.data.role }));
}

function renderUsers() {
  const admins = document.getElementById("dev-admins");
  const owners = document.getElementById("dev-owners");
  admins.replaceChildren();
  owners.replaceChildren();
  for (const user of users) {
    const label = user.role === "admin" ? t("signin.adminUser") : t("signin.ownerUser", { name: user.name });
    const button = h("button", { type: "button", class: "user-button", "data-role": user.role, "data-tenant-id": user.tenant_id || undefined }, label);
    button.addEventListener("click", () => signInAs(user, button));
    (user.role === "admin" ? admins : owners).append(h("li", {}, button));
  }
}

initPage({
  roles: [],
  start: async (who) => {
    renderSignedIn(who);
    onLanguageChange(() => {
      renderSignedIn(who);
      renderUsers();
    });
    if (!config.devLogin) {
      document.getElementById("platform-login").hidden = !!who;
      return;
    }
    document.getElementById("dev-login").hidden = false;
    const response = await tenantApi("/app/dev/users");
    if (!response.ok) {
      setResult(document.getElementById("dev-login-result"), t("signin.usersFailed", { detail: response.detail }), "error");
      return;
    }
    users = response.data;
    renderUsers();
  },
});
