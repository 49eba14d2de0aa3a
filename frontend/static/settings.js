// The settings of a site, as form fields: one list of fields serves the
// add form and the edit dialog. Values go to the API in its own shapes
// (headers an object, tags a list, numbers numbers), and an error the
// server names a field in is shown at that field.

const web = ["http", "https"], stream = ["tcp", "tls", "ws", "wss"];
// A push site is not fetched: its job reports in. Settings of fetching
// are not its own; "push" names it in a field's notKinds.
const fetched = ["push"];

/** The settings a form shows, in the order it shows them; those with kinds
 * are settings of those kinds of check alone. */
export const fields = [
  { name: "name", label: "Name", placeholder: "the URL's host" },
  { name: "interval", label: "Check every", placeholder: "default", hint: "10s to 24h, like 30s or 5m", notKinds: fetched },
  { name: "push_interval", api: "interval", label: "Its job runs every", placeholder: "or give a cron schedule", hint: "1m to 365d, like 1h or 1d", kinds: ["push"] },
  { name: "cron", label: "Or at the times of (cron)", placeholder: "0 2 * * *", hint: "five fields: minute hour day month weekday", kinds: ["push"] },
  { name: "timezone", label: "In the time zone", placeholder: "UTC", hint: "like Europe/Berlin", kinds: ["push"] },
  { name: "grace", label: "It may be late by", placeholder: "1h, or the period if shorter", hint: "1s to 7d", kinds: ["push"] },
  { name: "timeout", label: "Timeout", placeholder: "default", hint: "at most the interval and 60s", notKinds: fetched },
  { name: "method", label: "Method", type: "select", options: ["GET", "HEAD", "POST"], kinds: web },
  { name: "expect_status", label: "Expected statuses", placeholder: "100-399", hint: "like 200-299,301", kinds: web },
  { name: "keyword", label: "Keyword", placeholder: "none", hint: "text the page must contain", kinds: web },
  { name: "keyword_absent", label: "The keyword must not appear", type: "checkbox", kinds: web },
  { name: "assertions", label: "Assertions: every one must hold", type: "assertions", kinds: web },
  { name: "send", label: "Send once connected", type: "textarea", placeholder: "nothing", kinds: stream },
  { name: "expect", label: "The reply must contain", placeholder: "nothing: connecting is enough", kinds: stream },
  { name: "count", label: "Echo requests", type: "number", min: 1, max: 10, placeholder: "3", kinds: ["icmp"] },
  { name: "max_loss", label: "Lost at most (%)", type: "number", min: 0, max: 100, placeholder: "0", kinds: ["icmp"] },
  { name: "grpc_service", label: "gRPC service", placeholder: "the server as a whole", kinds: ["grpc", "grpcs"] },
  { name: "dns_type", label: "Record type", type: "select", options: ["A", "AAAA", "CNAME", "MX", "NS", "TXT", "SRV", "CAA", "SOA", "PTR"], kinds: ["dns"] },
  { name: "dns_server", label: "DNS server", placeholder: "the system's resolver", hint: "host or host:port", kinds: ["dns"] },
  { name: "dns_expect", api: "expect", label: "An answer must hold one of", placeholder: "any answer", hint: "values separated by commas", kinds: ["dns"] },
  { name: "dns_rcode", label: "Answer code", type: "select", options: ["NOERROR", "NXDOMAIN", "SERVFAIL", "REFUSED", "FORMERR", "NOTIMP"], kinds: ["dns"] },
  {
    name: "starttls_protocol", label: "Protocol upgraded with STARTTLS", type: "select", kinds: ["starttls"],
    options: [{ value: "", text: "the port's (25, 587: SMTP; 143: IMAP; 110: POP3)" }, "smtp", "imap", "pop3"],
  },
  { name: "max_latency", label: "Degraded when slower than", placeholder: "none", hint: "like 800ms", notKinds: fetched },
  { name: "remind_every", label: "Remind while down every", placeholder: "never", hint: "1m to 7d, like 1h" },
  { name: "confirmations", label: "Re-checks before down", type: "number", min: 0, max: 10, placeholder: "default" },
  { name: "recoveries", label: "Passing checks before up", type: "number", min: 1, max: 10, placeholder: "1" },
  { name: "headers", label: "Request headers", type: "textarea", placeholder: "Name: value, one per line", kinds: web },
  { name: "body", label: "Request body (POST)", type: "textarea", kinds: web },
  { name: "tags", label: "Tags", placeholder: "prod, team:web", hint: "separated by commas" },
  { name: "locations", label: "Checked from", placeholder: "every location", hint: "location names, separated by commas", notKinds: fetched },
  { name: "quorum", label: "Down when this many locations see it", type: "number", min: 1, max: 32, placeholder: "a majority", notKinds: fetched },
  { name: "paused", label: "Paused: not checked, not alerted", type: "checkbox" },
];

