// The officer-emergency alarm: a banner over the map, visible (never audible: a call-taker may be on the phone)
// while any officer emergency in this user's area is not acknowledged. Read from /api/v1/safety (scoped by the
// server to the user's stations), again whenever the live feed brings an officer_emergency incident and every
// 15 s, so an emergency outside the map's view still raises it. Acknowledging stops it on every dashboard.
import { useEffect, useState } from "preact/hooks";
import { html } from "./html.js";
import { useLanguage } from "./hooks.js";
import { api } from "../api.js";
import { onFrame } from "../live.js";
import { serverNow } from "../store.js";
import { t, num } from "../i18n.js";

const EMERGENCY = "officer_emergency";
const POLL_MS = 15000;
const CAN_ACK = new Set(["admin", "dispatcher", "station_officer"]);

export function SosBanner({ user }) {
  useLanguage();
  const [alarms, setAlarms] = useState([]);
  const [error, setError] = useState(null);
  const refresh = () =>
    api("/api/v1/safety").then(
      (doc) => (setAlarms(doc.emergencies.filter((e) => e.alarm)), setError(null)),
      (e) => setError(e.code),
    );
  useEffect(() => {
    refresh();
    const timer = setInterval(refresh, POLL_MS);
    const off = onFrame((msg) => {
      if ((msg.incidents || []).some((i) => i.incident_type === EMERGENCY)) refresh();
    });
    return () => (clearInterval(timer), off());
  }, []);
  if (!alarms.length) return null;
  const ack = (id) => api(`/api/v1/incidents/${id}/alarm/ack`, { method: "POST" }).then(refresh, (e) => setError(e.code));
  return html`<section id="sos-banner" class="sos-banner" role="alert" aria-live="assertive">
    ${alarms.map((e) => {
      const age = e.last_fix_at ? Math.round((serverNow() - Date.parse(e.last_fix_at)) / 1000) : null;
      return html`<div key=${e.incident.incident_id} class="sos-alarm" data-incident=${e.incident.incident_id} data-unit=${e.unit_id}>
        <strong>${t("sos.banner")}</strong>
        <span>${t("sos.unit")} ${e.unit_id} · ${e.source === "sos" ? t("sos.source.sos") : t("sos.source.check_in")}</span>
        <span>${age != null ? `${t("sos.last_fix")} ${t("unit.ago", { s: num(age) })}` : t("sos.no_fix")}</span>
        <span class="muted">${e.incident.place || e.incident.station_code}</span>
        ${CAN_ACK.has(user.role) ? html`<button class="primary sos-ack" onClick=${() => ack(e.incident.incident_id)}>${t("sos.ack")}</button>` : null}
      </div>`;
    })}
    ${error ? html`<p class="error">${t("error." + error)}</p>` : null}
  </section>`;
}
