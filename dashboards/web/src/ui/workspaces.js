// The dispatcher's board and the station duty officer's queue. What a role sees follows its permissions:
// a station officer gets their station's queue and units only (the live feed and the API scope them too).
import { useEffect, useRef, useState } from "preact/hooks";
import { html } from "./html.js";
import { useStore } from "./hooks.js";
import { IncidentRow, IncidentDetail, byPriorityAndAge, secondsLeft } from "./incidents.js";
import { store } from "../store.js";
import { api } from "../api.js";
import { t, te } from "../i18n.js";
import { TIERS } from "../tiers.js";
import { selectUnit } from "../map.js";

const STATES = ["open", "awaiting_unit", "offered", "dispatched", "on_scene", "cleared"];

export function DispatchBoard({ role }) {
  const incidents = useStore((s) => s.incidents);
  useStore((s) => s.liveVersion);
  const openId = useStore((s) => s.openIncident);
  const [tier, setTier] = useState("");
  const [station, setStation] = useState("");
  const [state, setState] = useState("");
  const rows = [...incidents.values()]
    .filter((i) => (!tier || i.level_name === tier) && (!station || i.station_code === station) && (!state || i.state === state))
    .sort(byPriorityAndAge);
  const stations = [...new Set([...incidents.values()].map((i) => i.station_code))].sort();
  return html`<div class="workspace" id="ws-dispatch">
    <h2 id="board-title">${t("board.title")}</h2>
    <div class="filters" role="group" aria-label=${t("board.filters")}>
      <label>${t("board.tier")}
        <select id="filter-tier" value=${tier} onChange=${(e) => setTier(e.target.value)}>
          <option value="">${t("board.all")}</option>
          ${Object.keys(TIERS).map((k) => html`<option key=${k} value=${k}>${te("tier", k)}</option>`)}
        </select></label>
      <label>${t("board.station")}
        <select id="filter-station" value=${station} onChange=${(e) => setStation(e.target.value)}>
          <option value="">${t("board.all")}</option>
          ${stations.map((c) => html`<option key=${c} value=${c}>${c}</option>`)}
        </select></label>
      <label>${t("board.state")}
        <select id="filter-state" value=${state} onChange=${(e) => setState(e.target.value)}>
          <option value="">${t("board.all")}</option>
          ${STATES.map((k) => html`<option key=${k} value=${k}>${te("state", k)}</option>`)}
        </select></label>
    </div>
    <ul class="list" id="incidents" aria-labelledby="board-title">
      ${rows.length ? rows.map((i) => html`<${IncidentRow} key=${i.incident_id} inc=${i} />`) : html`<li class="muted">${t("board.empty")}</li>`}
    </ul>
    ${openId ? html`<${IncidentDetail} key=${openId} incidentId=${openId} canClose=${role !== "auditor"} canPlace=${role === "dispatcher" || role === "admin"} canAssign=${role === "dispatcher" || role === "admin"} />` : null}
  </div>`;
}

// The station's queue: an audible alert for each new incident queued here, a countdown to the next
// escalation, and Acknowledge with one key (A) on the focused row, or on the most urgent one.
export function StationQueue({ user }) {
  const incidents = useStore((s) => s.incidents);
  useStore((s) => s.liveVersion);
  const units = useStore((s) => s.units);
  const openId = useStore((s) => s.openIncident);
  const audio = useRef(null);
  const heard = useRef(null);
  const [error, setError] = useState(null);
  const code = user.station_code || "";
  const mine = (i) => user.role === "admin" || i.station_code === code || i.polres_code === code;
  const rows = [...incidents.values()].filter(mine).sort((a, b) => (a.acked_at ? 1 : 0) - (b.acked_at ? 1 : 0) || byPriorityAndAge(a, b));
  const canAck = (i) => !i.acked_at && (user.role === "admin" || i.station_code === code);
  useEffect(() => {
    const ids = new Set(rows.filter(canAck).map((i) => i.incident_id));
    if (heard.current !== null && [...ids].some((id) => !heard.current.has(id)) && audio.current) {
      audio.current.currentTime = 0;
      audio.current.play().catch(() => setError("sound_blocked"));
    }
    heard.current = ids;
  });
  const ack = async (inc) => {
    try {
      const doc = await api(`/api/v1/incidents/${encodeURIComponent(inc.incident_id)}/ack`, { method: "POST", body: {} });
      store.get().incidents.set(doc.incident_id, doc);
      store.set({ liveVersion: store.get().liveVersion + 1, announcement: t("queue.acked", { id: doc.incident_id }) });
    } catch (e) {
      setError(e.code);
    }
  };
  const onKeyDown = (e) => {
    if ((e.key !== "a" && e.key !== "A") || e.ctrlKey || e.altKey || e.metaKey) return;
    if (e.target.closest && e.target.closest("input, textarea, select, .dialog")) return;
    const row = e.target.closest && e.target.closest("li.incident");
    const inc = row ? incidents.get(row.dataset.incident) : rows.find(canAck);
    if (inc && canAck(inc)) {
      e.preventDefault();
      ack(inc);
    }
  };
  useEffect(() => {
    document.addEventListener("keydown", onKeyDown);
    return () => document.removeEventListener("keydown", onKeyDown);
  });
  const own = [...units.values()].filter((u) => u.polres_code && (u.polres_code === code || u.polres_code.startsWith(code + "."))).sort((a, b) => a.unit_id.localeCompare(b.unit_id));
  const next = rows.filter((i) => secondsLeft(i) != null).map(secondsLeft);
  return html`<div class="workspace" id="ws-station">
    <audio ref=${audio} id="alert-sound" src="/static/console/alert.wav" preload="auto"></audio>
    <h2 id="queue-title">${t("queue.title", { code })}</h2>
    <p class="hint">${t("queue.hint")}${next.length ? " · " + t("queue.next_escalation", { s: Math.min(...next) }) : ""}</p>
    ${error ? html`<p class="error" role="alert">${t("error." + error)}</p>` : null}
    <ul class="list" id="incidents" aria-labelledby="queue-title">
      ${rows.length
        ? rows.map(
            (i) => html`<${IncidentRow}
              key=${i.incident_id}
              inc=${i}
              actions=${(inc) => (canAck(inc) ? html`<button class="ack primary" onClick=${(e) => (e.stopPropagation(), ack(inc))}>${t("queue.ack")}</button>` : null)}
            />`,
          )
        : html`<li class="muted">${t("queue.empty")}</li>`}
    </ul>
    ${openId ? html`<${IncidentDetail} key=${openId} incidentId=${openId} canClose=${true} canPlace=${false} />` : null}
    <h3>${t("queue.units", { n: own.length })}</h3>
    <ul class="list" id="station-units">
      ${own.slice(0, 200).map(
        (u) => html`<li key=${u.unit_id} tabindex="0" data-unit=${u.unit_id} onClick=${() => selectUnit(u.unit_id)} onKeyDown=${(e) => e.key === "Enter" && selectUnit(u.unit_id)}>
          ${u.unit_id} · ${te("status", u.status)}
        </li>`,
      )}
    </ul>
  </div>`;
}
