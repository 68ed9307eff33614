// The allforone dashboard: polls GET /api/v1/dashboard with the API token and draws it.
// Plain JavaScript, no build step. Everything from the network is set as text, never as HTML:
// batch names come from other peers.
"use strict";

const TOKEN_KEY = "allforone.token";
const POLL_MS = 2000;
let token = "";
let timer = null;
let myID = "";

const $ = (id) => document.getElementById(id);

function el(tag, attrs, ...kids) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (k === "class") e.className = v;
    else if (k === "style") e.style.cssText = v;
    else if (k === "text") e.textContent = v;
    else e.setAttribute(k, v);
  }
  for (const k of kids) if (k != null) e.append(k);
  return e;
}

function fill(id, rows) { $(id).replaceChildren(...rows); }
function short(id) { return id ? "…" + id.slice(-8) : ""; }
function plural(n, one, many) { return n + " " + (n === 1 ? one : (many || one + "s")); }
function bytes(n) {
  if (n >= 1 << 30) return (n / (1 << 30)).toFixed(1) + " GiB";
  if (n >= 1 << 20) return (n / (1 << 20)).toFixed(1) + " MiB";
  if (n >= 1 << 10) return (n / (1 << 10)).toFixed(0) + " KiB";
  return n + " B";
}
function secs(s) {
  if (s < 1) return (s * 1000).toFixed(0) + " ms";
  if (s < 60) return s.toFixed(1) + " s";
  if (s < 3600) return Math.floor(s / 60) + " min " + Math.floor(s % 60) + " s";
  return Math.floor(s / 3600) + " h " + Math.floor((s % 3600) / 60) + " min";
}
function ago(t, now) { return secs(Math.max(0, (now - new Date(t)) / 1000)) + " ago"; }

// --- the token -----------------------------------------------------------------------

function takeTokenFromURL() {
  const m = location.hash.match(/token=([0-9a-fA-F]+)/);
  if (m) {
    localStorage.setItem(TOKEN_KEY, m[1]);
    history.replaceState(null, "", location.pathname + location.search); // keep it out of history
  }
}

function showLogin(msg) {
  clearTimeout(timer);
  $("main").hidden = true;
  $("login").hidden = false;
  $("login-error").textContent = msg || "";
  setState("offline", "no token");
  $("token").focus();
}

$("login-form").addEventListener("submit", (ev) => {
  ev.preventDefault();
  localStorage.setItem(TOKEN_KEY, $("token").value.trim());
  $("token").value = "";
  start();
});
$("logout").addEventListener("click", (ev) => {
  ev.preventDefault();
  localStorage.removeItem(TOKEN_KEY);
  showLogin("");
});

function start() {
  token = localStorage.getItem(TOKEN_KEY) || "";
  if (!token) return showLogin("");
  $("login").hidden = true;
  $("main").hidden = false;
  poll();
}

async function poll() {
  clearTimeout(timer);
  try {
    const r = await fetch("/api/v1/dashboard", { headers: { Authorization: "Bearer " + token }, cache: "no-store" });
    if (r.status === 401) {
      localStorage.removeItem(TOKEN_KEY);
      return showLogin("That token was refused. Paste the one in <data dir>/api.token, or run `allforone dashboard`.");
    }
    if (!r.ok) throw new Error(r.status + " " + r.statusText);
    render(await r.json());
  } catch (e) {
    setState("offline", "daemon unreachable");
    $("updated").textContent = "cannot reach the daemon (" + e.message + "); retrying";
  }
  timer = setTimeout(poll, POLL_MS);
}

function setState(state, text) {
  $("state").dataset.state = state;
  $("state").textContent = text;
  $("why-card").dataset.state = state;
}

// --- drawing -------------------------------------------------------------------------

