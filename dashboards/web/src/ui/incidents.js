// Incident lists and the incident detail, shared by the dispatcher's board and the station officer's queue.
// Rows are focusable (Tab, then ↑/↓ between rows, Enter opens). The detail keeps its own state (the note being
// typed, the disposition chosen in the close dialog) in its component, keyed by incident: live frames re-render
// the lists around it but never reset what the person is editing.
import { useEffect, useState } from "preact/hooks";
import { html } from "./html.js";
import { useStore, useTick } from "./hooks.js";
import { Dialog } from "./Dialog.js";
import { store, serverNow } from "../store.js";
import { api } from "../api.js";
import { t, te, time, num } from "../i18n.js";
import { tierOf } from "../tiers.js";
import { flyTo } from "../map.js";
import { IncidentCallers } from "./IncidentCallers.js";

export function secondsLeft(inc) {
  if (!inc.station_deadline || inc.acked_at) return null;
  return Math.max(0, Math.ceil((Date.parse(inc.station_deadline) - serverNow()) / 1000));
}

export function byPriorityAndAge(a, b) {
  return a.priority - b.priority || Date.parse(a.received_at) - Date.parse(b.received_at);
}

function rowKeys(e, open) {
  if (e.key === "Enter") {
    e.preventDefault();
    open();
  } else if (e.key === "ArrowDown" || e.key === "ArrowUp") {
    e.preventDefault();
    const sib = e.key === "ArrowDown" ? e.currentTarget.nextElementSibling : e.currentTarget.previousElementSibling;
    if (sib) sib.focus();
  }
}

export function IncidentRow({ inc, actions }) {
  useTick();
  const open = () => store.set({ openIncident: inc.incident_id });
  const left = secondsLeft(inc);
  const openId = useStore((s) => s.openIncident);
  return html`<li
    class=${"incident" + (openId === inc.incident_id ? " selected" : "")}
    tabindex="0"
    data-incident=${inc.incident_id}
    aria-label=${`${te("type", inc.incident_type)}, P${inc.priority}, ${te("tier", inc.level_name)} ${inc.station_code}`}
    onClick=${open}
    onKeyDown=${(e) => (e.target === e.currentTarget ? rowKeys(e, open) : null)}
  >
    <div class="head">
      <strong>${te("type", inc.incident_type)} · P${inc.priority}</strong>
      <span class=${"tier tier-" + inc.level_name} data-tier=${inc.level_name}>
        <i class="swatch" ref=${(el) => el && (el.style.background = tierOf(inc).colour)}></i>
        ${te("tier", inc.level_name)} ${inc.station_code}
      </span>
    </div>
    <div class="muted">
      ${te("category", inc.category)} · ${te("state", inc.state)}${inc.unit_id ? " · " + inc.unit_id : ""} · ${time(inc.received_at, inc.station_code)}
    </div>
    <div>${inc.address || inc.description || ""}</div>
    <div class="actions">
      ${inc.acked_at
        ? html`<span class="acked-by">${t("incident.acked_by", { who: inc.acked_by })}</span>`
        : left != null
          ? html`<span class="countdown" data-seconds=${left}>${t("incident.escalates_in", { s: num(left) })}</span>`
          : null}
      ${actions ? actions(inc) : null}
    </div>
  </li>`;
}

// Ranked units for a manual assignment (distance, and the travel-time hook's estimate); choosing one offers
// the incident to it, taking it from the unit that had it.
function Assign({ incidentId, unitId, onError }) {
  const [ranked, setRanked] = useState(null);
  const load = () =>
    api(`/api/v1/incidents/${encodeURIComponent(incidentId)}/suggestions`).then(setRanked, (e) => onError(e.code));
  useEffect(() => {
    load();
  }, [incidentId, unitId]);
  const assign = async (u) => {
    try {
      const doc = await api(`/api/v1/incidents/${encodeURIComponent(incidentId)}/assign`, { method: "POST", body: { unit_id: u } });
      store.get().incidents.set(doc.incident_id, doc);
      store.set({ liveVersion: store.get().liveVersion + 1, announcement: t("assign.done", { unit: u }) });
      load();
    } catch (e) {
      onError(e.code);
    }
  };
  return html`<h3>${unitId ? t("assign.reassign") : t("assign.title")}</h3>
    <ul class="list suggestions" id="suggestions">
      ${ranked === null
        ? html`<li class="muted">${t("common.loading")}</li>`
        : ranked.length
          ? ranked.map(
              (s) => html`<li key=${s.unit_id}>
                <button data-unit=${s.unit_id} onClick=${() => assign(s.unit_id)}>
                  ${t("assign.option", { unit: s.unit_id, km: num(s.distance_km, 1), min: num(s.travel_s / 60, 0) })}
                </button>
              </li>`,
            )
          : html`<li class="muted">${t("assign.none")}</li>`}
    </ul>`;
}

