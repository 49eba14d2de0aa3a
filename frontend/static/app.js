// The dashboard: the list of monitored sites with their state, kept
// current in the background, and the actions on them. Everything from the
// server is inserted as text, never as HTML.

import { APIError, call, ConnectionError, onKeyNeeded } from "./api.js";
import { describe, drawChart } from "./chart.js";
import { daysUntil, latency, normalizeURL, percent, relative, when } from "./format.js";

const refreshEvery = 10000;
const recentChecks = 30;
const certWarnDays = 14;
const pageSize = 50;

const $ = (id) => document.getElementById(id);
const rows = new Map(); // site id → {site, tr, parts}
let refreshTimer = null;
let fastUntil = 0;
let changes = 0; // counts changes made here, so a refresh begun before one is not shown after it
// The list is read a page at a time: afters holds where each page up to the
// current one starts, search the text the URLs must contain.
let afters = [0];
let search = "";
let nextAfter = null;

function h(tag, props = {}, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(props)) {
    if (k === "class") e.className = v;
    else if (k === "text") e.textContent = v;
    else if (k.startsWith("on")) e.addEventListener(k.slice(2), v);
    else e.setAttribute(k, v);
  }
  for (const c of children) if (c) e.append(c);
  return e;
}

function showError(el, err) {
  el.textContent = err ? err.message : "";
  el.hidden = !err;
}

// --- connection state ---

function connectionLost(err) {
  const banner = $("connection");
  banner.textContent = `${err.message} Retrying…`;
  banner.hidden = false;
}

function connectionOK() {
  $("connection").hidden = true;
}

// --- refreshing ---

async function refresh() {
  clearTimeout(refreshTimer);
  const begun = changes;
  try {
    const query = new URLSearchParams({ limit: pageSize, after: afters.at(-1) });
    if (search) query.set("q", search);
    const list = await call("GET", `/site?${query}`);
    if (list.sites.length === 0 && afters.length > 1) {
      // The page emptied (sites deleted): show the one before it.
      afters.pop();
      changes++;
      return;
    }
    const ids = list.sites.map((s) => s.id).join(",");
    const [status, histories] = await Promise.all([
      ids ? call("GET", `/status?ids=${ids}`) : { sites: {} },
      Promise.all(list.sites.map((s) => call("GET", `/history/${s.id}?limit=${recentChecks}`).catch(() => null))),
    ]);
    connectionOK();
    if (begun !== changes) return; // stale: a newer refresh is on its way
    nextAfter = list.next;
    render(list.sites, status.sites, histories);
    renderPager(list);
  } catch (err) {
    if (err instanceof ConnectionError) connectionLost(err);
    else connectionLost(new Error(`The server answered: ${err.message}.`));
  } finally {
    $("loading").hidden = true;
    const fast = Date.now() < fastUntil || begun !== changes;
    clearTimeout(refreshTimer); // one pending refresh, however many ran at once
    refreshTimer = setTimeout(refresh, fast ? (begun !== changes ? 0 : 500) : refreshEvery);
  }
}

function renderPager(list) {
  const first = (afters.length - 1) * pageSize;
  const shown = list.sites.length;
  const of = `${list.total.toLocaleString("en-US")} ${list.total === 1 ? "site" : "sites"}`;
  const matching = search ? ` matching “${search}”` : "";
  $("summary").textContent = shown === 0 ? (search ? `No sites match “${search}”.` : "")
    : shown === list.total ? `${of}${matching}` : `${first + 1}–${first + shown} of ${of}${matching}`;
  $("page-prev").disabled = afters.length === 1;
  $("page-next").disabled = list.next === null;
  $("pager").hidden = afters.length === 1 && list.next === null;
  $("empty").hidden = shown > 0 || Boolean(search);
}

/** Shows another page, or the first page of another search. */
function goTo(newAfters, newSearch = search) {
  afters = newAfters;
  search = newSearch;
  changes++; // what is on its way belongs to the old page
  refresh();
}

function setupPaging() {
  $("page-next").addEventListener("click", () => {
    if (nextAfter !== null) goTo([...afters, nextAfter]);
  });
  $("page-prev").addEventListener("click", () => {
    if (afters.length > 1) goTo(afters.slice(0, -1));
  });
  let typing = null;
  $("search").addEventListener("input", (e) => {
    clearTimeout(typing);
    typing = setTimeout(() => goTo([0], e.target.value.trim()), 250);
  });
}

/** Refreshes quickly for a while, until a new site's first check is in. */
function refreshSoon() {
  fastUntil = Date.now() + 15000;
  refresh();
}

