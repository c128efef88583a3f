// The officer's page (/m): one unit's offer and job, its status, SOS, and optional location sharing, for a
// phone in the field (360 px wide and up, touch and keyboard). Its own small entry point: Preact + htm and the
// console's string tables; MapLibre is loaded only when there is an offer to show (a chunk of its own).
// State comes from the store through GET /api/v1/m/state, read every few seconds and at once after an answer;
// answers and SOS go to the bus through the web app (the same dispatcher path as the radio).
import "./officer.css";
import { render } from "preact";
import { useEffect, useRef, useState } from "preact/hooks";
import { html } from "../ui/html.js";
import { useLanguage, useTick } from "../ui/hooks.js";
import { store } from "../store.js";
import { api, setUnauthorizedHandler } from "../api.js";
import { t, te, num, time, language, setLanguage, missing } from "../i18n.js";
import { HoldButton } from "./hold.js";
import { LocationSharing } from "./location.js";

const TOKEN_KEY = "patroli.m.token";
const USER_KEY = "patroli.m.user";
const STATE_KEY = "patroli.m.state";
const POLL_MS = 3000;
const POLL_AFTER_ANSWER_MS = 500;
const ui = document.getElementById("app");

function Login({ onLogin }) {
  useLanguage();
  const [username, setUsername] = useState("");
  const [password, setPassword] = useState("");
  const [error, setError] = useState(null);
  const submit = async (e) => {
    e.preventDefault();
    setError(null);
    try {
      const doc = await api("/api/v1/auth/login", { method: "POST", body: { username, password } });
      if (doc.user.role !== "unit") {
        setError("m_not_unit");
        return;
      }
      onLogin(doc.token, doc.user);
    } catch (ex) {
      setError(ex.code);
    }
  };
  return html`<form id="m-login" onSubmit=${submit}>
    <h1>Patroli 110</h1>
    <p class="muted">${t("m.login_hint")}</p>
    <label>${t("login.username")} <input id="m-username" autocomplete="username" autocapitalize="none" required value=${username} onInput=${(e) => setUsername(e.target.value)} /></label>
    <label>${t("login.password")} <input id="m-password" type="password" autocomplete="current-password" required value=${password} onInput=${(e) => setPassword(e.target.value)} /></label>
    <button id="m-login-btn" class="primary big" type="submit">${t("login.submit")}</button>
    <${LanguageSwitch} />
    <p id="m-login-error" class="error" role="alert">${error ? t("error." + error) : ""}</p>
  </form>`;
}

function LanguageSwitch() {
  const other = language() === "id" ? "en" : "id";
  // Compact for a 360 px header: the other language's code, its name for screen readers.
  return html`<button type="button" id="m-lang" lang=${other} aria-label=${t("lang.switch")} onClick=${() => setLanguage(other)}>${other.toUpperCase()}</button>`;
}

function distanceText(m) {
  if (m == null) return t("m.distance_unknown");
  return m < 1000 ? t("m.distance_m", { n: num(m) }) : t("m.distance_km", { n: num(m / 1000, 1) });
}

function Countdown({ deadline }) {
  useTick();
  const left = Math.max(0, Math.round((Date.parse(deadline) - Date.now()) / 1000));
  return html`<span id="m-countdown" class="countdown">${t("m.answer_within", { s: num(left) })}</span>`;
}

