// The page: login, then one workspace at a time among those the role may use, beside the map.
import { useEffect, useRef, useState } from "preact/hooks";
import { html } from "./html.js";
import { useStore, useLanguage } from "./hooks.js";
import { CallTaker } from "./CallTaker.js";
import { SosBanner } from "./SosBanner.js";
import { DispatchBoard, StationQueue } from "./workspaces.js";
import { Replay } from "./Replay.js";
import { Trail } from "./Trail.js";
import { Reports } from "./Reports.js";
import { store, serverNow } from "../store.js";
import { api } from "../api.js";
import { t, te, num, time, language, setLanguage } from "../i18n.js";
import { selectUnit, toggleH3 } from "../map.js";

// What each role works in, in the order of its tabs: the server enforces the permissions behind them.
export const ROLE_WORKSPACES = {
  admin: ["intake", "dispatch", "station", "replay", "trail", "reports"],
  dispatcher: ["intake", "dispatch"],
  station_officer: ["station", "reports"],
  auditor: ["dispatch", "replay", "trail", "reports"],
};

export function Login({ onLogin }) {
  useLanguage();
  const first = useRef(null);
  useEffect(() => first.current && first.current.focus(), []);
  const [username, setUsername] = useState("");
  const [password, setPassword] = useState("");
  const [error, setError] = useState(null);
  const submit = async (e) => {
    e.preventDefault();
    setError(null);
    try {
      const doc = await api("/api/v1/auth/login", { method: "POST", body: { username, password } });
      setPassword("");
      onLogin(doc);
    } catch (ex) {
      setError(ex.code);
    }
  };
  return html`<div id="login-overlay">
    <form id="login-form" onSubmit=${submit}>
      <h1>Patroli 110</h1>
      <label>${t("login.username")} <input id="username" ref=${first} autocomplete="username" required value=${username} onInput=${(e) => setUsername(e.target.value)} /></label>
      <label>${t("login.password")} <input id="password" type="password" autocomplete="current-password" required value=${password} onInput=${(e) => setPassword(e.target.value)} /></label>
      <button id="login-btn" class="primary" type="submit">${t("login.submit")}</button>
      <${LanguageSwitch} />
      <p id="login-error" class="error" role="alert">${error ? t("error." + error) : ""}</p>
    </form>
  </div>`;
}

function LanguageSwitch() {
  const other = language() === "id" ? "en" : "id";
  return html`<button type="button" id="lang-switch" lang=${other} onClick=${() => setLanguage(other)}>${t("lang.switch")}</button>`;
}

function Connection() {
  const conn = useStore((s) => s.conn);
  return html`<span id="conn" class=${"conn " + conn} data-state=${conn} role="status">${t("conn." + conn)}</span>`;
}

function Announcer() {
  const inc = useStore((s) => s.newIncident);
  const text = useStore((s) => s.announcement);
  const [said, setSaid] = useState("");
  useEffect(() => {
    if (inc) setSaid(t("announce.new_incident", { type: te("type", inc.incident_type), tier: te("tier", inc.level_name), station: inc.station_code }));
  }, [inc]);
  useEffect(() => text && setSaid(text), [text]);
  return html`<div id="announcer" class="sr-only" aria-live="assertive" role="log">${said}</div>`;
}

function UnitPanel() {
  const id = useStore((s) => s.selectedUnit);
  const u = useStore((s) => (s.selectedUnit ? s.units.get(s.selectedUnit) : null));
  const count = useStore((s) => s.trackCount);
  useStore((s) => s.liveVersion);
  if (!id || !u) return null;
  const age = u.fix_time ? Math.round((serverNow() - Date.parse(u.fix_time)) / 1000) : null;
  return html`<section id="unit-detail" class="detail" aria-labelledby="unit-title">
    <div class="head"><h2 id="unit-title">${id}</h2><button class="icon" aria-label=${t("common.close_panel")} onClick=${() => selectUnit(null)}>×</button></div>
    <dl class="facts">
      <dt>${t("unit.status")}</dt><dd data-status=${u.status}>${te("status", u.status)}</dd>
      <dt>${t("unit.kind")}</dt><dd>${u.kind ? te("kind", u.kind) : "–"}</dd>
      <dt>${t("unit.polres")}</dt><dd>${u.polres_code || "–"}</dd>
      <dt>${t("unit.last_fix")}</dt><dd>${age != null ? t("unit.ago", { s: num(age) }) + " · " + time(u.fix_time, u.polres_code) : t("unit.no_fix")}</dd>
      <dt>${t("unit.speed")}</dt><dd>${u.speed_mps != null ? num(u.speed_mps * 3.6) + " km/j" : "–"}</dd>
      ${u.battery_pct != null ? html`<dt>${t("unit.battery")}</dt><dd data-battery=${u.battery_pct}>${num(u.battery_pct)} %</dd>` : null}
      <dt>${t("unit.track")}</dt><dd id="track-count">${count != null ? t("unit.track_count", { n: num(count) }) : t("common.loading")}</dd>
    </dl>
  </section>`;
}

export function App({ onLogout }) {
  useLanguage();
  const user = useStore((s) => s.user);
  const ws = useStore((s) => s.workspace);
  const picking = useStore((s) => s.picking);
  const [h3, setH3] = useState(false);
  const allowed = ROLE_WORKSPACES[user.role] || [];
  const current = allowed.includes(ws) ? ws : allowed[0];
  const onKeyDown = (e) => {
    if (e.altKey && /^[1-9]$/.test(e.key) && allowed[+e.key - 1]) {
      e.preventDefault();
      store.set({ workspace: allowed[+e.key - 1], openIncident: null });
    }
  };
  useEffect(() => {
    document.addEventListener("keydown", onKeyDown);
    return () => document.removeEventListener("keydown", onKeyDown);
  });
  return html`<div id="shell">
    <header>
      <strong class="brand">Patroli 110</strong>
      <nav role="tablist" aria-label=${t("nav.workspaces")}>
        ${allowed.map(
          (w, k) => html`<button key=${w} role="tab" id=${"tab-" + w} aria-selected=${w === current} title=${"Alt+" + (k + 1)} onClick=${() => store.set({ workspace: w, openIncident: null })}>
            ${t("workspace." + w)}
          </button>`,
        )}
      </nav>
      <span class="spacer"></span>
      <button id="h3-toggle" aria-pressed=${h3} onClick=${() => (toggleH3(!h3), setH3(!h3))}>${t("map.h3")}</button>
      <${Connection} />
      <span id="whoami" class="muted">${user.username} · ${te("role", user.role)}${user.station_code ? " " + user.station_code : ""}</span>
      <${LanguageSwitch} />
      <button id="logout-btn" onClick=${onLogout}>${t("login.logout")}</button>
    </header>
    <${SosBanner} user=${user} />
    ${picking ? html`<p class="picking" role="status">${t("map.picking")}</p>` : null}
    <aside id="panel">
      ${current === "replay" ? html`<${Replay} />` : current === "trail" ? html`<${Trail} />` : current === "reports" ? html`<${Reports} />` : null}
      ${current === "intake" ? html`<${CallTaker} />` : current === "station" ? html`<${StationQueue} user=${user} />` : ["replay", "trail", "reports"].includes(current) ? null : html`<${DispatchBoard} role=${user.role} />`}
      <${UnitPanel} />
    </aside>
    <${Announcer} />
  </div>`;
}