function render(sites, statuses, histories) {
  const seen = new Set();
  sites.forEach((site, i) => {
    seen.add(site.id);
    let row = rows.get(site.id);
    if (!row) {
      row = makeRow(site);
      rows.set(site.id, row);
    }
    $("sites").appendChild(row.tr); // keeps the server's order
    updateRow(row, statuses[site.id], histories[i]);
  });
  for (const [id, row] of rows) {
    if (!seen.has(id)) {
      row.tr.remove();
      rows.delete(id);
    }
  }
  $("sites-table").hidden = rows.size === 0;
  if (Date.now() < fastUntil && sites.every((s) => statuses[s.id])) fastUntil = 0;
}

function makeRow(site) {
  const p = {};
  p.url = h("button", { class: "link site-url", type: "button", text: site.url, onclick: () => openDetail(site) });
  p.badge = h("span", { class: "badge unknown", text: "Unknown" });
  p.checked = h("div", { class: "muted checked" });
  p.reason = h("div", { class: "reason" });
  p.cert = h("div", { class: "cert" });
  p.error = h("p", { class: "error row-error", role: "alert" });
  p.error.hidden = true;
  p.response = h("td", { class: "col-response" });
  p.uptime = h("td", { class: "col-uptime" });
  p.bar = h("div", { class: "bar" });
  p.check = h("button", { class: "link check", type: "button", text: "Check now", onclick: () => checkNow(site, p) });
  p.del = h("button", { class: "link delete", type: "button", text: "Delete", onclick: () => remove(site, p) });
  p.check.setAttribute("aria-label", `Check ${site.url} now`);
  p.del.setAttribute("aria-label", `Delete ${site.url}`);
  const tr = h("tr", { "data-id": String(site.id) },
    h("td", { class: "site" }, h("div", { class: "site-line" }, p.url, p.badge), p.checked, p.reason, p.cert, p.error),
    p.response,
    p.uptime,
    h("td", { class: "col-bar" }, p.bar),
    h("td", { class: "actions" }, p.check, p.del),
  );
  return { site, tr, parts: p };
}

function updateRow(row, status, history) {
  const p = row.parts;
  const state = !status ? "unknown" : status.up ? "up" : "down";
  p.badge.className = `badge ${state}`;
  p.badge.textContent = { up: "Up", down: "Down", unknown: "Unknown" }[state];
  if (status) {
    p.checked.dataset.time = status.checked_at;
    p.checked.textContent = `Last checked ${relative(new Date(status.checked_at))}`;
    p.checked.title = when(new Date(status.checked_at));
    p.reason.textContent = status.up ? "" : status.reason;
    p.response.replaceChildren(
      h("span", { text: status.status_code ? latency(status.latency_ms) : "—" }),
      h("span", { class: "muted", text: status.status_code ? `HTTP ${status.status_code}` : "no response" }),
    );
    renderCert(p.cert, status.cert_expires_at);
  } else {
    p.checked.textContent = "Not checked yet";
    p.reason.textContent = "";
    p.response.replaceChildren(h("span", { class: "muted", text: "—" }));
  }
  if (history) {
    const u = history.uptime;
    p.uptime.replaceChildren(
      h("span", { title: "last 24 hours", text: percent(u["24h"]) }), " · ",
      h("span", { title: "last 7 days", text: percent(u["7d"]) }), " · ",
      h("span", { title: "last 30 days", text: percent(u["30d"]) }),
    );
    renderBar(p.bar, history.checks);
  }
}

function renderCert(el, expires) {
  el.className = "cert";
  if (!expires) {
    el.textContent = "";
    return;
  }
  const days = daysUntil(new Date(expires));
  if (days < 0) {
    el.textContent = "Certificate expired";
    el.classList.add("warn");
  } else if (days < certWarnDays) {
    el.textContent = `Certificate expires in ${days} day${days === 1 ? "" : "s"}`;
    el.classList.add("warn");
  } else {
    el.textContent = `Certificate valid for ${days} days`;
    el.classList.add("muted");
  }
}

function renderBar(bar, checks) {
  const oldestFirst = [...checks].reverse();
  const down = checks.filter((c) => !c.up).length;
  bar.setAttribute("role", "img");
  bar.setAttribute("aria-label", `Last ${checks.length} checks: ${checks.length - down} up, ${down} down`);
  bar.replaceChildren(
    ...Array.from({ length: recentChecks - oldestFirst.length }, () => h("span", { class: "tick none" })),
    ...oldestFirst.map((c) => h("span", { class: `tick ${c.up ? "up" : "down"}`, title: describe(c) })),
  );
}

// Keeps "Last checked … ago" current between refreshes.
function tickTimes() {
  for (const { parts } of rows.values()) {
    if (parts.checked.dataset.time) {
      parts.checked.textContent = `Last checked ${relative(new Date(parts.checked.dataset.time))}`;
    }
  }
}

// --- actions ---

async function checkNow(site, p) {
  p.check.disabled = true;
  p.check.textContent = "Checking…";
  showError(p.error, null);
  try {
    await call("POST", `/check/${site.id}`);
    await refresh();
  } catch (err) {
    showError(p.error, err);
    if (err instanceof ConnectionError) connectionLost(err);
  } finally {
    p.check.disabled = false;
    p.check.textContent = "Check now";
  }
}