/** The ops each source of an assertion takes, as the server checks them. */
const assertOps = {
  json: ["==", "!=", "<", "<=", ">", ">=", "contains", "!contains", "matches", "exists", "!exists"],
  header: ["==", "!=", "<", "<=", ">", ">=", "contains", "!contains", "matches", "exists", "!exists"],
  status: ["==", "!=", "<", "<=", ">", ">="],
  latency: ["<", "<=", ">", ">="],
  body: ["==", "!=", "contains", "!contains", "matches"],
};
const pathHint = { json: "$.status", header: "Content-Type" };
const valueHint = { latency: "800ms", status: "200", body: "text", json: "ok, 42, true or \"42\"", header: "text" };

/** Builds the editor of a site's assertions: a row per assertion (source,
 * path, op, value), rows added and removed with buttons. Its element has
 * get() and set(list), in the API's shapes. */
function assertionEditor(id, h) {
  const rows = h("div", { class: "assertions" });
  const box = h("div", { id, tabindex: "-1" }, rows);
  // Each row's parts are labelled by its place, again after a row goes.
  const parts = { source: "what of the answer", path: "path", op: "comparison", value: "value" };
  const label = () => [...rows.children].forEach((r, i) => {
    for (const [part, what] of Object.entries(parts)) {
      r.querySelector(`[data-part="${part}"]`).setAttribute("aria-label", `Assertion ${i + 1}: ${what}`);
    }
    r.querySelector("button").setAttribute("aria-label", `Remove assertion ${i + 1}`);
  });
  const row = (a = { source: "json", op: "==" }) => {
    const source = h("select", { "data-part": "source" },
      ...Object.keys(assertOps).map((s) => h("option", { value: s, text: s })));
    const path = h("input", { type: "text", autocomplete: "off", spellcheck: "false", "data-part": "path" });
    const op = h("select", { "data-part": "op" });
    const value = h("input", { type: "text", autocomplete: "off", spellcheck: "false", "data-part": "value" });
    const shape = () => {
      const ops = assertOps[source.value];
      const was = op.value;
      op.replaceChildren(...ops.map((o) => h("option", { value: o, text: o })));
      op.value = ops.includes(was) ? was : ops[0];
      path.hidden = !(source.value in pathHint);
      path.placeholder = pathHint[source.value] || "";
      value.placeholder = valueHint[source.value];
      value.hidden = op.value === "exists" || op.value === "!exists";
    };
    source.addEventListener("change", shape);
    op.addEventListener("change", shape);
    const remove = h("button", { type: "button", class: "secondary", text: "Remove" });
    const r = h("div", { class: "assertion" }, source, path, op, value, remove);
    remove.addEventListener("click", () => {
      r.remove();
      label();
      box.dispatchEvent(new Event("input", { bubbles: true }));
    });
    source.value = a.source;
    shape();
    op.value = a.op;
    shape();
    path.value = a.path || "";
    value.value = a.value === undefined || a.value === null ? "" : showValue(a.value);
    rows.append(r);
    label();
    return r;
  };
  const add = h("button", { type: "button", class: "secondary", text: "Add an assertion" });
  add.addEventListener("click", () => row().querySelector("select").focus());
  box.append(add);
  box.get = () => [...rows.children].map((r) => {
    const part = (name) => r.querySelector(`[data-part="${name}"]`);
    const a = { source: part("source").value };
    if (!part("path").hidden && part("path").value.trim() !== "") a.path = part("path").value.trim();
    a.op = part("op").value;
    if (!part("value").hidden) a.value = readValue(a.source, a.op, part("value").value);
    return a;
  });
  box.set = (list) => {
    rows.replaceChildren();
    for (const a of list || []) row(a);
  };
  return box;
}