export function IncidentDetail({ incidentId, canClose, canPlace, canAssign }) {
  const inc = useStore((s) => s.incidents.get(incidentId));
  const [detail, setDetail] = useState(null);
  const [error, setError] = useState(null);
  const [closing, setClosing] = useState(false);
  const [note, setNote] = useState("");
  const [reload, setReload] = useState(0);
  useEffect(() => {
    let gone = false;
    api(`/api/v1/incidents/${encodeURIComponent(incidentId)}`).then(
      (d) => !gone && setDetail(d),
      (e) => !gone && setError(e.code),
    );
    return () => (gone = true);
  }, [incidentId, reload, inc && inc.state, inc && inc.station_code, inc && inc.acked_at, inc && inc.unit_id]);
  const addNote = async (e) => {
    e.preventDefault();
    try {
      await api(`/api/v1/incidents/${encodeURIComponent(incidentId)}/notes`, { method: "POST", body: { text: note } });
      setNote("");
      setReload((n) => n + 1);
    } catch (ex) {
      setError(ex.code);
    }
  };
  const shown = inc || (detail && detail.incident);
  if (!shown) return html`<section class="detail" aria-live="polite">${error ? t("error." + error) : t("common.loading")}</section>`;
  const place = () =>
    store.set({
      picking: async (pt) => {
        try {
          const doc = await api(`/api/v1/incidents/${encodeURIComponent(incidentId)}/location`, { method: "POST", body: pt });
          store.get().incidents.set(doc.incident_id, doc);
          store.set({ liveVersion: store.get().liveVersion + 1 });
        } catch (e) {
          setError(e.code);
        }
      },
    });
  return html`<section class="detail" id="incident-detail" data-incident=${incidentId} aria-labelledby="incident-detail-title">
    <div class="head">
      <h2 id="incident-detail-title">${te("type", shown.incident_type)} · P${shown.priority}</h2>
      <button class="icon" aria-label=${t("common.close_panel")} onClick=${() => store.set({ openIncident: null })}>×</button>
    </div>
    <dl class="facts">
      <dt>${t("incident.id")}</dt><dd>${shown.incident_id}</dd>
      <dt>${t("incident.channel")}</dt><dd>${te("channel", shown.channel)}</dd>
      <dt>${t("incident.category")}</dt><dd>${te("category", shown.category)}</dd>
      <dt>${t("incident.state")}</dt><dd data-state=${shown.state}>${te("state", shown.state)}</dd>
      <dt>${t("incident.tier")}</dt><dd>${te("tier", shown.level_name)} ${shown.station_name || shown.station_code}</dd>
      <dt>${t("incident.received")}</dt><dd>${time(shown.received_at, shown.station_code, true)}</dd>
      <dt>${t("incident.unit")}</dt><dd>${shown.unit_id || "–"}</dd>
      <dt>${t("incident.address")}</dt><dd>${shown.address || "–"}</dd>
      <dt>${t("incident.description")}</dt><dd>${shown.description || "–"}</dd>
    </dl>
    ${detail &&
    html`<h3>${t("incident.caller")}</h3>
      <p class=${detail.caller.flagged ? "flagged" : ""}>
        ${detail.caller.caller} · ${t("caller.history", { n: num(detail.caller.incidents), f: num(detail.caller.false_reports) })}
        ${detail.caller.flagged ? html` · <strong>${t("caller.flagged")}</strong>` : null}
      </p>
      <${IncidentCallers} incidentId=${incidentId} stationCode=${shown.station_code} canMerge=${canAssign} closed=${!!shown.closed_at} onChanged=${() => setReload((n) => n + 1)} />
      <h3>${t("incident.offers")}</h3>
      <ul class="offers">
        ${detail.offers.length
          ? detail.offers.map((o) => html`<li key=${o.unit_id + o.offered_at}>${o.unit_id}: ${o.answer ? te("answer", o.answer) : t("offer.waiting")} · ${time(o.offered_at, shown.station_code)}</li>`)
          : html`<li class="muted">${t("offer.none")}</li>`}
      </ul>
      <h3>${t("incident.timeline")}</h3>
      <ol class="timeline">
        ${detail.timeline.map(
          (e) => html`<li key=${e.seq}>
            ${time(e.at, shown.station_code)} · ${te("action", e.action)} · ${e.actor}${e.action === "note" ? html`: <q>${e.details.text}</q>` : null}
          </li>`,
        )}
      </ol>
      ${canAssign && !shown.closed_at
        ? html`<form class="note" onSubmit=${addNote}>
            <label>${t("note.label")} <textarea id="note-text" value=${note} onInput=${(e) => setNote(e.target.value)} required></textarea></label>
            <button type="submit">${t("note.add")}</button>
          </form>`
        : null}`}
    ${canAssign && shown.lat != null && ["awaiting_unit", "offered", "dispatched"].includes(shown.state)
      ? html`<${Assign} incidentId=${incidentId} unitId=${shown.unit_id} onError=${setError} />`
      : null}
    <div class="actions">
      ${shown.lat != null ? html`<button onClick=${() => flyTo(shown.lat, shown.lon)}>${t("incident.show_on_map")}</button>` : null}
      ${canPlace && shown.lat == null ? html`<button class="place" onClick=${place}>${t("incident.place_on_map")}</button>` : null}
      ${canClose && !shown.closed_at ? html`<button class="close primary" onClick=${() => setClosing(true)}>${t("incident.close")}</button>` : null}
      ${["auditor", "admin"].includes(store.get().user.role) ? html`<button class="trail-link" onClick=${() => store.set({ workspace: "trail", trailIncident: incidentId })}>${t("trail.open")}</button>` : null}
    </div>
    ${error ? html`<p class="error" role="alert">${t("error." + error)}</p>` : null}
    ${closing
      ? html`<${CloseDialog}
          key=${incidentId}
          incidentId=${incidentId}
          dispositions=${store.get().meta.dispositions}
          onDone=${() => {
            setClosing(false);
            store.set({ openIncident: null });
          }}
          onCancel=${() => setClosing(false)}
        />`
      : null}
  </section>`;
}

