// The dashboard: the list of monitored sites with their state, kept
// current in the background, and the actions on them. Everything from the
// server is inserted as text, never as HTML.

import { APIError, call, ConnectionError, onKeyNeeded } from "./api.js";
import { describe, drawChart } from "./chart.js";
import { $, copier, h, showError } from "./dom.js";
import { daysUntil, kindOf, latency, normalizeURL, percent, relative, when } from "./format.js";
import { inMaintenance, setupAlerts } from "./alerts.js";
import * as settings from "./settings.js";
import { renderPushDetail, setupPush, showPingURL } from "./push.js";
import { startSession } from "./session.js";

const refreshEvery = 10000;
const recentChecks = 30;
const certWarnDays = 14;
const pageSize = 50;

const rows = new Map(); // site id → {site, tr, parts}
let refreshTimer = null;
let fastUntil = 0;
let lost = new Set(); // the locations that stopped checking
let changes = 0; // counts changes made here, so a refresh begun before one is not shown after it
// The list is read a page at a time: afters holds where each page up to the
// current one starts, search the text the URLs must contain.
let afters = [0];
let search = "";
let nextAfter = null;

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
    const [status, histories, locations] = await Promise.all([
      ids ? call("GET", `/status?ids=${ids}`) : { sites: {} },
      Promise.all(list.sites.map((s) => call("GET", `/history/${s.id}?limit=${recentChecks}`).catch(() => null))),
      call("GET", "/location").catch(() => null),
    ]);
    if (locations) lost = new Set(locations.locations.filter((l) => !l.alive).map((l) => l.name));
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
  const body = $("sites");
  let prev = null;
  sites.forEach((site, i) => {
    seen.add(site.id);
    let row = rows.get(site.id);
    if (!row) {
      row = makeRow(site);
      rows.set(site.id, row);
    }
    row.site = site;
    // The server's order, moving only rows out of place: a moved row loses
    // the keyboard focus of its buttons.
    const here = prev ? prev.nextSibling : body.firstChild;
    if (row.tr !== here) body.insertBefore(row.tr, here);
    prev = row.tr;
    updateRow(row, statuses[site.id], histories[i]);
  });
  for (const [id, row] of rows) {
    if (!seen.has(id)) {
      row.tr.remove();
      rows.delete(id);
    }
  }
  $("sites-table").hidden = rows.size === 0;
  if (Date.now() < fastUntil && sites.every((s) => statuses[s.id] || s.paused)) fastUntil = 0;
}

/** The name to show before a site's URL: none when it is the URL's host,
 * the default name. */
function shownName(site) {
  try {
    if (new URL(site.url).hostname === site.name) return "";
  } catch {
    // not a URL the browser reads: show the name
  }
  return site.name || "";
}

function makeRow(site) {
  const p = {};
  const row = { site, tr: null, parts: p };
  p.name = h("span", { class: "site-name" });
  p.url = h("button", { class: "link site-url", type: "button", text: site.url, onclick: () => openDetail(row.site) });
  p.badge = h("span", { class: "badge unknown", text: "Unknown" });
  p.locs = h("span", { class: "locations" });
  p.maint = h("span", { class: "badge maintenance", text: "Maintenance", title: "in a maintenance window: alerts wait for its end" });
  p.maint.hidden = true;
  p.checked = h("div", { class: "muted checked" });
  p.reason = h("div", { class: "reason" });
  p.cert = h("div", { class: "cert" });
  p.error = h("p", { class: "error row-error", role: "alert" });
  p.error.hidden = true;
  p.response = h("td", { class: "col-response" });
  p.uptime = h("td", { class: "col-uptime" });
  p.bar = h("div", { class: "bar" });
  p.check = h("button", { class: "link check", type: "button", text: "Check now", onclick: () => checkNow(row.site, p) });
  p.pause = h("button", { class: "link pause", type: "button", text: "Pause", onclick: () => togglePause(row, p) });
  p.edit = h("button", { class: "link edit", type: "button", text: "Edit", onclick: () => openEdit(row.site) });
  p.del = h("button", { class: "link delete", type: "button", text: "Delete", onclick: () => remove(row.site, p) });
  p.check.setAttribute("aria-label", `Check ${site.url} now`);
  p.edit.setAttribute("aria-label", `Edit ${site.url}`);
  p.del.setAttribute("aria-label", `Delete ${site.url}`);
  row.tr = h("tr", { "data-id": String(site.id) },
    h("td", { class: "site" }, h("div", { class: "site-line" }, p.name, p.url, p.badge, p.locs, p.maint), p.checked, p.reason, p.cert, p.error),
    p.response,
    p.uptime,
    h("td", { class: "col-bar" }, p.bar),
    h("td", { class: "actions" }, p.check, p.pause, p.edit, p.del),
  );
  return row;
}

