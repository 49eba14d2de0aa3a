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
    $("totp-open").hidden = me.user.totp;
    who.hidden = false;
    setupTOTP();
  } else if (me.has_users && me.role === "public") {
    document.body.dataset.role = "public";
    $("sign-in-open").hidden = false;
    who.hidden = false;
  }
  setupSignIn();
  if (me.oidc) {
    $("sign-in-oidc").textContent = `Sign in with ${me.oidc}`;
    $("sign-in-oidc").hidden = false;
  }
  signInError();
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

// A sign-in through the identity provider that failed comes back here,
// saying why.
function signInError() {
  const why = new URLSearchParams(location.hash.slice(1)).get("signin-error");
  if (!why) return;
  history.replaceState(null, "", location.pathname + location.search);
  showSignIn();
  showError($("sign-in-error"), new Error(why));
}

function setupSignIn() {
  $("sign-in-open").addEventListener("click", showSignIn);
  $("sign-in-form").addEventListener("submit", async (e) => {
    e.preventDefault();
    const button = $("sign-in-submit");
    button.disabled = true;
    try {
      await call("POST", "/signin", {
        email: $("sign-in-email").value.trim(),
        password: $("sign-in-password").value,
        code: $("sign-in-code").value.trim(),
      });
      location.reload();
    } catch (err) {
      if (err.details?.totp_required) {
        $("sign-in-code-field").hidden = false;
        $("sign-in-code").focus();
      }
      showError($("sign-in-error"), err);
      button.disabled = false;
    }
  });
}

// setupTOTP offers two-factor sign-in to the signed-in user: a key to scan
// or type, confirmed with the code it gives, then the recovery codes,
// shown once.
function setupTOTP() {
  const dialog = $("totp-dialog");
  $("totp-close").addEventListener("click", () => {
    dialog.close();
    if (!$("totp-done").hidden) location.reload();
  });
  $("totp-open").addEventListener("click", async () => {
    try {
      const setup = await call("POST", "/me/totp");
      $("totp-qr").src = setup.qr;
      $("totp-secret").textContent = setup.secret;
      $("totp-code").value = "";
      $("totp-setup").hidden = false;
      $("totp-done").hidden = true;
      $("totp-confirm").hidden = false;
      showError($("totp-error"), null);
      dialog.showModal();
      $("totp-code").focus();
    } catch (err) {
      alert(err.message);
    }
  });
  $("totp-form").addEventListener("submit", async (e) => {
    e.preventDefault();
    try {
      const { recovery_codes: codes } = await call("POST", "/me/totp/confirm", { code: $("totp-code").value.trim() });
      $("totp-recovery").textContent = codes.join("\n");
      $("totp-setup").hidden = true;
      $("totp-done").hidden = false;
      $("totp-confirm").hidden = true;
      showError($("totp-error"), null);
    } catch (err) {
      showError($("totp-error"), err);
    }
  });
}