function render(d) {
  const now = new Date(d.time);
  myID = d.node.peer_id;
  document.title = "allforone · " + short(myID);
  $("who").textContent = short(myID) + " in swarm " + d.node.swarm + (d.node.private ? " (private)" : "") + " · " + d.node.version;

  const why = d.why;
  const paused = why.reasons.some((r) => r.code === "paused");
  const state = why.computing ? "computing" : paused ? "paused" : d.health.connected_peers === 0 ? "offline" : "idle";
  setState(state, why.computing ? "computing" : paused ? "paused" : d.health.connected_peers === 0 ? "no peers" : "idle");
  renderWhy(why);
  renderTiles(d);
  renderChart(d.activity);
  renderBatches(d.batches);
  renderRunning(d.activity, now);
  renderRecent(d.activity, now);
  renderPeers(d.peers);
  renderNode(d);
  renderPrefs(d.prefs);
  $("updated").textContent = "updated " + now.toLocaleTimeString();
}

function renderWhy(why) {
  $("why-title").textContent = why.computing ? "Computing" : "Why am I idle?";
  $("why-summary").textContent = why.summary;
  fill("why-list", why.reasons.map((r) =>
    el("li", { "data-code": r.code }, el("span", { class: "code", text: r.code }),
      el("div", { class: "reason", text: r.reason }), el("div", { class: "fix", text: r.fix }))));
}

function renderTiles(d) {
  const a = d.activity;
  $("t-peers").textContent = d.health.connected_peers;
  $("t-peers-sub").textContent = d.health.known_peers + " known, " + d.health.topic_peers + " on the topic";
  $("t-running").textContent = a.running.length + " / " + a.slots;
  $("t-running-sub").textContent = "task slots in use";
  const ok = a.throughput.reduce((s, p) => s + p.ok, 0);
  const failed = a.throughput.reduce((s, p) => s + p.failed, 0);
  $("t-done").textContent = ok + failed;
  $("t-done-sub").textContent = (failed ? failed + " failed · " : "") + ((ok + failed) / 10).toFixed(1) + " per minute";
  const held = d.batches.reduce((s, b) => s + b.held_results, 0);
  $("t-held").textContent = held;
  $("t-held-sub").textContent = "of " + plural(d.batches.filter((b) => b.held_results > 0).length, "batch", "batches");
  const u = d.usage;
  const used = u.blob_bytes + u.result_bytes;
  $("t-disk").textContent = bytes(used);
  $("t-disk-sub").textContent = u.quota_bytes ? "of " + bytes(u.quota_bytes) + " quota" : "no quota";
  const pct = u.quota_bytes ? Math.min(100, (100 * used) / u.quota_bytes) : 0;
  $("t-disk-bar").style.width = pct + "%";
  $("t-disk-bar").classList.toggle("over", u.quota_bytes > 0 && used > u.quota_bytes);
}

const SVG = "http://www.w3.org/2000/svg";
function svg(tag, attrs) {
  const e = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, v);
  return e;
}

function renderChart(a) {
  const pts = a.throughput;
  const W = 1000, H = 180, L = 34, B = 20, T = 8;
  const max = Math.max(1, ...pts.map((p) => p.ok + p.failed));
  const nice = Math.max(4, Math.ceil(max / 4) * 4); // four grid lines at whole numbers
  const s = svg("svg", { viewBox: `0 0 ${W} ${H}`, preserveAspectRatio: "none" });
  for (let i = 0; i <= 4; i++) {
    const y = T + ((H - T - B) * i) / 4;
    s.append(svg("line", { x1: L, x2: W, y1: y, y2: y, class: "grid" }));
    const lab = svg("text", { x: L - 6, y: y + 3, "text-anchor": "end", class: "axis" });
    lab.textContent = Math.round((nice * (4 - i)) / 4);
    s.append(lab);
  }
  const bw = (W - L) / pts.length;
  pts.forEach((p, i) => {
    const x = L + i * bw + 1;
    const hOK = ((H - T - B) * p.ok) / nice;
    const hF = ((H - T - B) * p.failed) / nice;
    if (p.ok) s.append(svg("rect", { x, y: H - B - hOK, width: bw - 2, height: hOK, class: "ok" }));
    if (p.failed) s.append(svg("rect", { x, y: H - B - hOK - hF, width: bw - 2, height: hF, class: "failed" }));
    if (i % 6 === 0) {
      const lab = svg("text", { x, y: H - 5, class: "axis" });
      const m = Math.round(((pts.length - i) * a.bucket_seconds) / 60);
      lab.textContent = m ? "-" + m + " min" : "";
      s.append(lab);
    }
  });
  const tail = svg("text", { x: W - 4, y: H - 5, "text-anchor": "end", class: "axis" });
  tail.textContent = "now";
  s.append(tail);
  $("chart").replaceChildren(s);
}