/** An assertion's value as typed, in the API's shape: a number, true or
 * false where it reads as one and is compared as one, text in quotes as
 * that text, anything else as text. */
function readValue(source, op, typed) {
  const v = typed.trim();
  if (source === "latency" || source === "body" || ["contains", "!contains", "matches"].includes(op)) return v;
  if (/^-?\d+(\.\d+)?$/.test(v)) return Number(v);
  if (v === "true" || v === "false") return v === "true";
  if (v.length >= 2 && v.startsWith('"') && v.endsWith('"')) {
    try {
      return JSON.parse(v);
    } catch {
      return v;
    }
  }
  return v;
}

/** A value from the API as it is typed: text that would read as a number
 * or true or false is shown in quotes. */
function showValue(v) {
  if (typeof v !== "string") return String(v);
  return /^-?\d+(\.\d+)?$/.test(v.trim()) || v === "true" || v === "false" ? JSON.stringify(v) : v;
}

/** Builds the fields into container, with ids that start with prefix, and
 * returns them by name. */
export function buildFields(container, prefix, h) {
  const inputs = {};
  for (const f of fields) {
    const id = `${prefix}-${f.name}`;
    let input;
    if (f.type === "assertions") {
      input = assertionEditor(id, h);
      const error = h("p", { id: `${id}-error`, class: "error field-error", role: "alert" });
      error.hidden = true;
      input.setAttribute("aria-describedby", error.id);
      const box = h("fieldset", { class: "field assertions-field" }, h("legend", { text: f.label }), input,
        h("span", { class: "hint", text: "of the answer: a JSON value by JSONPath, a header, the status, the latency or the body" }), error);
      container.append(box);
      inputs[f.name] = { input, error, field: f, box };
      continue;
    }
    if (f.type === "select") {
      input = h("select", { id, name: f.name },
        ...f.options.map((o) => h("option", typeof o === "string" ? { value: o, text: o } : o)));
    } else if (f.type === "textarea") {
      input = h("textarea", { id, name: f.name, rows: "2", spellcheck: "false" });
    } else {
      input = h("input", { id, name: f.name, type: f.type || "text", autocomplete: "off", spellcheck: "false" });
      if (f.min !== undefined) input.min = String(f.min);
      if (f.max !== undefined) input.max = String(f.max);
    }
    if (f.placeholder) input.placeholder = f.placeholder;
    const error = h("p", { id: `${id}-error`, class: "error field-error", role: "alert" });
    error.hidden = true;
    input.setAttribute("aria-describedby", error.id);
    const label = h("label", { for: id, text: f.label });
    const field = f.type === "checkbox"
      ? h("div", { class: "field check-field" }, input, label, error)
      : h("div", { class: "field" }, label, input, f.hint ? h("span", { class: "hint", text: f.hint }) : null, error);
    container.append(field);
    inputs[f.name] = { input, error, field: f, box: field };
  }
  return inputs;
}

/** Shows the fields of a kind of check alone: the others are hidden, and
 * neither sent nor compared. */
export function showKind(inputs, kind) {
  for (const x of Object.values(inputs)) {
    x.hidden = Boolean(x.field.kinds) && !x.field.kinds.includes(kind) ||
      Boolean(x.field.notKinds) && x.field.notKinds.includes(kind);
    if (x.box) x.box.hidden = x.hidden;
  }
}

/** The value of a field in the API's shape; undefined when it is empty. */
function read({ input, field }) {
  if (field.type === "checkbox") return input.checked;
  if (field.type === "assertions") {
    const list = input.get();
    return list.length ? list : undefined;
  }
  const v = input.value.trim();
  if (v === "") return undefined;
  switch (field.name) {
    case "confirmations":
    case "recoveries":
    case "quorum":
    case "count":
    case "max_loss":
      return /^-?\d+$/.test(v) ? Number(v) : v; // the server explains what is wrong
    case "tags":
    case "locations":
      return v.split(",").map((t) => t.trim()).filter(Boolean);
    case "headers": {
      const out = {};
      for (const line of input.value.split("\n")) {
        if (!line.trim()) continue;
        const i = line.indexOf(":");
        if (i < 0) out[line.trim()] = "";
        else out[line.slice(0, i).trim()] = line.slice(i + 1).trim();
      }
      return out;
    }
    case "body":
    case "send":
      return input.value;
    case "dns_expect":
      return v.split(",").map((t) => t.trim()).filter(Boolean);
  }
  return v;
}

