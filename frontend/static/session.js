// Who is using the dashboard: on a server with users, a person signs in
// with their email and password, and the session's cookie (HttpOnly, kept
// by the browser, not by this page) carries them; its CSRF token goes with
// every change. A viewer sees no button they may not use.

import { call, useSession } from "./api.js";
import { $, h, showError } from "./dom.js";
import { relative, when } from "./format.js";

/** Finds who the page is for. It resolves to true when the dashboard may
 * show the sites, false when it shows the sign-in form instead. */
export async function startSession() {
  let me;
  try {
    me = await call("GET", "/me");
  } catch {
    return true; // the list of sites says when the server cannot be reached
  }
  const who = $("who");
  if (me.signed_in) {
    useSession(me.csrf);
    document.body.dataset.role = me.role;
    $("who-name").textContent = `${me.user.name || me.user.email} · ${me.role}`;
    $("sign-out").hidden = false;
    who.hidden = false;
  } else if (me.has_users && me.role === "public") {
    document.body.dataset.role = "public";
    $("sign-in-open").hidden = false;
    who.hidden = false;
  }
  setupSignIn();
  $("sign-out").addEventListener("click", async () => {
    await call("POST", "/signout").catch(() => {});
    location.reload();
  });
  if (me.has_users && !me.signed_in && !me.reads_open && me.role === "public") {
    showSignIn();
    return false;
  }
  if (me.role === "admin") showAudit();
  return true;
}

// showAudit lists the latest rows of the audit log, for an admin.
async function showAudit() {
  try {
    const { entries } = await call("GET", "/audit?limit=50");
    $("audit").replaceChildren(...entries.map((e) => h("tr", {},
      h("td", { title: when(new Date(e.at)), text: relative(new Date(e.at)) }),
      h("td", { text: `${e.actor} (${e.actor_kind}) from ${e.client}` }),
      h("td", { text: e.kind === "change" ? `${e.method} ${e.route.replace(/^[A-Z]+ /, "")}` : e.kind }),
      h("td", { text: e.object }),
      h("td", { text: e.status == null ? "unknown" : String(e.status), title: e.message }),
    )));
    $("audit-section").hidden = false;
  } catch {
    // Not an admin after all, or the server is away: the log stays hidden.
  }
}

function showSignIn() {
  for (const el of document.querySelectorAll("main > section, main > nav")) el.hidden = true;
  $("sign-in").hidden = false;
  $("sign-in-email").focus();
}

function setupSignIn() {
  $("sign-in-open").addEventListener("click", showSignIn);
  $("sign-in-form").addEventListener("submit", async (e) => {
    e.preventDefault();
    const button = $("sign-in-submit");
    button.disabled = true;
    try {
      await call("POST", "/signin", { email: $("sign-in-email").value.trim(), password: $("sign-in-password").value });
      location.reload();
    } catch (err) {
      showError($("sign-in-error"), err);
      button.disabled = false;
    }
  });
}
