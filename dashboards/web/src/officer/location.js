// Optional location sharing: off until the officer switches it on (remembered on this phone). The Geolocation
// API's watchPosition gives positions; each is posted to the web app over the page's own connection and stored
// as the unit's fix with source `browser` through the tracker's rules, which may refuse it (a reason code the
// page translates). At most one position every MIN_INTERVAL_MS is sent; one in flight at a time.
import { useEffect, useRef, useState } from "preact/hooks";
import { html } from "../ui/html.js";
import { api } from "../api.js";
import { t, te, num } from "../i18n.js";

const KEY = "patroli.m.share";
const MIN_INTERVAL_MS = 5000;

function body(pos) {
  const c = pos.coords;
  const n = (v) => (v == null || Number.isNaN(v) ? null : v);
  return {
    timestamp: pos.timestamp,
    latitude: c.latitude,
    longitude: c.longitude,
    accuracy: n(c.accuracy),
    altitude: n(c.altitude),
    altitudeAccuracy: n(c.altitudeAccuracy),
    heading: n(c.heading),
    speed: n(c.speed),
  };
}

export function LocationSharing({ position, onStored }) {
  const [on, setOn] = useState(localStorage.getItem(KEY) === "1");
  const [sent, setSent] = useState(null); // {at, accuracy} of the last stored position
  const [error, setError] = useState(null); // why the last one was not stored: a code of the error table
  const watch = useRef(null);
  const last = useRef(0);
  const inFlight = useRef(false);
  useEffect(() => {
    localStorage.setItem(KEY, on ? "1" : "0");
    setError(null);
    setSent(null);
    if (!on) return undefined;
    if (!("geolocation" in navigator)) {
      setError("m_no_geolocation");
      return undefined;
    }
    const send = async (pos) => {
      if (inFlight.current || Date.now() - last.current < MIN_INTERVAL_MS) return;
      inFlight.current = true;
      last.current = Date.now();
      try {
        await api("/api/v1/m/location", { method: "POST", body: body(pos) });
        setSent({ at: new Date(), accuracy: pos.coords.accuracy });
        setError(null);
        onStored();
      } catch (ex) {
        setError(ex.code);
      } finally {
        inFlight.current = false;
      }
    };
    const failed = (err) => (err.code === 1 ? setError("m_geolocation_denied") : setError("m_geolocation_unavailable"));
    watch.current = navigator.geolocation.watchPosition(send, failed, { enableHighAccuracy: true, maximumAge: 10000, timeout: 30000 });
    return () => navigator.geolocation.clearWatch(watch.current);
  }, [on]);
  let line = t("m.share_off");
  if (on && error) line = t("m.share_refused", { why: t("error." + error) });
  else if (on && sent) line = t("m.share_ok", { time: sent.at.toLocaleTimeString(), acc: num(sent.accuracy || 0) });
  else if (on) line = t("m.share_waiting");
  const state = !on ? "off" : error ? "refused" : sent ? "stored" : "waiting";
  return html`<section id="m-share" class="card" aria-labelledby="m-share-title">
    <h2 id="m-share-title">${t("m.share_title")}</h2>
    <label class="switch"><input id="m-share-toggle" type="checkbox" checked=${on} onChange=${(e) => setOn(e.target.checked)} /> ${t("m.share_label")}</label>
    <p id="m-share-result" class=${error ? "error" : "muted"} role="status" data-state=${state} data-code=${error || ""}>${line}</p>
    ${position ? html`<p id="m-last-fix" class="muted">${t("m.last_fix", { source: te("source", position.source), time: new Date(position.fix_time).toLocaleTimeString() })}</p>` : null}
  </section>`;
}