/** The name of a field's setting in the API. */
const key = (field) => field.api || field.name;

/** Shows a setting's value from the API in its field. */
function write({ input, field }, value) {
  if (field.type === "checkbox") {
    input.checked = Boolean(value);
    return;
  }
  if (field.type === "assertions") {
    input.set(value);
    return;
  }
  if (value === undefined || value === null) {
    const first = field.type === "select" ? field.options[0] : "";
    input.value = typeof first === "string" ? first : first.value;
  } else if (field.name === "tags" || field.name === "locations") input.value = value.join(", ");
  else if (field.name === "dns_expect") input.value = [].concat(value).join(", ");
  else if (field.name === "headers") input.value = Object.entries(value).map(([k, v]) => `${k}: ${v}`).join("\n");
  else input.value = String(value);
}

/** Fills the fields from a site as GET /site/:id shows it. */
export function fill(inputs, site) {
  for (const x of Object.values(inputs)) write(x, site[key(x.field)]);
}

/** Empties the fields. */
export function clear(inputs) {
  for (const x of Object.values(inputs)) write(x, undefined);
  clearErrors(inputs);
}

/** The settings given in the fields, for a new site: empty fields and
 * unticked boxes are left to their defaults. */
export function given(inputs) {
  const out = {};
  for (const x of Object.values(inputs)) {
    if (x.hidden) continue;
    const v = read(x);
    if (v === undefined || v === false) continue;
    // A select's first option is the default, left to the server.
    if (x.field.type === "select" && v === x.input.options[0]?.value) continue;
    out[key(x.field)] = v;
  }
  return out;
}

/** The settings that differ from the site as it was loaded, for a PATCH:
 * a field emptied goes back to its default (null), and so does a setting
 * of a kind of check the URL no longer names. */
export function changed(inputs, site) {
  const out = {};
  const cleared = [];
  for (const x of Object.values(inputs)) {
    if (x.hidden) {
      // A setting of the kind the URL no longer names goes back to its
      // default, which a kind without it accepts.
      if (!isEmpty(site[key(x.field)])) cleared.push(key(x.field));
      continue;
    }
    const v = read(x);
    const before = x.field.name === "dns_expect" && site.expect !== undefined ? [].concat(site.expect) : site[key(x.field)];
    if (JSON.stringify(v === undefined ? emptyOf(x.field) : v) === JSON.stringify(before ?? emptyOf(x.field))) continue;
    out[key(x.field)] = v === undefined ? null : v;
  }
  // A setting two fields share (interval) is cleared only if neither shows.
  const shown = new Set(Object.values(inputs).filter((x) => !x.hidden).map((x) => key(x.field)));
  for (const k of cleared) if (!(k in out) && !shown.has(k)) out[k] = null;
  return out;
}

function isEmpty(v) {
  return v === undefined || v === null || v === "" || v === false ||
    (typeof v === "object" && Object.keys(v).length === 0);
}

function emptyOf(field) {
  return { tags: [], locations: [], headers: {}, body: "", keyword: "", send: "", expect: "", dns_expect: [], assertions: [] }[field.name] ?? null;
}

export function clearErrors(inputs) {
  for (const x of Object.values(inputs)) {
    x.error.hidden = true;
    x.error.textContent = "";
    x.input.removeAttribute("aria-invalid");
  }
}

/** Shows a server error at the field its message names, and reports
 * whether there was one. */
export function showAtField(inputs, err) {
  const m = /^([a-z_]+)\b/.exec(err.message || "");
  // A URL already monitored is the URL field's mistake.
  // A setting is shown at the field of it the form shows.
  const shown = m && Object.values(inputs).find((y) => !y.hidden && y.field && key(y.field) === m[1]);
  const x = err.code === "already_exists" && inputs.url ? inputs.url : shown;
  if (!x) return false;
  x.error.textContent = err.message;
  x.error.hidden = false;
  x.input.setAttribute("aria-invalid", "true");
  // An assertion's mistake is shown at its row's part: assertions[1].path.
  const at = /^assertions\[(\d+)\]\.([a-z]+)/.exec(err.message);
  const part = at && x.input.querySelectorAll(".assertion")[Number(at[1])]?.querySelector(`[data-part="${at[2]}"]`);
  (part || x.input).focus();
  return true;
}