// The disposition lives in this component's state, not in anything a live frame rebuilds.
function CloseDialog({ incidentId, dispositions, onDone, onCancel }) {
  const [disposition, setDisposition] = useState("");
  const [note, setNote] = useState("");
  const [error, setError] = useState(null);
  const [busy, setBusy] = useState(false);
  const submit = async (e) => {
    e.preventDefault();
    if (!disposition) {
      setError("choose_disposition");
      return;
    }
    setBusy(true);
    try {
      await api(`/api/v1/incidents/${encodeURIComponent(incidentId)}/close`, { method: "POST", body: { disposition, note } });
      store.get().incidents.delete(incidentId);
      store.set({ liveVersion: store.get().liveVersion + 1, announcement: t("incident.closed_as", { d: te("disposition", disposition) }) });
      onDone();
    } catch (ex) {
      setError(ex.code);
      setBusy(false);
    }
  };
  return html`<${Dialog} id="close-dialog" title=${t("close.title")} onClose=${onCancel}>
    <form onSubmit=${submit}>
      <fieldset>
        <legend>${t("close.disposition")}</legend>
        ${dispositions.map(
          (d) => html`<label key=${d} class="choice">
            <input type="radio" name="disposition" value=${d} checked=${disposition === d} onChange=${() => setDisposition(d)} />
            ${te("disposition", d)}
          </label>`,
        )}
      </fieldset>
      <label>${t("close.note")} <textarea name="note" value=${note} onInput=${(e) => setNote(e.target.value)}></textarea></label>
      ${error ? html`<p class="error" role="alert">${t("error." + error)}</p>` : null}
      <div class="actions">
        <button type="button" onClick=${onCancel}>${t("common.cancel")}</button>
        <button type="submit" class="primary" id="confirm-close" disabled=${busy}>${t("close.confirm")}</button>
      </div>
    </form>
  <//>`;
}
