// Patroli 110 live map: the project's own canvas map (Web Mercator), no library and no CDN, so it works offline.
// Base layers come from the server: an H3 grid, the jurisdiction outlines, the stations, and raster tiles only
// where a site runs a tile server (PATROLI_WEB_TILE_URL). Live data comes over /ws/live: a snapshot, then
// batched deltas; a reconnect gets a fresh snapshot.
"use strict";

const STATUS_COLOURS = {
  available: "#3fd07a", offered: "#f5c542", dispatched: "#4aa3ff", on_scene: "#b36bff",
  busy: "#ff8c42", off_duty: "#8893a0", offline: "#5a616c", unknown: "#9aa4b0",
};
const STALE_FILL = "#69707b";
const LEVEL_COLOURS = ["#ff6b6b", "#ff4d4d", "#ff9f1a", "#ff3df5"];  // by incident level (patroli.incidents.TIERS)
const LEVEL_NAMES = ["Polsek", "Polres", "Polda", "Mabes"];
const DISPOSITIONS = ["resolved", "no_action", "referred", "duplicate", "false_report"];
const TILE = 256;

const S = {  // everything the page knows; exposed as window.patroli for people debugging (and the tests)
  token: sessionStorage.getItem("patroli.token"),
  user: null, config: null,
  units: new Map(), incidents: new Map(), stations: [],
  h3: [], outlines: [], track: null, selected: null, placing: null,  // placing: the incident the next map click places
  view: { lat: -6.2, lon: 106.83, zoom: 11 },
  offsetMs: 0, staleS: 120, heartbeatS: 10,
  ws: null, wsArea: null, lastFrame: 0, retryMs: 500, fitted: false, frames: 0,
};
window.patroli = S;

const $ = (id) => document.getElementById(id);
const canvas = $("map");
const ctx = canvas.getContext("2d");
let dirty = true;
const tileCache = new Map();

// ------------------------------------------------------------------------------------------ projection
function worldSize(z) { return TILE * Math.pow(2, z); }
function project(lat, lon, z) {
  const s = Math.sin(Math.max(-85.05, Math.min(85.05, lat)) * Math.PI / 180);
  const w = worldSize(z);
  return [(lon + 180) / 360 * w, (0.5 - Math.log((1 + s) / (1 - s)) / (4 * Math.PI)) * w];
}
function unproject(x, y, z) {
  const w = worldSize(z);
  const lon = x / w * 360 - 180;
  const n = Math.PI - 2 * Math.PI * y / w;
  return [180 / Math.PI * Math.atan(0.5 * (Math.exp(n) - Math.exp(-n))), lon];
}
function origin() {
  const [cx, cy] = project(S.view.lat, S.view.lon, S.view.zoom);
  return [cx - canvas.clientWidth / 2, cy - canvas.clientHeight / 2];
}
function toScreen(lat, lon) {
  const [ox, oy] = origin();
  const [x, y] = project(lat, lon, S.view.zoom);
  return [x - ox, y - oy];
}
function viewBbox(pad = 0) {
  const [ox, oy] = origin();
  const w = canvas.clientWidth, h = canvas.clientHeight;
  const [lat0, lon0] = unproject(ox - pad * w, oy + h + pad * h, S.view.zoom);
  const [lat1, lon1] = unproject(ox + w + pad * w, oy - pad * h, S.view.zoom);
  const c = (v, a) => Math.max(-a, Math.min(a, v));
  return [c(lon0, 180), c(lat0, 85), c(lon1, 180), c(lat1, 85)].map((v) => +v.toFixed(5));
}
function contains(b, lat, lon) { return b && lon >= b[0] && lon <= b[2] && lat >= b[1] && lat <= b[3]; }
function serverNow() { return Date.now() + S.offsetMs; }

