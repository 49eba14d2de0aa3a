// Where alerts go and when they wait: the alert channels (add, test,
// delete, the last delivery's result) and the maintenance windows (add,
// delete, whether each is on). Everything from the server is inserted as
// text, never as HTML.

import { call } from "./api.js";
import { $, h, showError } from "./dom.js";
import { relative, when } from "./format.js";


function list(text) {
  return text.split(",").map((s) => s.trim()).filter(Boolean);
}

// --- channels ---

async function renderChannels() {
  const body = $("channels");
  try {
    const { channels } = await call("GET", "/channel");
    body.replaceChildren(...channels.map(channelRow));
    $("channels-empty").hidden = channels.length > 0;
    $("channels-table").hidden = channels.length === 0;
  } catch (err) {
    showError($("channel-error"), err);
  }
}

function lastDelivery(c) {
  const d = c.last_delivery;
  if (!d) return h("span", { class: "muted", text: "none yet" });
  const at = new Date(d.at);
  const text = `${d.ok ? "delivered" : "failed"} ${relative(at)} (${d.event})`;
  return h("span", { class: d.ok ? "ok" : "error", title: d.error ? `${when(at)}: ${d.error}` : when(at), text });
}

function channelRow(c) {
  const result = h("p", { class: "muted test-result", role: "status" });
  const test = h("button", {
    class: "link needs-editor", type: "button", text: "Send test",
    onclick: async () => {
      result.textContent = "Sending…";
      result.className = "muted test-result";
      try {
        await call("POST", `/channel/${c.id}/test`);
        result.textContent = "Test message accepted.";
        result.className = "ok test-result";
      } catch (err) {
        result.textContent = err.message;
        result.className = "error test-result";
      }
    },
  });
  const del = h("button", {
    class: "link delete needs-editor", type: "button", text: "Delete",
    onclick: async () => {
      try {
        await call("DELETE", `/channel/${c.id}`);
        renderChannels();
      } catch (err) {
        result.textContent = err.message;
        result.className = "error test-result";
      }
    },
  });
  test.setAttribute("aria-label", `Send a test message to ${c.name}`);
  del.setAttribute("aria-label", `Delete the channel ${c.name}`);
  const hears = [
    c.events.length ? c.events.join(", ") : "every event",
    c.tags.length ? `tags ${c.tags.join(", ")}` : "",
    c.sites.length ? `sites ${c.sites.join(", ")}` : "",
  ].filter(Boolean).join("; ");
  return h("tr", { "data-id": String(c.id) },
    h("td", {}, h("div", { class: "site-name", text: c.name }), h("div", { class: "muted", text: hears })),
    h("td", {}, h("div", { text: c.kind }), h("div", { class: "muted url", text: c.url + (c.signed ? " (signed)" : "") })),
    h("td", {}, lastDelivery(c), result),
    h("td", { class: "actions" }, test, del),
  );
}

function setupChannels() {
  $("channel-form").addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const f = ev.target;
    const body = { name: f.name.value.trim(), url: f.url.value.trim() };
    if (f.secret.value) body.secret = f.secret.value;
    if (f.events.value.trim()) body.events = list(f.events.value);
    if (f.tags.value.trim()) body.tags = list(f.tags.value);
    try {
      await call("POST", "/channel", body);
      showError($("channel-error"), null);
      f.reset();
      renderChannels();
    } catch (err) {
      showError($("channel-error"), err);
    }
  });
  renderChannels();
}

// --- maintenance ---

/** The windows on now, for the list of sites to mark their sites. */
export let activeWindows = [];

async function renderWindows() {
  try {
    const { windows } = await call("GET", "/maintenance");
    activeWindows = windows.filter((w) => w.active);
    $("windows").replaceChildren(...windows.map(windowRow));
    $("windows-empty").hidden = windows.length > 0;
    $("windows-table").hidden = windows.length === 0;
  } catch (err) {
    showError($("window-error"), err);
  }
}

function windowRow(w) {
  const schedule = w.cron ? `${w.cron} (${w.timezone}), for ${w.duration}` : `${when(new Date(w.start))} to ${when(new Date(w.end))}`;
  const covers = !w.sites.length && !w.tags.length ? "every site"
    : [w.tags.length ? `tags ${w.tags.join(", ")}` : "", w.sites.length ? `sites ${w.sites.join(", ")}` : ""].filter(Boolean).join("; ");
  const state = w.active ? h("span", { class: "badge maintenance", text: `On now, until ${when(new Date(w.current.end))}` })
    : w.next ? h("span", { class: "muted", text: `next ${when(new Date(w.next.start))}` })
    : h("span", { class: "muted", text: "over" });
  const del = h("button", {
    class: "link delete needs-editor", type: "button", text: "Delete",
    onclick: async () => {
      try {
        await call("DELETE", `/maintenance/${w.id}`);
        renderWindows();
      } catch (err) {
        showError($("window-error"), err);
      }
    },
  });
  del.setAttribute("aria-label", `Delete the maintenance window ${w.title}`);
  return h("tr", { "data-id": String(w.id) },
    h("td", {}, h("div", { class: "site-name", text: w.title }), h("div", { class: "muted", text: covers })),
    h("td", { text: schedule }),
    h("td", {}, state),
    h("td", { class: "actions" }, del),
  );
}

function setupWindows() {
  const form = $("window-form");
  const kind = form.kind;
  const sync = () => {
    $("window-once").hidden = kind.value !== "once";
    $("window-recurring").hidden = kind.value !== "recurring";
  };
  kind.addEventListener("change", sync);
  form.timezone.value = Intl.DateTimeFormat().resolvedOptions().timeZone || "UTC";
  sync();
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const body = { title: form.title.value.trim() };
    if (kind.value === "once") {
      // datetime-local is in this browser's time zone.
      const toISO = (v) => (v ? new Date(v).toISOString() : v);
      body.start = toISO(form.start.value);
      body.end = toISO(form.end.value);
    } else {
      body.cron = form.cron.value.trim();
      body.duration = form.duration.value.trim();
      body.timezone = form.timezone.value.trim();
    }
    if (form.tags.value.trim()) body.tags = list(form.tags.value);
    try {
      await call("POST", "/maintenance", body);
      showError($("window-error"), null);
      form.title.value = "";
      renderWindows().then(() => document.dispatchEvent(new Event("maintenance-changed")));
    } catch (err) {
      showError($("window-error"), err);
    }
  });
  return renderWindows();
}

/** inMaintenance tells whether a site is covered by a window on now. */
export function inMaintenance(site) {
  return activeWindows.some((w) =>
    (!w.sites.length && !w.tags.length) || w.sites.includes(site.id) || (site.tags || []).some((t) => w.tags.includes(t)));
}

/** Sets up both sections; resolves once the windows are known. */
export function setupAlerts() {
  setupChannels();
  return setupWindows();
}
