// Kemungkinan duplikat: once the call-taker's form has a point, the open incidents near it (500 m, last 30 min,
// a compatible type), likeliest first, from POST /api/v1/incidents/duplicates. One click on "attach as caller"
// (or Tab to it and Enter), or F2 from anywhere in the form for the likeliest one, attaches this call to that
// incident as one more caller (POST /api/v1/incidents/{id}/callers) instead of opening another: nothing is ever
// merged by itself. F2, not Alt+digit: Alt+1…3 already switch the console's workspaces.
import { useEffect, useState } from "preact/hooks";
import { html } from "./html.js";
import { api } from "../api.js";
import { t, te, num, time } from "../i18n.js";

export function Duplicates({ form, type, onAttached, onError }) {
  const [found, setFound] = useState([]);
  const [busy, setBusy] = useState(false);
  const loc = form.location;
  useEffect(() => {
    if (!loc) {
      setFound([]);
      return;
    }
    const h = setTimeout(() => {
      api("/api/v1/incidents/duplicates", { method: "POST", body: { location: { lat: loc.lat, lon: loc.lon }, incident_type: type } }).then(setFound, (e) => onError(e.code));
    }, 150);
    return () => clearTimeout(h);
  }, [loc && loc.lat, loc && loc.lon, type]);

  const attach = async (d) => {
    if (busy) return;
    setBusy(true);
    try {
      const body = { channel: form.channel, caller: form.caller, location: loc, description: form.description };
      const doc = await api(`/api/v1/incidents/${encodeURIComponent(d.incident.incident_id)}/callers`, { method: "POST", body });
      setFound([]);
      onAttached(d.incident, doc);
    } catch (ex) {
      onError(ex.code);
    } finally {
      setBusy(false);
    }
  };
  useEffect(() => {
    const onKey = (e) => {
      if (e.key !== "F2" || !found.length || !form.caller.trim()) return;
      const d = found[0];
      e.preventDefault();
      attach(d);
    };
    window.addEventListener("keydown", onKey);
    return () => window.removeEventListener("keydown", onKey);
  }, [found, form]);

  if (!found.length) return null;
  return html`<section id="duplicates" class="duplicates" aria-live="polite" aria-labelledby="duplicates-title">
    <h3 id="duplicates-title">${t("duplicates.title", { n: num(found.length) })}</h3>
    <ol class="list">
      ${found.map(
        (d, i) => html`<li key=${d.incident.incident_id} data-incident=${d.incident.incident_id}>
          <div>
            <strong>${te("type", d.incident.incident_type)} · P${d.incident.priority}</strong>
            · ${t("duplicates.distance", { m: num(d.distance_m) })} · ${t("duplicates.age", { min: num(d.age_s / 60) })}
            · ${te("state", d.incident.state)}${d.incident.unit_id ? " · " + d.incident.unit_id : ""}
          </div>
          <div class="muted">${d.incident.place || d.incident.address || d.incident.incident_id} · ${time(d.incident.received_at, d.incident.station_code)}</div>
          <button type="button" class="attach" disabled=${busy || !form.caller.trim()} onClick=${() => attach(d)} aria-keyshortcuts=${i === 0 ? "F2" : null}>
            ${t("duplicates.attach")}${i === 0 ? html` <kbd>F2</kbd>` : null}
          </button>
        </li>`,
      )}
    </ol>
  </section>`;
}
