// The auditor's trail of one incident: every audit row in chain order with its actor, time and details, the
// chain's verdict (verified, or broken with the row where it breaks) and the last verified head; each step
// links to the replay of its units at that moment. Below, the area query (fixes in a box and a time range, with
// the exports) and the auditor's own reads, as the audit log holds them.
import { useEffect, useState } from "preact/hooks";
import { html } from "./html.js";
import { useStore } from "./hooks.js";
import { api } from "../api.js";
import { t, te, time } from "../i18n.js";
import { store } from "../store.js";
import { AreaQuery } from "./AreaQuery.js";

function replayAt(units, at) {
  store.set({ workspace: "replay", replayRequest: { units, at } });
}

export function Trail() {
  const wanted = useStore((s) => s.trailIncident);
  const [id, setId] = useState(wanted || "");
  const [doc, setDoc] = useState(null);
  const [error, setError] = useState(null);
  const load = async (incidentId) => {
    setError(null);
    try {
      setDoc(await api(`/api/v1/audit/trail/${encodeURIComponent(incidentId.trim())}`));
    } catch (e) {
      setDoc(null);
      setError(e.code);
    }
  };
  useEffect(() => {
    if (wanted) load(wanted);
  }, [wanted]);
  const units = doc ? [...new Set(doc.steps.map((s) => s.entry.unit_id).filter(Boolean))] : [];
  return html`<div class="workspace" id="ws-trail">
    <h2>${t("trail.title")}</h2>
    <form class="filters" onSubmit=${(e) => (e.preventDefault(), load(id))}>
      <label>${t("trail.incident")} <input id="trail-id" value=${id} placeholder="INC-…" onInput=${(e) => setId(e.target.value)} /></label>
      <button id="trail-load" class="primary" type="submit">${t("trail.load")}</button>
    </form>
    ${error ? html`<p class="error" role="alert" id="trail-error">${t("error." + error)}</p>` : null}
    ${doc
      ? html`<p id="trail-status" class=${doc.chain_ok ? "ok" : "error"} data-ok=${String(doc.chain_ok)} role="status">
            ${doc.chain_ok ? t("trail.verified", { n: doc.entries_checked }) : t("trail.broken", { n: doc.problems.length })}
          </p>
          <p class="hint" id="trail-head" data-seq=${doc.verified_head_seq ?? ""}>
            ${doc.verified_head_seq != null ? t("trail.head", { seq: doc.verified_head_seq, hash: doc.verified_head_hash.slice(0, 16) }) : t("trail.no_head")}
          </p>
          <ol class="list trail" id="trail-steps">
            ${doc.steps.map((s) => {
              const stepUnits = s.entry.unit_id ? [s.entry.unit_id] : units;
              return html`<li key=${s.entry.seq} data-seq=${s.entry.seq} data-verified=${String(s.verified)} class=${s.verified ? "" : "broken"}>
                <div><strong>#${s.entry.seq}</strong> ${time(s.entry.at, null, true)} · ${te("action", s.entry.action)} · ${s.entry.actor}${s.entry.unit_id ? " · " + s.entry.unit_id : ""}</div>
                <code class="details">${JSON.stringify(s.entry.details)}</code>
                ${s.verified ? null : html`<p class="error">${t("trail.row_broken")}: ${s.problems.join("; ")}</p>`}
                ${stepUnits.length ? html`<button class="link replay-link" onClick=${() => replayAt(stepUnits, s.entry.at)}>${t("trail.replay_here")}</button>` : null}
              </li>`;
            })}
          </ol>`
      : null}
    <${AreaQuery} />
    <${MyReads} />
  </div>`;
}

function MyReads() {
  const [entries, setEntries] = useState(null);
  const [error, setError] = useState(null);
  const load = async () => {
    try {
      setEntries((await api("/api/v1/me/reads?limit=50")).entries);
    } catch (e) {
      setError(e.code);
    }
  };
  return html`<section class="detail" id="my-reads">
    <div class="head"><h3>${t("reads.title")}</h3><button id="my-reads-load" onClick=${load}>${t("reads.load")}</button></div>
    ${error ? html`<p class="error" role="alert">${t("error." + error)}</p>` : null}
    ${entries
      ? html`<ul class="list" id="my-reads-list">
          ${entries.map(
            (e) => html`<li key=${e.seq} data-seq=${e.seq} data-action=${e.action}>
              ${time(e.at, null, true)} · ${te("action", e.action)}${e.unit_id ? " · " + e.unit_id : ""}
              <code class="details">${JSON.stringify(e.details)}</code>
            </li>`,
          )}
        </ul>`
      : null}
  </section>`;
}