// ------------------------------------------------------------------------------------------ API
async function api(path, opts = {}) {
  const headers = Object.assign({ "Accept": "application/json" }, opts.headers || {});
  if (S.token) headers["Authorization"] = "Bearer " + S.token;
  if (opts.body && typeof opts.body !== "string") { headers["Content-Type"] = "application/json"; opts.body = JSON.stringify(opts.body); }
  const r = await fetch(path, Object.assign({}, opts, { headers }));
  if (r.status === 401 && !path.endsWith("/auth/login")) { showLogin("session expired: log in again"); throw new Error("unauthorized"); }
  const text = await r.text();
  const doc = text ? JSON.parse(text) : null;
  if (!r.ok) throw new Error((doc && doc.detail) || r.statusText);
  return doc;
}

// ------------------------------------------------------------------------------------------ login
function showLogin(message) {
  S.token = null; S.user = null;
  sessionStorage.removeItem("patroli.token");
  if (S.ws) { S.ws.onclose = null; S.ws.close(); S.ws = null; }
  $("login-overlay").hidden = false;
  $("login-error").textContent = message || "";
  $("logout-btn").hidden = true;
  $("whoami").textContent = "";
  setConn("off", "offline");
}
$("login-form").addEventListener("submit", async (e) => {
  e.preventDefault();
  $("login-error").textContent = "";
  try {
    const doc = await api("/api/v1/auth/login", { method: "POST", body: { username: $("username").value, password: $("password").value } });
    S.token = doc.token;
    sessionStorage.setItem("patroli.token", doc.token);
    $("password").value = "";
    await start(doc.user);
  } catch (err) { $("login-error").textContent = err.message; }
});
$("logout-btn").addEventListener("click", async () => {
  try { await api("/api/v1/auth/logout", { method: "POST" }); } catch (e) { /* logged out either way */ }
  showLogin("");
});

// The status line: what the server says is wrong with the deployment (boundary files missing in production).
function showWarnings(warnings) {
  const el = $("status-warning");
  el.textContent = (warnings || []).join(" · ");
  el.hidden = !el.textContent;
}

async function start(user) {
  S.user = user;
  $("login-overlay").hidden = true;
  $("logout-btn").hidden = false;
  $("whoami").textContent = `${user.username} · ${user.role.replace("_", " ")}${user.station_code ? " " + user.station_code : ""}`;
  $("incidents-title").textContent = user.role === "station_officer" ? `Queue of station ${user.station_code}` : "Open incidents";
  S.config = await api("/api/v1/map/config");
  S.staleS = S.config.stale_s; S.heartbeatS = S.config.heartbeat_s;
  $("attribution").textContent = S.config.tile_url ? S.config.tile_attribution : "H3 grid · offline";
  showWarnings(S.config.warnings);
  setInterval(async () => { showWarnings((await api("/api/v1/map/config")).warnings); }, 60_000);
  S.stations = await api("/api/v1/stations");
  connect();
  loadLayers();
  renderLists();
}

// ------------------------------------------------------------------------------------------ live feed
function setConn(cls, text) { const el = $("conn"); el.className = "conn " + cls; el.textContent = text; }

function connect() {
  if (!S.token) return;
  const proto = location.protocol === "https:" ? "wss" : "ws";
  const area = S.fitted ? viewBbox(0.5) : null;  // the first connection takes everything, to fit the view
  const url = `${proto}://${location.host}/ws/live${area ? "?bbox=" + area.join(",") : ""}`;
  const ws = new WebSocket(url, ["patroli.v1", "bearer." + S.token]);
  S.ws = ws; S.wsArea = area;
  setConn("wait", "connecting");
  ws.onopen = () => { S.retryMs = 500; S.lastFrame = Date.now(); setConn("on", "live"); };
  ws.onmessage = (e) => { S.lastFrame = Date.now(); S.frames++; handle(JSON.parse(e.data)); };
  ws.onclose = () => {
    if (S.ws !== ws) return;
    S.ws = null;
    setConn("off", "reconnecting");
    // A refused handshake looks like any other close: ask whether the token is still good (a 401 shows the
    // login form); a server that is down is asked again, with backoff.
    const retry = () => { setTimeout(connect, S.retryMs); S.retryMs = Math.min(S.retryMs * 2, 5000); };
    api("/api/v1/auth/me").then(retry).catch((e) => { if (e.message !== "unauthorized") retry(); });
  };
}
setInterval(() => {  // heartbeat watchdog: a silent feed is a dead one
  if (S.ws && S.ws.readyState === 1 && Date.now() - S.lastFrame > 3 * S.heartbeatS * 1000) S.ws.close();
}, 1000);

