// Formatting helpers: times, durations, percentages, URL checks.

const units = [
  ["day", 86400],
  ["hour", 3600],
  ["minute", 60],
];

/** "just now", "1 minute ago", "3 hours ago", "in 2 days"... */
export function relative(date, now = new Date()) {
  const secs = Math.round((now - date) / 1000);
  const abs = Math.abs(secs);
  if (abs < 45) return secs >= 0 ? "just now" : "in a moment";
  for (const [unit, size] of units) {
    if (abs >= size) {
      const n = Math.round(abs / size);
      const text = `${n} ${unit}${n === 1 ? "" : "s"}`;
      return secs >= 0 ? `${text} ago` : `in ${text}`;
    }
  }
  return "just now";
}

/** A date and time for tooltips, in the user's locale. */
export function when(date) {
  return date.toLocaleString(undefined, {
    month: "short", day: "numeric", hour: "2-digit", minute: "2-digit", second: "2-digit",
  });
}

/** "12 ms", "1.2 s". */
export function latency(ms) {
  if (ms == null) return "—";
  if (ms < 1000) return `${Math.round(ms)} ms`;
  return `${(ms / 1000).toFixed(1)} s`;
}

/** "99.95%", "100%", or "—" for no data. */
export function percent(p) {
  if (p == null) return "—";
  if (p === 100) return "100%";
  return `${Math.floor(p * 100) / 100}%`;
}

/** Days from now until date, rounded down. */
export function daysUntil(date, now = new Date()) {
  return Math.floor((date - now) / 86400000);
}

/** The kind of check of a URL as typed: its scheme, https without one. */
export function kindOf(input) {
  const m = /^([a-z][a-z0-9+.-]*):\/\//i.exec(input.trim());
  return m ? m[1].toLowerCase() : "https";
}

/** The URL the server will store for input, or null if it would refuse it:
 * http or https with a host (without a scheme, https), or tcp or tls with a
 * host and a port alone; or starttls, grpc or grpcs likewise; or dns or icmp with a name alone;
 * or ws or wss with a host. */
export function normalizeURL(input) {
  let s = input.trim();
  if (!s || s.length > 2048) return null;
  const lower = s.toLowerCase();
  if (lower.startsWith("dns://") || lower.startsWith("icmp://")) {
    return /^(dns|icmp):\/\/(\[[0-9a-f:.]+\]|[^\s/:?#@[\]]+)\/?$/i.test(s) ? s : null;
  }
  if (/^(tcp|tls|starttls|grpcs?):\/\//.test(lower)) {
    return /^(tcp|tls|starttls|grpcs?):\/\/(\[[0-9a-f:.]+\]|[^\s/:?#@[\]]+):\d{1,5}\/?$/i.test(s) ? s : null;
  }
  if (!lower.includes("://") && !lower.startsWith("http:") && !lower.startsWith("https:")) {
    s = "https://" + s;
  }
  if (!/^(https?|wss?):\/\//i.test(s)) return null;
  let u;
  try {
    u = new URL(s);
  } catch {
    return null;
  }
  if (!u.hostname || /\s/.test(s.split("/")[2] || "")) return null;
  return s;
}