function updateRow(row, status, history) {
  const p = row.parts, site = row.site;
  p.name.textContent = shownName(site);
  p.url.textContent = site.url;
  const paused = site.paused;
  const state = paused ? "paused" : !status ? "unknown" : !status.up ? "down" : status.degraded ? "degraded" : "up";
  p.badge.className = `badge ${state}`;
  p.badge.textContent = { up: "Up", down: "Down", unknown: "Unknown", degraded: "Degraded", paused: "Paused" }[state];
  p.maint.hidden = !inMaintenance(site);
  row.tr.classList.toggle("paused", paused);
  p.pause.textContent = paused ? "Resume" : "Pause";
  p.pause.setAttribute("aria-label", `${paused ? "Resume" : "Pause"} ${site.url}`);
  p.check.disabled = paused;
  p.check.hidden = site.kind === "push"; // its job reports in: nothing to fetch
  if (status) {
    p.checked.dataset.time = status.checked_at;
    p.checked.textContent = `Last checked ${relative(new Date(status.checked_at))}`;
    p.checked.title = when(new Date(status.checked_at));
    p.reason.textContent = status.up && !status.degraded ? "" : status.reason;
    p.response.replaceChildren(
      h("span", { text: status.status_code || site.kind === "push" ? latency(status.latency_ms) : "—" }),
      h("span", { class: "muted", text: site.kind === "push" ? "last run" : status.status_code ? `HTTP ${status.status_code}` : "no response" }),
    );
    renderCert(p.cert, status.cert_expires_at);
    renderLocations(p.locs, status.locations);
  } else {
    renderLocations(p.locs, null);
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

/** A site's state at each location, sorted by name, with whether the
 * location is lost; none when it is checked from one place only. */
function byLocation(locations) {
  const all = Object.entries(locations || {}).sort(([a], [b]) => a.localeCompare(b));
  return all.map(([name, l]) => ({ name, ...l, lost: lost.has(name) }));
}

function locationState(l) {
  if (l.lost) return `lost, its last check ${relative(new Date(l.checked_at))}`;
  if (!l.up) return `down: ${l.reason}`;
  return `up, ${latency(l.latency_ms)}, ${relative(new Date(l.checked_at))}`;
}

/** renderLocations shows a dot per location for a site checked from more
 * than one. */
function renderLocations(el, locations) {
  const locs = byLocation(locations);
  if (locs.length < 2) {
    el.replaceChildren();
    return;
  }
  el.replaceChildren(...locs.map((l) => h("span", {
    class: `location ${l.lost ? "lost" : l.up ? "up" : "down"}`,
    "data-location": l.name,
    title: `${l.name}: ${locationState(l)}`,
    text: l.name,
  })));
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
    ...oldestFirst.map((c) => h("span", { class: `tick ${!c.up ? "down" : c.degraded ? "degraded" : "up"}`, title: describe(c) })),
  );
}

// renderDays draws a tick per day, oldest first, coloured by the day's
// uptime, with its figures on hover.
function renderDays(bar, days) {
  const shown = days.filter((d) => d.uptime !== null);
  const full = shown.filter((d) => d.uptime >= 99.95).length;
  bar.setAttribute("role", "img");
  bar.setAttribute("aria-label", `Last ${days.length} days: ${shown.length} with checks, ${full} fully up`);
  bar.replaceChildren(...days.map((d) => {
    const cls = d.uptime === null ? "none" : d.uptime >= 99.95 ? "up" : d.uptime >= 99 ? "degraded" : "down";
    const title = d.uptime === null ? `${d.date}: no checks`
      : `${d.date}: ${percent(d.uptime)} of ${d.checks} checks${d.latency_ms === null ? "" : `, ${latency(d.latency_ms)} on average`}`;
    return h("span", { class: `tick ${cls}`, title });
  }));
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
  const form = $("add-form"), input = $("add-url"), save = $("add-save"), toggle = $("add-toggle"), push = $("add-push");
  const inputs = settings.buildFields($("add-fields"), "add", h);
  settings.showKind(inputs, "https");
  const withURL = { ...inputs, url: { input, error: $("add-url-error"), field: { name: "url" } } };
  const hint = $("add-hint"), urlHint = hint.textContent;
  // A push site has no address: its job reports in at a ping URL it is
  // given once saved.
  const showPush = () => {
    input.hidden = $("add-url-label").hidden = push.checked;
    hint.textContent = push.checked ? "It is given a ping URL once saved; say when its job runs below." : urlHint;
    settings.showKind(inputs, push.checked ? "push" : kindOf(input.value));
    save.disabled = !push.checked && normalizeURL(input.value) === null;
    if (push.checked) $("add-more").open = true;
  };
  push.addEventListener("change", () => {
    showPush();
    showError($("add-error"), null);
    settings.clearErrors(withURL);
  });
  const open = (on) => {
    form.hidden = !on;
    toggle.setAttribute("aria-expanded", String(on));
    if (on) input.focus();
    else {
      input.value = "";
      push.checked = false;
      showPush();
      save.disabled = true;
      showError($("add-error"), null);
      settings.clear(withURL);
      settings.showKind(inputs, "https");
      $("add-more").open = false;
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
    settings.showKind(inputs, kindOf(input.value));
    showError($("add-error"), null);
  });
  form.addEventListener("input", (e) => {
    if (e.target !== input) settings.clearErrors(withURL);
  });
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    if (!push.checked && normalizeURL(input.value) === null) return;
    save.disabled = true;
    save.textContent = "Saving…";
    try {
      settings.clearErrors(withURL);
      const what = push.checked ? { kind: "push" } : { url: input.value.trim() };
      const added = await call("POST", "/site", { ...what, ...settings.given(inputs) });
      changes++;
      open(false);
      if (added.ping_url) showPingURL(added.ping_url);
      if (nextAfter !== null || afters.length > 1) {
        // The new site is on the last page: search for it instead.
        $("search").value = added.url;
        goTo([0], added.url);
      }
      refreshSoon();
    } catch (err) {
      if (!settings.showAtField(withURL, err)) showError($("add-error"), err);
      else if (!withURL.url.error.hidden) showError($("add-error"), null);
      else $("add-more").open = true;
      save.disabled = false;
    } finally {
      save.textContent = "Save";
    }
  });
}