function sendArea() {
  if (!S.ws || S.ws.readyState !== 1) return;
  const view = viewBbox(0);
  if (S.wsArea && contains(S.wsArea, view[1], view[0]) && contains(S.wsArea, view[3], view[2])) return;
  S.wsArea = viewBbox(0.5);
  S.ws.send(JSON.stringify({ type: "area", bbox: S.wsArea }));
}

function handle(msg) {
  if (msg.now) S.offsetMs = Date.parse(msg.now) - Date.now();
  if (msg.type === "snapshot") {
    S.units = new Map(msg.units.map((u) => [u.unit_id, u]));
    S.incidents = new Map(msg.incidents.map((i) => [i.incident_id, i]));
    S.staleS = msg.stale_s; S.heartbeatS = msg.heartbeat_s;
    S.wsArea = msg.area;
    if (!S.fitted) { S.fitted = true; fitToUnits(); }
  } else if (msg.type === "delta") {
    for (const p of msg.positions) {
      let u = S.units.get(p.u);
      if (!u) { u = { unit_id: p.u, status: "unknown", kind: "", polres_code: null }; S.units.set(p.u, u); }
      if (u.fix_time && Date.parse(p.t) < Date.parse(u.fix_time)) continue;  // older than what we show
      u.lat = p.lat; u.lon = p.lon; u.fix_time = p.t;
      u.speed_mps = p.v ?? null; u.course_deg = p.c ?? null;
      if (S.track && S.track.unit_id === p.u) S.track.points.push([p.lat, p.lon]);
    }
    for (const s of msg.units) { const u = S.units.get(s.unit_id); if (u) u.status = s.status; }
    for (const i of msg.incidents) {
      if (i.closed_at) S.incidents.delete(i.incident_id); else S.incidents.set(i.incident_id, i);
    }
    if (msg.error) console.warn("live feed:", msg.error);
  }
  dirty = true;
  scheduleLists();
}

function fitToUnits() {
  const placed = [...S.units.values()].filter((u) => u.lat != null);
  if (!placed.length) { S.view = { lat: S.config.center[0], lon: S.config.center[1], zoom: 11 }; sendArea(); return; }
  let [a, b, c, d] = [90, 180, -90, -180];
  for (const u of placed) { a = Math.min(a, u.lat); b = Math.min(b, u.lon); c = Math.max(c, u.lat); d = Math.max(d, u.lon); }
  const w = Math.max(canvas.clientWidth, 100), h = Math.max(canvas.clientHeight, 100);
  let zoom = 15;
  while (zoom > 3) {
    const [x0, y1] = project(a, b, zoom), [x1, y0] = project(c, d, zoom);
    if (x1 - x0 < w * 0.8 && y1 - y0 < h * 0.8) break;
    zoom -= 0.5;
  }
  S.view = { lat: (a + c) / 2, lon: (b + d) / 2, zoom };
  sendArea();
  loadLayers();
}

// ------------------------------------------------------------------------------------------ base layers
let layerTimer = null;
function loadLayers() {
  clearTimeout(layerTimer);
  layerTimer = setTimeout(async () => {
    if (!S.token) return;
    const bbox = viewBbox(0.2).join(",");
    try {
      const h3 = await api(`/api/v1/map/h3?bbox=${bbox}`);
      S.h3 = h3.cells;
    } catch (e) { S.h3 = []; }
    if (S.config && S.config.jurisdiction) {
      try { S.outlines = (await api(`/api/v1/map/jurisdiction?bbox=${bbox}`)).regencies; } catch (e) { S.outlines = []; }
    }
    dirty = true;
  }, 250);
}

