// Push sites in the dashboard: the ping URL shown once, with a crontab
// line to paste; and, in a push site's detail, its schedule, its last
// signal, when the next is due and its recent runs.

import { call } from "./api.js";
import { $, copier, h, showError } from "./dom.js";
import { latency, relative, when } from "./format.js";

/** The line a crontab runs after a job, to ping its URL. */
export function curlLine(pingURL) {
  return `0 2 * * * /path/to/job.sh && curl -fsS -m 10 --retry 5 ${pingURL}`;
}

/** Shows a push site's new ping URL, token and all, this once. */
export function showPingURL(pingURL) {
  $("ping-url").value = pingURL;
  $("ping-curl").value = curlLine(pingURL);
  $("ping-dialog").showModal();
  $("ping-copy").focus();
}

let detailSite = null; // the push site the detail shows

/** Sets up the copy buttons and the new ping URL button. */
export function setupPush(confirmNew) {
  copier($("ping-copy"), $("ping-url"));
  copier($("ping-curl-copy"), $("ping-curl"));
  copier($("detail-ping-copy"), $("detail-ping-url"));
  copier($("detail-ping-curl-copy"), $("detail-ping-curl"));
  $("detail-ping-new").addEventListener("click", async () => {
    const site = detailSite;
    if (!site || !(await confirmNew(site))) return;
    try {
      const { ping_url: url } = await call("POST", `/site/${site.id}/token`);
      $("detail-ping-url").value = url;
      $("detail-ping-curl").value = curlLine(url);
      $("detail-ping-url").select();
    } catch (err) {
      showError($("detail-error"), err);
    }
  });
}

/** What a signal said, in words. */
function said(s) {
  switch (s.kind) {
    case "success": return "success";
    case "fail": return "failure";
    case "exit": return s.exit_code === 0 ? "exit code 0 (success)" : `exit code ${s.exit_code}`;
    case "start": return "started";
    case "log": return "log";
  }
  return s.kind;
}

/** Shows a push site's ping URL and runs in its detail, and returns the
 * facts to list about it: its schedule, last signal and next due. */
export async function renderPushDetail(site) {
  const section = $("detail-push");
  detailSite = site.kind === "push" ? site : null;
  section.hidden = !detailSite;
  if (!detailSite) return [];
  $("detail-ping-url").value = site.ping_url;
  $("detail-ping-curl").value = curlLine(site.ping_url);
  const runs = await call("GET", `/runs/${site.id}?limit=20`);
  const body = $("detail-runs").tBodies[0];
  body.replaceChildren(...runs.signals.map((s) => {
    const at = new Date(s.at);
    const tr = h("tr", { class: `run ${s.kind}${s.kind === "exit" && s.exit_code !== 0 ? " fail" : ""}` },
      h("td", { text: when(at), title: relative(at) }),
      h("td", { text: said(s) + (s.rid ? ` · run ${s.rid.slice(0, 8)}` : "") }),
      h("td", { text: s.duration_ms === null ? "—" : latency(s.duration_ms) }),
    );
    if (s.body) tr.title = s.body; // the job's output, on hover
    return tr;
  }));
  if (runs.signals.length === 0) body.replaceChildren(h("tr", {}, h("td", { colspan: "3", class: "quiet", text: "No signal yet." })));
  const at = (t) => t ? `${when(new Date(t))} (${relative(new Date(t))})` : "—";
  const facts = [
    ["Expected", `${runs.schedule}, late by at most ${site.grace}`],
    ["Last signal", at(runs.last_signal_at)],
    ["Next due", runs.due_at ? at(runs.due_at) : site.paused ? "nothing while paused" : "after its next success"],
  ];
  if (runs.going.length) facts.push(["Running", runs.going.map((r) => `since ${when(new Date(r.started_at))}`).join(", ")]);
  return facts;
}