// ask shows a modal dialog and resolves to the value of the button that
// closed it. A close event that arrives after the dialog was opened again
// (a quick second click) belongs to the earlier opening and is ignored.
const pending = new Map(); // dialog → resolve of its current opening
function ask(dialog, focus) {
  if (!pending.has(dialog)) {
    dialog.addEventListener("close", () => {
      if (dialog.open) return;
      const resolve = pending.get(dialog);
      pending.delete(dialog);
      resolve?.(dialog.returnValue);
    });
  }
  pending.get(dialog)?.("");
  return new Promise((resolve) => {
    pending.set(dialog, resolve);
    dialog.returnValue = "";
    if (!dialog.open) dialog.showModal();
    focus.focus();
  });
}

async function confirmDelete(site) {
  $("confirm-url").textContent = site.url;
  return (await ask($("confirm-dialog"), $("confirm-cancel"))) === "delete";
}

async function remove(site, p) {
  if (!(await confirmDelete(site))) return;
  showError(p.error, null);
  try {
    await call("DELETE", `/site/${site.id}`);
    changes++;
    rows.get(site.id)?.tr.remove();
    rows.delete(site.id);
    $("sites-table").hidden = rows.size === 0;
    refresh(); // the page fills up from the next one, and the counts change
  } catch (err) {
    showError(p.error, err);
  }
}

function setupAddForm() {
  const form = $("add-form"), input = $("add-url"), save = $("add-save"), toggle = $("add-toggle");
  const open = (on) => {
    form.hidden = !on;
    toggle.setAttribute("aria-expanded", String(on));
    if (on) input.focus();
    else {
      input.value = "";
      save.disabled = true;
      showError($("add-error"), null);
      toggle.focus();
    }
  };
  toggle.addEventListener("click", () => open(form.hidden));
  $("add-cancel").addEventListener("click", () => open(false));
  form.addEventListener("keydown", (e) => {
    if (e.key === "Escape") open(false);
  });
  input.addEventListener("input", () => {
    save.disabled = normalizeURL(input.value) === null;
    showError($("add-error"), null);
  });
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    if (normalizeURL(input.value) === null) return;
    save.disabled = true;
    save.textContent = "Saving…";
    try {
      const added = await call("POST", "/site", { url: input.value.trim() });
      changes++;
      open(false);
      if (nextAfter !== null || afters.length > 1) {
        // The new site is on the last page: search for it instead.
        $("search").value = added.url;
        goTo([0], added.url);
      }
      refreshSoon();
    } catch (err) {
      showError($("add-error"), err);
      save.disabled = false;
    } finally {
      save.textContent = "Save";
    }
  });
}

// --- the API key ---

function setupKeyDialog() {
  const dialog = $("key-dialog"), input = $("key-input"), error = $("key-error");
  onKeyNeeded(async (rejected) => {
    input.value = "";
    showError(error, rejected ? new Error("That key was not accepted. Try again.") : null);
    const answer = await ask(dialog, input);
    return answer === "save" && input.value.trim() ? input.value.trim() : null;
  });
}

// --- the detail view ---

async function openDetail(site) {
  const dialog = $("detail-dialog");
  $("detail-title").textContent = site.url;
  $("detail-facts").replaceChildren();
  $("detail-chart").replaceChildren();
  showError($("detail-error"), null);
  dialog.showModal();
  try {
    const [history, status] = await Promise.all([
      call("GET", `/history/${site.id}?limit=100`),
      call("GET", `/status?ids=${site.id}`),
    ]);
    const s = status.sites[site.id];
    const facts = [
      ["Status", !s ? "Unknown" : s.up ? "Up" : `Down: ${s.reason}`],
      ["Since", s ? `${when(new Date(s.since))} (${relative(new Date(s.since))})` : "—"],
      ["Last check", s ? `${relative(new Date(s.checked_at))}, ${latency(s.latency_ms)}${s.status_code ? `, HTTP ${s.status_code}` : ""}` : "—"],
      ["Uptime", `${percent(history.uptime["24h"])} (24h) · ${percent(history.uptime["7d"])} (7d) · ${percent(history.uptime["30d"])} (30d)`],
    ];
    if (s && s.cert_expires_at) facts.push(["Certificate", `expires ${when(new Date(s.cert_expires_at))}`]);
    $("detail-facts").replaceChildren(...facts.flatMap(([k, v]) => [h("dt", { text: k }), h("dd", { text: v })]));
    drawChart($("detail-chart"), history.checks);
  } catch (err) {
    showError($("detail-error"), err);
  }
}

setupAddForm();
setupKeyDialog();
setupPaging();
refresh();
setInterval(tickTimes, 5000);