// ------------------------------------------------------------------------------------------ drawing
function resize() {
  const r = window.devicePixelRatio || 1;
  canvas.width = canvas.clientWidth * r; canvas.height = canvas.clientHeight * r;
  ctx.setTransform(r, 0, 0, r, 0, 0);
  dirty = true;
}

function drawTiles() {
  const url = S.config && S.config.tile_url;
  if (!url) return;
  const z = Math.max(0, Math.min(19, Math.round(S.view.zoom)));
  const scale = Math.pow(2, S.view.zoom - z);
  const [ox, oy] = origin();
  const n = Math.pow(2, z);
  const x0 = Math.floor(ox / scale / TILE), y0 = Math.floor(oy / scale / TILE);
  const x1 = Math.floor((ox + canvas.clientWidth) / scale / TILE), y1 = Math.floor((oy + canvas.clientHeight) / scale / TILE);
  for (let x = x0; x <= x1; x++) for (let y = Math.max(0, y0); y <= Math.min(n - 1, y1); y++) {
    const tx = ((x % n) + n) % n;
    const key = `${z}/${tx}/${y}`;
    let img = tileCache.get(key);
    if (!img) {
      img = new Image();
      img.onload = () => { dirty = true; };
      img.src = url.replace("{z}", z).replace("{x}", tx).replace("{y}", y);
      tileCache.set(key, img);
      if (tileCache.size > 600) tileCache.delete(tileCache.keys().next().value);
    }
    if (img.complete && img.naturalWidth) ctx.drawImage(img, x * TILE * scale - ox, y * TILE * scale - oy, TILE * scale, TILE * scale);
  }
}

function path(points, close) {
  ctx.beginPath();
  points.forEach(([lat, lon], i) => { const [x, y] = toScreen(lat, lon); if (i) ctx.lineTo(x, y); else ctx.moveTo(x, y); });
  if (close) ctx.closePath();
}

