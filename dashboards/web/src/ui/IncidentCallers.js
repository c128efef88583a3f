// Penelepon dan tautan: an incident's callers (its own contact first, then those attached, with the incident a
// merge brought them from) and its links to other incidents, from GET /api/v1/incidents/{id}/callers. A
// dispatcher merges another incident into this one (it is closed as a duplicate, REPLACED by this one) or links
// one (related, parent, child): POST …/merge and …/links. Refusals come back as codes the tables translate.
import { useEffect, useState } from "preact/hooks";
import { html } from "./html.js";
import { api } from "../api.js";
import { t, te, time } from "../i18n.js";

// Literal keys, so that the string-table test sees each one.
const ACTIONS = { merge: () => t("links.do_merge"), related: () => t("links.do_related"), parent: () => t("links.do_parent"), child: () => t("links.do_child") };
const RELATIONS = {
  replaced_by: () => t("links.replaced_by"),
  replaces: () => t("links.replaces"),
  parent: () => t("links.parent"),
  child: () => t("links.child"),
  related: () => t("links.related"),
};

export function IncidentCallers({ incidentId, stationCode, canMerge, closed, onChanged }) {
  const [doc, setDoc] = useState(null);
  const [error, setError] = useState(null);
  const [other, setOther] = useState("");
  const [action, setAction] = useState("merge");
  const [busy, setBusy] = useState(false);
  const [reload, setReload] = useState(0);
  useEffect(() => {
    let gone = false;
    api(`/api/v1/incidents/${encodeURIComponent(incidentId)}/callers`).then(
      (d) => !gone && setDoc(d),
      (e) => !gone && setError(e.code),
    );
    return () => (gone = true);
  }, [incidentId, reload]);
  const submit = async (e) => {
    e.preventDefault();
    setError(null);
    setBusy(true);
    const path = `/api/v1/incidents/${encodeURIComponent(incidentId)}/` + (action === "merge" ? "merge" : "links");
    const body = action === "merge" ? { duplicate_id: other.trim() } : { other_id: other.trim(), kind: action };
    try {
      await api(path, { method: "POST", body });
      setOther("");
      setReload((n) => n + 1);
      onChanged && onChanged();
    } catch (ex) {
      setError(ex.code);
    } finally {
      setBusy(false);
    }
  };
  if (!doc) return error ? html`<p class="error" role="alert">${t("error." + error)}</p>` : null;
  return html`<section id="incident-callers" class="callers">
    <h3>${t("callers.title")}</h3>
    <ol class="list callers-list">
      ${doc.callers.map(
        (c, i) => html`<li key=${i} data-caller=${c.caller} data-first=${c.first ? "1" : "0"}>
          ${te("channel", c.channel)} · ${c.caller} · ${time(c.at, stationCode)}
          ${c.from_incident ? html` · <span class="muted">${t("callers.from", { id: c.from_incident })}</span>` : null}
        </li>`,
      )}
    </ol>
    ${doc.links.length
      ? html`<h3>${t("links.title")}</h3>
          <ul class="list links-list">
            ${doc.links.map((l) => html`<li key=${l.other_id} data-other=${l.other_id} data-relation=${l.relation}>${(RELATIONS[l.relation] || (() => l.relation))()} ${l.other_id}</li>`)}
          </ul>`
      : null}
    ${canMerge && !closed
      ? html`<form id="merge-form" class="merge" onSubmit=${submit}>
          <label>${t("links.other")} <input id="merge-other" value=${other} onInput=${(e) => setOther(e.target.value)} required placeholder="INC-…" /></label>
          <label>${t("links.action")}
            <select id="merge-action" value=${action} onChange=${(e) => setAction(e.target.value)}>
              ${Object.entries(ACTIONS).map(([a, label]) => html`<option key=${a} value=${a}>${label()}</option>`)}
            </select></label>
          <button type="submit" id="merge-submit" disabled=${busy}>${t("links.submit")}</button>
        </form>`
      : null}
    ${error ? html`<p class="error" role="alert">${t("error." + error)}</p>` : null}
  </section>`;
}
