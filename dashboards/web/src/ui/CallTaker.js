// Penerimaan 110: the call-taker's intake form for a live call, keyboard first. Tab order follows the call:
// channel, caller (normalised by the server with phonenumbers as it is typed, with the caller's history at
// once), category then type, priority, description, then where: a point picked on the map, a place found by
// name (kecamatan and regency, GET /api/v1/places), or a text address with its Polres code. Enter submits
// (Shift+Enter for a new line in the description); the form is cleared and ready for the next call at once,
// and the time from the first key to the incident created is shown.
import { useEffect, useRef, useState } from "preact/hooks";
import { html } from "./html.js";
import { useStore } from "./hooks.js";
import { store } from "../store.js";
import { api } from "../api.js";
import { t, te, num, time } from "../i18n.js";

const EMPTY = { channel: "phone", caller: "", category: "report", incident_type: "", priority: "3", description: "", address: "", polres_code: "", location: null };

export function CallTaker() {
  const meta = useStore((s) => s.meta);
  const [form, setForm] = useState(EMPTY);
  const [history, setHistory] = useState(null);
  const [places, setPlaces] = useState([]);
  const [placeQ, setPlaceQ] = useState("");
  const [error, setError] = useState(null);
  const [created, setCreated] = useState(null);
  const [busy, setBusy] = useState(false);
  const started = useRef(null);
  const first = useRef(null);
  const set = (k, v) => setForm((f) => ({ ...f, [k]: v }));
  const types = meta.types_by_category[form.category] || [];
  useEffect(() => first.current && first.current.focus(), []); // a call-taker starts typing the number

  useEffect(() => {
    if (!form.caller.trim()) {
      setHistory(null);
      return;
    }
    const h = setTimeout(() => {
      api(`/api/v1/callers/lookup?channel=${encodeURIComponent(form.channel)}&caller=${encodeURIComponent(form.caller)}`).then(setHistory, () => setHistory(null));
    }, 150);
    return () => clearTimeout(h);
  }, [form.caller, form.channel]);

  useEffect(() => {
    if (placeQ.trim().length < 3) {
      setPlaces([]);
      return;
    }
    const h = setTimeout(() => {
      api(`/api/v1/places?q=${encodeURIComponent(placeQ)}`).then(
        (doc) => setPlaces(doc.slice(0, 8)),
        (e) => setError(e.code === "not_found" ? "places_unavailable" : e.code),
      );
    }, 200);
    return () => clearTimeout(h);
  }, [placeQ]);

  const onKeyDown = (e) => {
    if (started.current === null) started.current = performance.now();
    if (e.key === "Enter" && e.target.tagName === "TEXTAREA" && !e.shiftKey) {
      e.preventDefault();
      e.currentTarget.requestSubmit();
    }
  };
  const pick = () => {
    store.set({ picking: (pt) => set("location", { ...pt, accuracy_m: null }) });
  };
  const submit = async (e) => {
    e.preventDefault();
    setError(null);
    const body = {
      channel: form.channel,
      category: form.category,
      incident_type: form.incident_type || types[0],
      priority: +form.priority,
      caller: form.caller,
      description: form.description,
      address: form.address || null,
      location: form.location,
      polres_code: form.polres_code || null,
    };
    if (!body.location && !body.polres_code) {
      setError("location_needed");
      return;
    }
    setBusy(true);
    try {
      const doc = await api("/api/v1/incidents", { method: "POST", body });
      const ms = started.current === null ? 0 : performance.now() - started.current;
      started.current = null;
      setCreated({ id: doc.incident.incident_id, station: doc.incident.station_name || doc.incident.station_code, seconds: ms / 1000, caller: doc.caller });
      store.set({ announcement: t("intake.created", { id: doc.incident.incident_id }) });
      setForm({ ...EMPTY, channel: form.channel });
      setHistory(null);
      setPlaceQ("");
      first.current && first.current.focus();
    } catch (ex) {
      setError(ex.code);
    } finally {
      setBusy(false);
    }
  };
  return html`<div class="workspace" id="ws-intake">
    <h2>${t("intake.title")}</h2>
    <form id="intake-form" onSubmit=${submit} onKeyDown=${onKeyDown} autocomplete="off">
      <label>${t("intake.channel")}
        <select id="in-channel" value=${form.channel} onChange=${(e) => set("channel", e.target.value)}>
          ${meta.channels.map((c) => html`<option key=${c} value=${c}>${te("channel", c)}</option>`)}
        </select></label>
      <label>${t("intake.caller")}
        <input id="in-caller" ref=${first} value=${form.caller} onInput=${(e) => set("caller", e.target.value)} required aria-describedby="caller-history" /></label>
      <div id="caller-history" class=${"caller-history" + (history && history.flagged ? " flagged" : "")} aria-live="polite">
        ${history
          ? html`<span data-caller=${history.caller}>${history.caller}</span> · ${t("caller.history", { n: num(history.incidents), f: num(history.false_reports) })}${history.flagged ? html` · <strong>${t("caller.flagged")}</strong>` : null}`
          : null}
        ${history && history.device_location ? html`<${DeviceLocation} loc=${history.device_location} onUse=${(loc) => set("location", loc)} />` : null}
      </div>
      <label>${t("intake.category")}
        <select id="in-category" value=${form.category} onChange=${(e) => setForm((f) => ({ ...f, category: e.target.value, incident_type: "" }))}>
          ${meta.categories.map((c) => html`<option key=${c} value=${c}>${te("category", c)}</option>`)}
        </select></label>
      <label>${t("intake.type")}
        <select id="in-type" value=${form.incident_type || types[0]} onChange=${(e) => set("incident_type", e.target.value)}>
          ${types.map((c) => html`<option key=${c} value=${c}>${te("type", c)}</option>`)}
        </select></label>
      <label>${t("intake.priority")}
        <select id="in-priority" value=${form.priority} onChange=${(e) => set("priority", e.target.value)}>
          ${["1", "2", "3", "4", "5"].map((p) => html`<option key=${p} value=${p}>${t("priority." + p)}</option>`)}
        </select></label>
      <label>${t("intake.description")}
        <textarea id="in-description" value=${form.description} onInput=${(e) => set("description", e.target.value)}></textarea></label>
      <fieldset>
        <legend>${t("intake.location")}</legend>
        <p id="in-location" class="muted">
          ${form.location ? t("intake.location_at", { lat: form.location.lat.toFixed(5), lon: form.location.lon.toFixed(5) }) : t("intake.no_location")}
        </p>
        <button type="button" id="in-pick" onClick=${pick}>${t("intake.pick_on_map")}</button>
        <label>${t("intake.place_search")}
          <input id="in-place" value=${placeQ} onInput=${(e) => setPlaceQ(e.target.value)} /></label>
        <ul class="list places" aria-label=${t("intake.places")}>
          ${places.map(
            (p) => html`<li key=${p.kind + p.code}>
              <button type="button" onClick=${() => setForm((f) => ({ ...f, location: { lat: p.lat, lon: p.lon, accuracy_m: null }, address: f.address || p.label }))}>${p.label}</button>
            </li>`,
          )}
        </ul>
        <label>${t("intake.address")}
          <input id="in-address" value=${form.address} onInput=${(e) => set("address", e.target.value)} /></label>
        <label>${t("intake.polres")}
          <input id="in-polres" value=${form.polres_code} placeholder="31.71" pattern="\\d{2}\\.\\d{2}" onInput=${(e) => set("polres_code", e.target.value)} /></label>
      </fieldset>
      ${error ? html`<p class="error" role="alert">${t("error." + error)}</p>` : null}
      <button type="submit" class="primary" id="in-submit" disabled=${busy}>${t("intake.submit")}</button>
    </form>
    ${created
      ? html`<p id="intake-created" class="ok" role="status" data-incident=${created.id}>
          ${t("intake.created_in", { id: created.id, station: created.station, s: num(created.seconds, 1) })}
        </p>`
      : null}
  </div>`;
}

// Where the caller's handset said it is (an AML SMS or ELS message for this number, waiting for its contact):
// one key places the call there, with the handset's own accuracy.
function DeviceLocation({ loc, onUse }) {
  const acc = loc.accuracy_m == null ? "" : ` · ${t("caller.accuracy", { m: num(loc.accuracy_m) })}`;
  return html`<p id="caller-device" class="device-location">
    ${t("caller.device_location", { method: loc.method.toUpperCase(), time: time(loc.located_at) })}${acc}
    <button type="button" id="in-use-device" onClick=${() => onUse({ lat: loc.lat, lon: loc.lon, accuracy_m: loc.accuracy_m })}>${t("caller.use_device_location")}</button>
  </p>`;
}