function draw() {
  const w = canvas.clientWidth, h = canvas.clientHeight;
  ctx.fillStyle = "#10151c"; ctx.fillRect(0, 0, w, h);
  drawTiles();
  ctx.lineWidth = 1; ctx.strokeStyle = "#1f2a38";
  for (const c of S.h3) { path(c.b, true); ctx.stroke(); }
  ctx.strokeStyle = "#4b5f7d"; ctx.lineWidth = 1.2;
  for (const r of S.outlines) for (const ring of r.rings) { path(ring.map(([lon, lat]) => [lat, lon]), true); ctx.stroke(); }
  const now = serverNow();
  // stations
  for (const s of S.stations) {
    const [x, y] = toScreen(s.lat, s.lon);
    if (x < -20 || y < -20 || x > w + 20 || y > h + 20) continue;
    const size = s.level === "mabes" ? 9 : s.level === "polda" ? 7 : 5;
    if ((s.level === "polres" && S.view.zoom < 7) || (s.level === "polsek" && S.view.zoom < 10)) continue;
    ctx.fillStyle = s.level === "polres" ? "#5b7fb0" : s.level === "polda" ? "#9bb8e0" : "#e0d19b";
    ctx.fillRect(x - size / 2, y - size / 2, size, size);
    if (S.view.zoom >= 11 || s.level === "polda" || s.level === "mabes") { ctx.fillStyle = "#8fa6c8"; ctx.font = "11px system-ui"; ctx.fillText(s.name, x + size, y - size); }
  }
  // the selected unit's track
  if (S.track && S.track.points.length > 1) {
    ctx.strokeStyle = "#ffd84d"; ctx.lineWidth = 2.5; path(S.track.points, false); ctx.stroke();
  }
  // incidents
  for (const i of S.incidents.values()) {
    if (i.lat == null) continue;
    const [x, y] = toScreen(i.lat, i.lon);
    ctx.save(); ctx.translate(x, y); ctx.rotate(Math.PI / 4);
    ctx.fillStyle = LEVEL_COLOURS[i.level] || "#f44";
    ctx.fillRect(-7, -7, 14, 14);
    if (i.acked_at) { ctx.strokeStyle = "#fff"; ctx.lineWidth = 2; ctx.strokeRect(-7, -7, 14, 14); }
    ctx.restore();
    ctx.fillStyle = "#fff"; ctx.font = "bold 11px system-ui";
    ctx.fillText(incidentLabel(i, now), x + 11, y + 4);
  }
  // units
  for (const u of S.units.values()) {
    if (u.lat == null) continue;
    const [x, y] = toScreen(u.lat, u.lon);
    if (x < -20 || y < -20 || x > w + 20 || y > h + 20) continue;
    const stale = isStale(u, now);
    const colour = STATUS_COLOURS[u.status] || STATUS_COLOURS.unknown;
    if (u.course_deg != null && !stale) {  // heading: a wedge ahead of the marker
      const a = (u.course_deg - 90) * Math.PI / 180;
      ctx.fillStyle = colour;
      ctx.beginPath();
      ctx.moveTo(x + Math.cos(a) * 15, y + Math.sin(a) * 15);
      ctx.lineTo(x + Math.cos(a + 0.8) * 5.5, y + Math.sin(a + 0.8) * 5.5);
      ctx.lineTo(x + Math.cos(a - 0.8) * 5.5, y + Math.sin(a - 0.8) * 5.5);
      ctx.closePath(); ctx.fill();
    }
    ctx.beginPath(); ctx.arc(x, y, 6, 0, 2 * Math.PI);
    ctx.fillStyle = stale ? STALE_FILL : colour; ctx.fill();
    ctx.lineWidth = u.unit_id === S.selected ? 3 : 1.5;
    ctx.strokeStyle = u.unit_id === S.selected ? "#ffd84d" : stale ? colour : "#0b0f14"; ctx.stroke();
    if (S.view.zoom >= 13 || u.unit_id === S.selected) { ctx.fillStyle = "#ccd"; ctx.font = "11px system-ui"; ctx.fillText(u.unit_id, x + 9, y + 4); }
  }
}

function isStale(u, now) { return !u.fix_time || now - Date.parse(u.fix_time) > S.staleS * 1000; }
function secondsLeft(i, now) { return i.station_deadline && !i.acked_at ? Math.max(0, (Date.parse(i.station_deadline) - now) / 1000) : null; }
function incidentLabel(i, now) {
  const left = secondsLeft(i, now);
  return `L${i.level} ${LEVEL_NAMES[i.level] || ""}${left != null ? " · " + Math.ceil(left) + "s" : i.acked_at ? " · ack" : ""}`;
}

function frame() {
  if (dirty) { dirty = false; draw(); }
  requestAnimationFrame(frame);
}
setInterval(() => { dirty = true; updateCountdowns(); }, 1000);  // countdowns and staleness move with time

// The page's Content-Security-Policy refuses inline style attributes: colours go in data-bg and are set here.
function paintBackgrounds(root) {
  for (const el of root.querySelectorAll("[data-bg]")) el.style.background = el.dataset.bg;
}

function legend() {
  $("legend").innerHTML = Object.entries(STATUS_COLOURS).map(([k, c]) => `<div><i data-bg="${c}"></i>${k.replace("_", " ")}</div>`).join("")
    + `<div><i data-bg="${STALE_FILL}"></i>stale</div>`;
  paintBackgrounds($("legend"));
}

// ------------------------------------------------------------------------------------------ panel
let listTimer = null;
function scheduleLists() { if (!listTimer) listTimer = setTimeout(() => { listTimer = null; renderLists(); }, 300); }