function JobCard({ job, position, map, onAnswer, busy }) {
  const mapEl = useRef(null);
  useEffect(() => {
    if (!mapEl.current || job.lat == null) return undefined;
    let stop = null;
    let cancelled = false;
    import("./map.js").then(
      (m) => {
        if (!cancelled) stop = m.showJob(mapEl.current, job, position, map);
      },
      () => {
        // out of coverage before the map's chunk came (the shell is cached, the map is not): say so in its place
        if (!cancelled && mapEl.current) mapEl.current.dataset.failed = "1";
      },
    );
    return () => {
      cancelled = true;
      if (stop) stop();
    };
  }, [job.incident_id, job.lat, job.lon, position && position.lat, position && position.lon]);
  const offered = job.state === "offered";
  return html`<section id="m-job" class="card" aria-labelledby="m-job-title" data-incident=${job.incident_id} data-state=${job.state}>
    <h2 id="m-job-title">${offered ? t("m.new_offer") : t("m.your_job")}</h2>
    <p class="what"><strong>${te("type", job.incident_type)}</strong> · ${te("category", job.category)} · ${t("m.priority", { p: job.priority })}</p>
    <p id="m-place" class="place">${job.place || job.address || t("m.no_place")}</p>
    ${job.address && job.place ? html`<p class="muted">${job.address}</p>` : null}
    <p id="m-distance">${distanceText(job.distance_m)}</p>
    ${offered && job.offer_deadline ? html`<${Countdown} deadline=${job.offer_deadline} />` : null}
    ${job.lat != null ? html`<div id="m-map" ref=${mapEl} role="img" aria-label=${t("m.map_label")}><p class="map-missing muted">${t("m.map_unavailable")}</p></div>` : null}
    <div class="answers">
      ${job.answers.map(
        (a) => html`<button key=${a} id=${"m-answer-" + a} class=${"big answer " + a} disabled=${busy} onClick=${() => onAnswer(job.incident_id, a)}>${t("do." + a)}</button>`,
      )}
    </div>
  </section>`;
}

// The dispatcher asks a unit on scene a long time whether it is all right (dispatch.safety): one tap answers
// `check_in` on the unit's ack topic, through the same path as the other answers.
function CheckInPrompt({ check, onAnswer, busy }) {
  return html`<section id="m-checkin" class="card checkin" role="alert" aria-labelledby="m-checkin-title">
    <h2 id="m-checkin-title">${t("m.check_in_title")}</h2>
    <p>${t("m.check_in_asked", { time: time(check.answer_by) })}</p>
    <button id="m-answer-check_in" class="big answer check_in" disabled=${busy} onClick=${() => onAnswer(check.incident_id, "check_in")}>${t("do.check_in")}</button>
  </section>`;
}

function Sos({ onMessage }) {
  const [raised, setRaised] = useState(localStorage.getItem("patroli.m.sos") === "1");
  const send = async (value) => {
    try {
      await api("/api/v1/m/sos", { method: "POST", body: { raised: value } });
      setRaised(value);
      localStorage.setItem("patroli.m.sos", value ? "1" : "0");
      onMessage(value ? t("m.sos_sent") : t("m.safe_sent"), false);
    } catch (ex) {
      onMessage(t("error." + ex.code), true);
    }
  };
  return html`<section id="m-sos" class=${"card sos" + (raised ? " raised" : "")} aria-labelledby="m-sos-title">
    <h2 id="m-sos-title" class="sr-only">SOS</h2>
    ${raised
      ? html`<p id="m-sos-state" class="alarm" role="status">${t("m.sos_active")}</p>
          <button id="m-safe" class="big safe" onClick=${() => send(false)}>${t("m.safe")}</button>`
      : html`<${HoldButton} id="m-sos-btn" holdMs=${2000} label=${t("m.sos_hold")} holdingLabel=${t("m.sos_holding")} onDone=${() => send(true)} />`}
  </section>`;
}