function renderBatches(batches) {
  $("batches-sub").textContent = plural(batches.length, "batch", "batches") + " known";
  if (!batches.length) {
    fill("batches", [el("p", { class: "empty", text: "No batch yet. `allforone submit` gives the swarm work." })]);
    return;
  }
  fill("batches", batches.map((b) => {
    const st = b.status;
    const head = el("div", { class: "head" },
      el("span", { class: "name", text: b.name || "(unnamed)" }),
      el("span", { class: "id mono", text: short(b.batch_id) }),
      b.steward ? el("span", { class: "id", text: "· this node is a steward" }) : null,
      el("span", { class: "state " + (st ? st.state : ""), text: st ? st.state : "…" }));
    const box = el("div", { class: "batch", "data-batch": b.batch_id }, head);
    if (!st) {
      box.append(el("div", { class: "nums", text: b.tasks + " tasks · progress unknown: " + (b.status_error || "asking its steward") }));
      return box;
    }
    const pct = (n) => (st.total ? (100 * n) / st.total : 0) + "%";
    box.append(el("div", { class: "bar", role: "progressbar", "aria-valuemin": 0, "aria-valuemax": st.total, "aria-valuenow": st.done },
      el("div", { class: "done", style: "width:" + pct(st.done) }),
      el("div", { class: "running", style: "width:" + pct(st.running) }),
      el("div", { class: "failed", style: "width:" + pct(st.failed) })));
    box.append(el("div", { class: "nums", text:
      `${st.done} done · ${st.running} running · ${st.failed} failed · ${st.total} tasks · R=${st.redundancy} K=${st.replication}` +
      (st.done ? ` · every result on ≥${st.min_replicas} peers` : "") + (st.reassigned ? ` · ${st.reassigned} leases reassigned` : "") }));
    // Why it cannot progress, and why tasks failed (the first few).
    for (const w of st.waiting || []) {
      box.append(el("div", { class: "waiting", text: w.reason + " — " + w.fix }));
    }
    const fails = st.failures || [];
    for (const f of fails.slice(0, 3)) {
      const kind = f.kind === "exit" && f.exit_code != null ? "exit code " + f.exit_code : f.kind;
      const line = (f.stderr || "").trim().split("\n").pop();
      box.append(el("div", { class: "failure", title: f.stderr || "" },
        el("span", { class: "mono", text: "task " + f.task + (f.name ? " (" + f.name + ")" : "") }),
        el("span", { text: " " + kind + (f.detail ? ": " + f.detail : "") + (line && !(f.detail || "").includes(line) ? " · stderr: " + line : "") })));
    }
    const more = st.failed - Math.min(fails.length, 3);
    if (more > 0) {
      box.append(el("div", { class: "failure", text: "and " + plural(more, "more failed task", "more failed tasks") + " (allforone status " + b.batch_id + " --json)" }));
    }
    const peers = (st.peers || []).slice().sort((x, y) => y.done - x.done);
    const top = Math.max(1, ...peers.map((p) => p.done));
    box.append(el("div", { class: "shares" }, ...peers.slice(0, 12).map((p) =>
      el("span", { class: "share" + (p.peer_id === myID ? " me" : ""), title: p.peer_id },
        el("span", { class: "mono", text: p.peer_id === myID ? "this node" : short(p.peer_id) }),
        el("span", { class: "mini" }, el("div", { style: "width:" + (100 * p.done) / top + "%" })),
        el("span", { text: p.done + (p.running ? " +" + p.running : "") + (p.wrong ? " (" + p.wrong + " wrong)" : "") })))));
    return box;
  }));
}

