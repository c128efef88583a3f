// The live feed (/ws/live): a snapshot, then batched deltas. A reconnect (with backoff, after a refused or
// dropped socket, or a feed silent for three heartbeats) gets a fresh snapshot and the view is restored from
// it without a reload: the map, the open incident and anything being typed are untouched.
import { store } from "./store.js";
import { api } from "./api.js";

let ws = null;
let retryMs = 500;
let lastFrame = 0;
let area = null;
const frameHooks = new Set();
// Publish → received in this page, per position (ms; positions carry their fix time, set when published):
// the benchmark's reference for the map's publish → drawn.
export const receivedDelays = [];

export function onFrame(f) {
  frameHooks.add(f);
  return () => frameHooks.delete(f);
}

export function connect() {
  const { token } = store.get();
  if (!token) return;
  const proto = location.protocol === "https:" ? "wss" : "ws";
  const query = area ? "?bbox=" + area.join(",") : "";
  const sock = new WebSocket(`${proto}://${location.host}/ws/live${query}`, ["patroli.v1", "bearer." + token]);
  ws = sock;
  store.set({ conn: store.get().conn === "offline" ? "connecting" : "reconnecting" });
  sock.onopen = () => {
    retryMs = 500;
    lastFrame = Date.now();
    store.set({ conn: "live" });
  };
  sock.onmessage = (e) => {
    lastFrame = Date.now();
    apply(JSON.parse(e.data));
  };
  sock.onclose = () => {
    if (ws !== sock) return;
    ws = null;
    store.set({ conn: "reconnecting" });
    const retry = () => {
      setTimeout(connect, retryMs);
      retryMs = Math.min(retryMs * 2, 5000);
    };
    // A refused handshake looks like any other close: a 401 here shows the login form (api() does that).
    api("/api/v1/auth/me").then(retry, (e) => {
      if (e.code !== "unauthorized") retry();
    });
  };
}

export function disconnect() {
  if (ws) {
    const s = ws;
    ws = null;
    s.onclose = null;
    s.close();
  }
  store.set({ conn: "offline" });
}

// For tests and for a person whose network dropped: close the socket as a network failure would.
export function dropConnection() {
  if (ws) ws.close();
}

export function setArea(bbox) {
  area = bbox;
  if (ws && ws.readyState === 1) ws.send(JSON.stringify({ type: "area", bbox }));
}

setInterval(() => {
  if (ws && ws.readyState === 1 && Date.now() - lastFrame > 3 * store.get().heartbeatS * 1000) ws.close();
}, 1000);

export function apply(msg) {
  const s = store.get();
  const patch = {};
  if (msg.now) patch.offsetMs = Date.parse(msg.now) - Date.now();
  const changed = [];
  if (msg.type === "snapshot") {
    s.units.clear();
    for (const u of msg.units) s.units.set(u.unit_id, u);
    s.incidents.clear();
    for (const i of msg.incidents) s.incidents.set(i.incident_id, i);
    patch.staleS = msg.stale_s;
    patch.heartbeatS = msg.heartbeat_s;
  } else if (msg.type === "delta") {
    const now = Date.now(); // the publisher shares this machine's clock (the benchmark)
    for (const p of msg.positions) receivedDelays.push(now - Date.parse(p.t));
    if (receivedDelays.length > 200000) receivedDelays.splice(0, 100000);
    for (const p of msg.positions) {
      let u = s.units.get(p.u);
      if (!u) {
        u = { unit_id: p.u, status: "unknown", kind: "", polres_code: null };
        s.units.set(p.u, u);
      }
      if (u.fix_time && Date.parse(p.t) < Date.parse(u.fix_time)) continue; // older than what is shown
      u.lat = p.lat;
      u.lon = p.lon;
      u.fix_time = p.t;
      u.speed_mps = p.v ?? null;
      u.course_deg = p.c ?? null;
      changed.push(p);
    }
    for (const st of msg.units) {
      const u = s.units.get(st.unit_id);
      if (u) Object.assign(u, st);
    }
    for (const i of msg.incidents) {
      const known = s.incidents.has(i.incident_id);
      if (i.closed_at) s.incidents.delete(i.incident_id);
      else s.incidents.set(i.incident_id, i);
      if (!known && !i.closed_at) patch.newIncident = i;
    }
  } else {
    if (Object.keys(patch).length) store.set(patch);
    return;
  }
  patch.liveVersion = s.liveVersion + 1;
  store.set(patch);
  for (const f of frameHooks) f(msg, changed);
}