function esc(s) { return String(s ?? "").replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" }[c])); }

function myIncidents() {
  const all = [...S.incidents.values()];
  const me = S.user;
  const mine = me && me.role === "station_officer"
    ? all.filter((i) => i.station_code === me.station_code || i.polres_code === me.station_code)
    : all;
  return mine.sort((a, b) => (a.acked_at ? 1 : 0) - (b.acked_at ? 1 : 0) || a.priority - b.priority || Date.parse(b.received_at) - Date.parse(a.received_at));
}

function renderLists() {
  if (!S.user) return;
  const now = serverNow();
  const role = S.user.role;
  // An officer acknowledges only what is queued at their station now; one that escalated away stays in sight.
  const canAck = (i) => !i.acked_at && (role === "admin" || (role === "station_officer" && i.station_code === S.user.station_code));
  const canClose = role !== "auditor";
  const canPlace = (i) => i.lat == null && (role === "dispatcher" || role === "admin");  // only a text address
  const incidents = myIncidents();
  $("incidents").innerHTML = incidents.length ? incidents.map((i) => `
    <li class="incident" data-incident="${esc(i.incident_id)}">
      <div class="head"><strong>${esc(i.incident_type)} · P${i.priority}</strong>
        <span class="level l${i.level}${i.acked_at ? " acked" : ""}">${esc(LEVEL_NAMES[i.level] || i.level_name)} ${esc(i.station_code)}</span></div>
      <div class="muted">${esc(i.incident_id)} · ${esc(i.state)}${i.unit_id ? " · " + esc(i.unit_id) : ""}</div>
      <div>${esc(i.address || i.description || "")}</div>
      <div class="actions">
        ${i.acked_at ? `<span class="acked-by">acknowledged by ${esc(i.acked_by)}</span>`
          : `<span class="countdown" data-deadline="${esc(i.station_deadline || "")}">${secondsLeft(i, now) != null ? "escalates in " + Math.ceil(secondsLeft(i, now)) + " s" : ""}</span>`}
        ${canAck(i) ? `<button class="ack primary" data-incident="${esc(i.incident_id)}">Acknowledge</button>` : ""}
        ${canPlace(i) ? `<button class="place${S.placing === i.incident_id ? " active" : ""}" data-incident="${esc(i.incident_id)}">${S.placing === i.incident_id ? "click the map…" : "Place on map"}</button>` : ""}
        ${canClose ? `<select class="disposition">${DISPOSITIONS.map((d) => `<option>${d}</option>`).join("")}</select><button class="close" data-incident="${esc(i.incident_id)}">Close</button>` : ""}
      </div>
      <div class="error"></div>
    </li>`).join("") : `<li class="muted">nothing open${role === "station_officer" ? " for your station" : ""}</li>`;
  const units = [...S.units.values()].sort((a, b) => a.unit_id.localeCompare(b.unit_id));
  $("units-count").textContent = `(${units.length})`;
  const shown = units.slice(0, 300);
  $("units").innerHTML = shown.map((u) => `
    <li data-unit="${esc(u.unit_id)}" data-lat="${u.lat ?? ""}" data-lon="${u.lon ?? ""}" data-status="${esc(u.status)}" class="${u.unit_id === S.selected ? "selected" : ""}">
      <span class="dot" data-bg="${isStale(u, now) ? STALE_FILL : STATUS_COLOURS[u.status] || STATUS_COLOURS.unknown}"></span>${esc(u.unit_id)}
      <span class="muted">${esc(u.status)}${u.lat != null ? ` · ${u.lat.toFixed(5)}, ${u.lon.toFixed(5)}` : ""}</span></li>`).join("");
  paintBackgrounds($("units"));
  const live = units.filter((u) => !isStale(u, now)).length;
  $("summary").textContent = `${units.length} units, ${live} live · ${S.incidents.size} open incidents`;
}

function updateCountdowns() {
  const now = serverNow();
  for (const el of document.querySelectorAll(".countdown[data-deadline]")) {
    const d = el.dataset.deadline;
    if (d) el.textContent = "escalates in " + Math.max(0, Math.ceil((Date.parse(d) - now) / 1000)) + " s";
  }
}

$("incidents").addEventListener("click", async (e) => {
  const li = e.target.closest("li.incident");
  if (!li) return;
  const id = li.dataset.incident;
  const err = li.querySelector(".error");
  try {
    if (e.target.classList.contains("ack")) {
      e.target.disabled = true;
      const inc = await api(`/api/v1/incidents/${encodeURIComponent(id)}/ack`, { method: "POST", body: {} });
      S.incidents.set(inc.incident_id, inc);
      renderLists(); dirty = true;
    } else if (e.target.classList.contains("place")) {
      S.placing = S.placing === id ? null : id;  // the next click on the map gives its point
      canvas.classList.toggle("placing", S.placing != null);
      renderLists();
    } else if (e.target.classList.contains("close")) {
      const disposition = li.querySelector(".disposition").value;
      await api(`/api/v1/incidents/${encodeURIComponent(id)}/close`, { method: "POST", body: { disposition } });
      S.incidents.delete(id);
      renderLists(); dirty = true;
    } else if (e.target.tagName !== "SELECT") {
      const inc = S.incidents.get(id);
      if (inc && inc.lat != null) { S.view.lat = inc.lat; S.view.lon = inc.lon; dirty = true; viewChanged(); }
    }
  } catch (ex) { if (err) err.textContent = ex.message; e.target.disabled = false; }
});

$("units").addEventListener("click", (e) => {
  const li = e.target.closest("li[data-unit]");
  if (li) selectUnit(li.dataset.unit, true);
});

async function selectUnit(unitId, centre) {
  S.selected = unitId;
  const u = S.units.get(unitId);
  if (centre && u && u.lat != null) { S.view.lat = u.lat; S.view.lon = u.lon; viewChanged(); }
  dirty = true;
  renderLists();
  const box = $("unit-detail");
  box.hidden = false;
  box.innerHTML = `<strong>${esc(unitId)}</strong> <span class="muted">loading the last 30 minutes…</span>`;
  try {
    const page = await api(`/api/v1/units/${encodeURIComponent(unitId)}/track?limit=5000`);
    S.track = { unit_id: unitId, points: page.points.map((p) => [p.lat, p.lon]) };
    const cur = S.units.get(unitId) || {};
    const age = cur.fix_time ? Math.round((serverNow() - Date.parse(cur.fix_time)) / 1000) : null;
    box.innerHTML = `<strong>${esc(unitId)}</strong> <button id="unit-close">×</button>
      <dl><dt>status</dt><dd>${esc(cur.status)}</dd><dt>kind</dt><dd>${esc(cur.kind)}</dd>
      <dt>Polres</dt><dd>${esc(cur.polres_code || "–")}</dd>
      <dt>last fix</dt><dd>${age != null ? age + " s ago" : "none"}</dd>
      <dt>speed</dt><dd>${cur.speed_mps != null ? (cur.speed_mps * 3.6).toFixed(0) + " km/h" : "–"}</dd>
      <dt>source</dt><dd>${esc(cur.source || "–")}</dd>
      <dt>battery</dt><dd>${cur.battery_pct != null ? Math.round(cur.battery_pct) + " %" : "–"}</dd>
      <dt>accuracy</dt><dd>${cur.accuracy_m != null ? "± " + Math.round(cur.accuracy_m) + " m" : "–"}</dd>
      <dt>track</dt><dd id="track-count">${page.points.length} fixes in 30 min</dd></dl>`;
    $("unit-close").onclick = () => { S.selected = null; S.track = null; box.hidden = true; dirty = true; renderLists(); };
  } catch (ex) { box.innerHTML = `<strong>${esc(unitId)}</strong> <span class="error">${esc(ex.message)}</span>`; }
  dirty = true;
}

// ------------------------------------------------------------------------------------------ interaction
let drag = null;
function viewChanged() { dirty = true; loadLayers(); clearTimeout(viewChanged.t); viewChanged.t = setTimeout(sendArea, 300); }
canvas.addEventListener("mousedown", (e) => { drag = { x: e.clientX, y: e.clientY, moved: false }; canvas.classList.add("dragging"); });
window.addEventListener("mouseup", (e) => {
  canvas.classList.remove("dragging");
  if (drag && !drag.moved && e.target === canvas) clickAt(e);
  drag = null;
});
window.addEventListener("mousemove", (e) => {
  if (!drag) return;
  const dx = e.clientX - drag.x, dy = e.clientY - drag.y;
  if (Math.abs(dx) + Math.abs(dy) > 2) drag.moved = true;
  if (!drag.moved) return;
  const [cx, cy] = project(S.view.lat, S.view.lon, S.view.zoom);
  [S.view.lat, S.view.lon] = unproject(cx - dx, cy - dy, S.view.zoom);
  drag.x = e.clientX; drag.y = e.clientY;
  viewChanged();
});
function zoomAt(factor, sx, sy) {
  const z = Math.max(3, Math.min(19, S.view.zoom + factor));
  const [ox, oy] = origin();
  const [lat, lon] = unproject(ox + sx, oy + sy, S.view.zoom);  // keep the point under the cursor in place
  S.view.zoom = z;
  const [px, py] = project(lat, lon, z);
  [S.view.lat, S.view.lon] = unproject(px - sx + canvas.clientWidth / 2, py - sy + canvas.clientHeight / 2, z);
  viewChanged();
}
canvas.addEventListener("wheel", (e) => {
  e.preventDefault();
  const r = canvas.getBoundingClientRect();
  zoomAt(e.deltaY < 0 ? 0.5 : -0.5, e.clientX - r.left, e.clientY - r.top);
}, { passive: false });
$("zoom-in").onclick = () => zoomAt(1, canvas.clientWidth / 2, canvas.clientHeight / 2);
$("zoom-out").onclick = () => zoomAt(-1, canvas.clientWidth / 2, canvas.clientHeight / 2);

async function placeIncident(id, lat, lon) {
  S.placing = null;
  canvas.classList.remove("placing");
  const li = document.querySelector(`#incidents li[data-incident="${CSS.escape(id)}"]`);
  try {
    const inc = await api(`/api/v1/incidents/${encodeURIComponent(id)}/location`, { method: "POST", body: { lat, lon } });
    S.incidents.set(inc.incident_id, inc);
  } catch (ex) { if (li) li.querySelector(".error").textContent = ex.message; return; }
  renderLists(); dirty = true;
}

function clickAt(e) {
  const r = canvas.getBoundingClientRect();
  const sx = e.clientX - r.left, sy = e.clientY - r.top;
  if (S.placing) {
    const [ox, oy] = origin();
    const [lat, lon] = unproject(ox + sx, oy + sy, S.view.zoom);
    placeIncident(S.placing, +lat.toFixed(6), +lon.toFixed(6));
    return;
  }
  let best = null, bestD = 12 * 12;
  for (const u of S.units.values()) {
    if (u.lat == null) continue;
    const [x, y] = toScreen(u.lat, u.lon);
    const d = (x - sx) ** 2 + (y - sy) ** 2;
    if (d < bestD) { best = u; bestD = d; }
  }
  if (best) selectUnit(best.unit_id, false);
}

// ------------------------------------------------------------------------------------------ start
window.addEventListener("resize", () => { resize(); viewChanged(); });
resize(); legend(); requestAnimationFrame(frame);
S.toScreen = toScreen;
if (S.token) {
  api("/api/v1/auth/me").then(start).catch(() => showLogin(""));
} else {
  showLogin("");
}