function renderRunning(a, now) {
  $("running-sub").textContent = a.running.length + " of " + a.slots + " slots";
  fill("running", a.running.map((t) => el("tr", {},
    el("td", { text: t.name || short(t.batch_id), title: t.batch_id }), el("td", { text: t.task }),
    el("td", { text: secs(Math.max(0, (now - new Date(t.started)) / 1000)) }))));
  $("running-empty").hidden = a.running.length > 0;
}

function renderRecent(a, now) {
  const rows = a.recent.slice(0, 12);
  fill("recent", rows.map((r) => el("tr", {},
    el("td", { text: r.name || short(r.batch_id), title: r.batch_id }), el("td", { text: r.task }),
    el("td", { class: r.ok ? "ok-text" : "bad-text", text: r.ok ? "ok · " + bytes(r.output_size) : "failed: " + (r.error || "").replace(/^exit:(\d+)$/, "exit code $1") }),
    el("td", { text: secs(r.seconds) }), el("td", { text: ago(r.finished, now) }))));
  $("recent-empty").hidden = rows.length > 0;
}

function renderPeers(peers) {
  $("peers-sub").textContent = plural(peers.length, "peer") + " connected";
  fill("peers", peers.map((p) => el("tr", { "data-peer": p.peer_id },
    el("td", { class: "mono", text: short(p.peer_id), title: p.peer_id }),
    el("td", { text: p.direction + (p.relayed ? " (relayed)" : "") }),
    el("td", { text: p.latency_ms ? p.latency_ms.toFixed(1) + " ms" : "–" }),
    el("td", { text: p.agent || "" }),
    el("td", { class: "addr mono", text: (p.addrs || [])[0] || "", title: (p.addrs || []).join("\n") }))));
  $("peers-empty").hidden = peers.length > 0;
}

function copyButton(text) {
  const b = el("button", { class: "copy", type: "button", text: "copy" });
  b.addEventListener("click", () => navigator.clipboard && navigator.clipboard.writeText(text).then(() => { b.textContent = "copied"; }));
  return b;
}

function renderNode(d) {
  const n = d.node, h = d.health;
  const kv = [["peer ID", el("span", {}, el("span", { class: "mono", text: n.peer_id }), copyButton(n.peer_id))],
    ["swarm", n.swarm + (n.private ? " (private, swarm key)" : " (public)")],
    ["reachability", reachText(n)],
    ["version", n.version], ["API", n.api], ["uptime", secs(h.uptime_seconds)],
    ["routing table", plural(h.routing_table_size, "peer")]];
  fill("node", kv.flatMap(([k, v]) => [el("dt", { text: k }), typeof v === "string" ? el("dd", { text: v }) : el("dd", {}, v)]));
  fill("addrs", n.addrs.map((a) => el("li", { class: "mono", text: a })));
}

// reachText says whether peers can dial this node, and what follows from it.
function reachText(n) {
  if (n.reachability === "public") return "public: peers can dial this node" + (n.dht_server ? "; it stewards batches and holds results" : "");
  if (n.reachability === "private") {
    const relays = (n.relays || []).length;
    return "behind a NAT: takes tasks, holds no results; " + (relays ? "reachable through " + plural(relays, "relay") : "no relay yet");
  }
  return "unknown (no AutoNAT verdict; normal on a LAN)" + (n.dht_server ? "; serves the DHT" : "");
}

function renderPrefs(p) {
  const kv = [["slots", plural(p.slots, "task") + " at once"], ["max_task_memory_mb", p.max_task_memory_mb + " MiB per task"],
    ["disk_quota_mb", p.disk_quota_mb ? p.disk_quota_mb + " MiB" : "none"], ["retention", p.retention],
    ["cpu_busy_percent", p.cpu_busy_percent ? "pause above " + p.cpu_busy_percent + "% (over " + p.cpu_busy_window + ")" : "never pause"],
    ["run_on_battery", p.run_on_battery ? "yes" : "no"], ["schedule", p.schedule || "any time"],
    ["metrics_public", p.metrics_public ? "yes: /metrics needs no token" : "no"]];
  fill("prefs", kv.flatMap(([k, v]) => [el("dt", { class: "mono", text: k }), el("dd", { text: v })]));
}

takeTokenFromURL();
start();