// --- editing and pausing ---

let editing = null; // the site the edit dialog shows, as loaded
let editInputs = null;

function setupEditDialog() {
  const dialog = $("edit-dialog"), form = $("edit-form");
  editInputs = settings.buildFields($("edit-fields"), "edit", h);
  const withURL = { ...editInputs, url: { input: $("edit-url"), error: $("edit-url-error"), field: { name: "url" } } };
  $("edit-cancel").addEventListener("click", () => dialog.close());
  $("edit-url").addEventListener("input", () => settings.showKind(editInputs, kindOf($("edit-url").value)));
  form.addEventListener("input", () => {
    settings.clearErrors(withURL);
    showError($("edit-error"), null);
  });
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    if (!editing) return;
    const patch = settings.changed(editInputs, editing);
    const url = $("edit-url").value.trim();
    if (url !== editing.url) patch.url = url;
    if (Object.keys(patch).length === 0) {
      dialog.close();
      return;
    }
    const save = $("edit-save");
    save.disabled = true;
    try {
      await call("PATCH", `/site/${editing.id}`, patch);
      changes++;
      dialog.close();
      refresh();
    } catch (err) {
      if (!settings.showAtField(withURL, err)) showError($("edit-error"), err);
    } finally {
      save.disabled = false;
    }
  });
}