function Officer({ user, onLogout }) {
  useLanguage();
  // The last state read is kept on the phone (no caller, no complaint text: what the offer carries), so a
  // page reopened out of coverage still shows the job, with the error line saying the server is unreachable.
  const [state, setState] = useState(() => JSON.parse(localStorage.getItem(STATE_KEY) || "null"));
  const [message, setMessage] = useState({ text: "", bad: false });
  const [busy, setBusy] = useState(false);
  const timer = useRef(null);
  const refresh = async (again = POLL_MS) => {
    clearTimeout(timer.current);
    try {
      const fresh = await api("/api/v1/m/state");
      localStorage.setItem(STATE_KEY, JSON.stringify(fresh));
      setState(fresh);
      setMessage((m) => (m.bad ? { text: "", bad: false } : m)); // reachable again: the error is over
    } catch (ex) {
      if (ex.status !== 401) setMessage({ text: t("error." + ex.code), bad: true });
    }
    timer.current = setTimeout(() => refresh(), again);
  };
  useEffect(() => {
    refresh();
    return () => clearTimeout(timer.current);
  }, []);
  const say = (text, bad) => setMessage({ text, bad });
  // A new offer: said aloud to screen readers (the status line is polite) and felt, where the phone can vibrate.
  const offered = state && state.job && state.job.state === "offered" ? state.job.incident_id : null;
  useEffect(() => {
    if (!offered) return;
    say(t("m.new_offer"), false);
    if (navigator.vibrate) navigator.vibrate([200, 100, 200]);
  }, [offered]);
  const onAnswer = async (incident_id, answer) => {
    setBusy(true);
    try {
      await api("/api/v1/m/answer", { method: "POST", body: { incident_id, answer } });
      say(t("m.answer_sent", { answer: te("answer", answer) }), false);
      refresh(POLL_AFTER_ANSWER_MS);
    } catch (ex) {
      say(t("error." + ex.code), true);
    } finally {
      setBusy(false);
    }
  };
  // A check-in asked: felt like a new offer, where the phone can vibrate.
  const asked = state && state.check_in ? state.check_in.asked_at : null;
  useEffect(() => {
    if (asked && navigator.vibrate) navigator.vibrate([300, 100, 300]);
  }, [asked]);
  return html`<div id="m-shell">
    <header>
      <strong>${state ? state.unit_id : user.unit_id}</strong>
      <span id="m-status" class=${"badge " + (state ? state.status : "unknown")} data-status=${state ? state.status : "unknown"}>${te("status", state ? state.status : "unknown")}</span>
      <span class="spacer"></span>
      <${LanguageSwitch} />
      <button id="m-logout" onClick=${onLogout}>${t("login.logout")}</button>
    </header>
    <p id="m-message" class=${message.bad ? "error" : "ok"} role="status" aria-live="polite">${message.text}</p>
    <main>
      ${state && state.job
        ? html`<${JobCard} job=${state.job} position=${state.position} map=${state.map} onAnswer=${onAnswer} busy=${busy} />`
        : html`<section id="m-idle" class="card"><p>${state ? t("m.no_offer") : t("common.loading")}</p></section>`}
      ${state && state.check_in ? html`<${CheckInPrompt} check=${state.check_in} onAnswer=${onAnswer} busy=${busy} />` : null}
      <${Sos} onMessage=${say} />
      <${LocationSharing} position=${state ? state.position : null} onStored=${() => refresh()} />
    </main>
  </div>`;
}

function showLogin() {
  localStorage.removeItem(TOKEN_KEY);
  localStorage.removeItem(USER_KEY);
  localStorage.removeItem(STATE_KEY);
  store.set({ token: null, user: null });
  render(html`<${Login} onLogin=${start} />`, ui);
}

async function logout() {
  try {
    await api("/api/v1/auth/logout", { method: "POST" });
  } catch (e) {
    /* logged out either way */
  }
  showLogin();
}

function start(token, user) {
  localStorage.setItem(TOKEN_KEY, token);
  localStorage.setItem(USER_KEY, JSON.stringify(user));
  store.set({ token, user });
  render(html`<${Officer} user=${user} onLogout=${logout} />`, ui);
}

setUnauthorizedHandler(showLogin);
document.documentElement.lang = language();
window.patroli = { missing, setLanguage };
if ("serviceWorker" in navigator) navigator.serviceWorker.register("/m/sw.js", { scope: "/m/" }).catch(() => {});

// A phone out of coverage keeps its session: only the server saying the token is over (401) logs it out; the
// page then opens from the service worker's shell and says the server cannot be reached.
const saved = localStorage.getItem(TOKEN_KEY);
const savedUser = JSON.parse(localStorage.getItem(USER_KEY) || "null");
if (saved) {
  store.set({ token: saved });
  api("/api/v1/auth/me").then(
    (user) => (user.role === "unit" ? start(saved, user) : showLogin()),
    (ex) => (ex.status === 0 && savedUser ? start(saved, savedUser) : showLogin()),
  );
} else showLogin();