async function openEdit(site) {
  const dialog = $("edit-dialog");
  settings.clear(editInputs);
  settings.clearErrors({ url: { input: $("edit-url"), error: $("edit-url-error"), field: { name: "url" } } });
  showError($("edit-error"), null);
  editing = null;
  $("edit-title").textContent = `Edit ${site.url}`;
  dialog.showModal();
  try {
    editing = await call("GET", `/site/${site.id}`);
    $("edit-url").value = editing.url;
    settings.fill(editInputs, editing);
    settings.showKind(editInputs, editing.kind);
    $("edit-url").focus();
  } catch (err) {
    showError($("edit-error"), err);
  }
}

async function togglePause(row, p) {
  p.pause.disabled = true;
  showError(p.error, null);
  try {
    const updated = await call("PATCH", `/site/${row.site.id}`, { paused: !row.site.paused });
    changes++;
    row.site = updated;
    refresh();
  } catch (err) {
    showError(p.error, err);
  } finally {
    p.pause.disabled = false;
  }
}

// --- the API key or token ---

function setupKeyDialog() {
  const dialog = $("key-dialog"), input = $("key-input"), error = $("key-error");
  onKeyNeeded(async (rejected) => {
    input.value = "";
    showError(error, rejected ? new Error("That key or token was not accepted. Try again.") : null);
    const answer = await ask(dialog, input);
    return answer === "save" && input.value.trim() ? input.value.trim() : null;
  });
}

// --- the detail view ---

/** How a site is checked, in words. */
function checkedHow(site) {
  if (site.kind === "push") return `its job reports in: ${site.schedule}`;
  if (site.kind === "dns") {
    const expect = site.expect ? `, an answer holding ${[].concat(site.expect).map((e) => `“${e}”`).join(" or ")}` : "";
    return `every ${site.interval}, ${site.dns_type} asked of ${site.dns_server || "the system's resolver"}, ${site.dns_rcode}${expect}`;
  }
  if (site.kind === "ws" || site.kind === "wss") {
    return `every ${site.interval}, a WebSocket upgrade${site.expect ? `, the first message holding “${site.expect}”` : ""}`;
  }
  if (site.kind === "grpc" || site.kind === "grpcs") {
    return `every ${site.interval}, gRPC health of ${site.grpc_service ? `“${site.grpc_service}”` : "the server"}${site.kind === "grpcs" ? " over TLS" : ""}`;
  }
  if (site.kind === "icmp") return `every ${site.interval}, ${site.count} echo requests, at most ${site.max_loss}% lost`;
  if (site.kind === "starttls") return `every ${site.interval}, a TLS handshake after ${site.starttls_protocol.toUpperCase()}'s STARTTLS`;
  if (site.kind === "tcp" || site.kind === "tls") {
    const what = site.kind === "tls" ? "a TLS handshake" : "a TCP connection";
    return `every ${site.interval}, ${what}${site.expect ? `, the reply holding “${site.expect}”` : ""}`;
  }
  const n = site.assertions?.length || 0;
  const asserted = n ? `, ${n} assertion${n === 1 ? "" : "s"}` : "";
  return `every ${site.interval}, ${site.method}, up when ${site.expect_status}${site.keyword ? `, keyword “${site.keyword}”${site.keyword_absent ? " absent" : ""}` : ""}${asserted}`;
}

async function openDetail(site) {
  const dialog = $("detail-dialog");
  $("detail-title").textContent = shownName(site) ? `${site.name} · ${site.url}` : site.url;
  $("detail-facts").replaceChildren();
  $("detail-chart").replaceChildren();
  $("detail-days").replaceChildren();
  $("detail-incidents").replaceChildren();
  $("detail-push").hidden = true;
  renderBadges(site);
  showError($("detail-error"), null);
  dialog.showModal();
  try {
    const [history, status, days, incidents] = await Promise.all([
      call("GET", `/history/${site.id}?limit=100`),
      call("GET", `/status?ids=${site.id}`),
      call("GET", `/history/${site.id}?days=90`),
      call("GET", `/incident?site=${site.id}&limit=10`),
    ]);
    renderIncidents($("detail-incidents"), incidents.incidents);
    const s = status.sites[site.id];
    const facts = [
      ["Status", site.paused ? "Paused" : !s ? "Unknown" : !s.up ? `Down: ${s.reason}` : s.degraded ? `Degraded: ${s.reason}` : "Up"],
      ["Checked", checkedHow(site)],
      ["Since", s ? `${when(new Date(s.since))} (${relative(new Date(s.since))})` : "—"],
      ["Last check", s ? `${relative(new Date(s.checked_at))}, ${latency(s.latency_ms)}${s.status_code ? `, HTTP ${s.status_code}` : ""}` : "—"],
      ["Uptime", ["24h", "7d", "30d", "90d", "365d"].map((w) => `${percent(history.uptime[w])} (${w})`).join(" · ")],
    ];
    if (s && s.cert_expires_at) facts.push(["Certificate", `expires ${when(new Date(s.cert_expires_at))}`]);
    facts.push(...(await renderPushDetail(site)));
    const locs = byLocation(s && s.locations);
    for (const l of locs.length > 1 ? locs : []) {
      const mine = history.checks.filter((c) => c.location === l.name && c.status_code);
      const mean = mine.length ? mine.reduce((sum, c) => sum + c.latency_ms, 0) / mine.length : null;
      facts.push([`From ${l.name}`, locationState(l) + (mean === null ? "" : `; mean ${latency(mean)} over its last ${mine.length} checks`)]);
    }
    $("detail-facts").replaceChildren(...facts.flatMap(([k, v]) => [h("dt", { text: k }), h("dd", { text: v })]));
    renderDays($("detail-days"), days.days);
    drawChart($("detail-chart"), history.checks);
  } catch (err) {
    showError($("detail-error"), err);
  }
}

// renderIncidents lists a site's latest incidents, newest first: when,
// for how long, and why.
function renderIncidents(list, incidents) {
  if (incidents.length === 0) {
    list.replaceChildren(h("li", { class: "quiet", text: "No incidents." }));
    return;
  }
  list.replaceChildren(
    ...incidents.map((i) => {
      const start = new Date(i.started_at);
      const end = i.ended_at ? new Date(i.ended_at) : null;
      const minutes = Math.max(1, Math.round(((end || new Date()) - start) / 60000));
      const lasted = minutes < 60 ? `${minutes} min` : `${Math.floor(minutes / 60)} h ${minutes % 60} min`;
      const text = end
        ? `${when(start)} to ${when(end)} (${lasted}, ${i.checks} checks): ${i.cause}`
        : `Ongoing since ${when(start)} (${lasted} so far): ${i.cause}`;
      return h("li", { class: end ? "incident" : "incident open", text });
    }),
  );
}

// badgeKinds are a site's badges: GET /badge/:id/<file>.
const badgeKinds = [
  ["status", "status.svg"],
  ["uptime", "uptime.svg?window=30d"],
  ["latency", "latency.svg"],
];

// renderBadges shows the site's badges and the Markdown that embeds them.
function renderBadges(site) {
  const urls = badgeKinds.map(([alt, file]) => [alt, new URL(`/badge/${site.id}/${file}`, location.href).href]);
  $("detail-badges").replaceChildren(...urls.map(([alt, src]) => h("img", { src, alt: `${alt} badge` })));
  $("detail-badge-markdown").value = urls.map(([alt, src]) => `![${alt}](${src})`).join("\n");
}

function setupBadgeCopy() {
  copier($("detail-badge-copy"), $("detail-badge-markdown"));
}

// renderStatusPages links the public status pages, made through
// /status-page, above the list; nothing shows while there are none.
async function renderStatusPages() {
  try {
    const { pages } = await call("GET", "/status-page");
    const nav = $("status-pages");
    nav.replaceChildren(
      h("span", { text: "Status pages:" }),
      ...pages.map((p) => h("a", { href: `/p/${encodeURIComponent(p.slug)}`, text: p.title })),
    );
    nav.hidden = pages.length === 0;
  } catch {
    // The list of sites says when the server cannot be reached.
  }
}

if (await startSession()) {
  setupAddForm();
  renderStatusPages();
  setupAlerts().then(refresh);
  document.addEventListener("maintenance-changed", refresh);
  setupBadgeCopy();
  setupPush(async (site) => {
    $("renew-name").textContent = site.name || site.url;
    return (await ask($("renew-dialog"), $("renew-cancel"))) === "renew";
  });
  setupEditDialog();
  setupKeyDialog();
  setupPaging();
  refresh();
  setInterval(tickTimes, 5000);
}
