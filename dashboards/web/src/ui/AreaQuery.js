// The auditor's area query: two corners clicked on the map make a box, a time range; the fixes inside it
// (`GET /api/v1/positions`, a page at a time) drawn on the map and counted per unit, and the exports that exist
// (GPX, GeoJSON, CSV: `GET /api/v1/positions/export`). Each query and each export is audited by the server.
import { useEffect, useState } from "preact/hooks";
import { html } from "./html.js";
import { api, ApiError } from "../api.js";
import { t, num } from "../i18n.js";
import { store } from "../store.js";
import { colourOf, drawArea, drawTracks } from "../replay_map.js";

const FORMATS = ["gpx", "geojson", "csv"];
const MAX_PAGES = 20; // 20 pages of 5,000 fixes: beyond that the export is the way

const isoInput = (ms) => new Date(ms).toISOString().slice(0, 19);

async function download(path, name) {
  const r = await fetch(path, { headers: { Authorization: "Bearer " + store.get().token } });
  if (!r.ok) {
    let code = "server_error";
    try {
      code = (await r.json()).code || code;
    } catch (e) {
      /* not JSON */
    }
    throw new ApiError(r.status, code);
  }
  const url = URL.createObjectURL(await r.blob());
  const a = document.createElement("a");
  a.href = url;
  a.download = name;
  a.click();
  setTimeout(() => URL.revokeObjectURL(url), 10_000);
}

export function AreaQuery() {
  const now = Date.now();
  const [box, setBox] = useState(null); // [min_lon, min_lat, max_lon, max_lat]
  const [corner, setCorner] = useState(null);
  const [start, setStart] = useState(isoInput(now - 3600e3));
  const [end, setEnd] = useState(isoInput(now));
  const [result, setResult] = useState(null);
  const [error, setError] = useState(null);
  useEffect(() => () => (drawArea(null), store.get().picking && store.set({ picking: null })), []);

  // Two clicks on the map: the first corner, then the opposite one.
  const pick = () => {
    drawArea(null);
    store.set({
      picking: (first) => {
        setCorner(first);
        store.set({
          picking: (second) => {
            const b = [Math.min(first.lon, second.lon), Math.min(first.lat, second.lat), Math.max(first.lon, second.lon), Math.max(first.lat, second.lat)];
            setCorner(null);
            setBox(b);
            drawArea(b);
          },
        });
      },
    });
  };
  const params = () => new URLSearchParams({ bbox: box.join(","), start: start + "Z", end: end + "Z" });

  const run = async (e) => {
    e.preventDefault();
    setError(null);
    if (!box) return setError("area_no_box");
    try {
      const fixes = [];
      let cursor = null;
      for (let page = 0; page < MAX_PAGES; page++) {
        const q = params();
        q.set("limit", "5000");
        if (cursor) q.set("cursor", cursor);
        const doc = await api(`/api/v1/positions?${q}`);
        fixes.push(...doc.positions);
        cursor = doc.next_cursor;
        if (!cursor) break;
      }
      const byUnit = new Map();
      for (const p of fixes) {
        if (!byUnit.has(p.unit_id)) byUnit.set(p.unit_id, []);
        byUnit.get(p.unit_id).push(p);
      }
      const units = [...byUnit.keys()].sort();
      drawTracks(units.map((u, k) => {
        const ps = byUnit.get(u);
        return { unit: u, colour: colourOf(k), t: ps.map((p) => Date.parse(p.t)), lat: ps.map((p) => p.lat), lon: ps.map((p) => p.lon) };
      }));
      setResult({ count: fixes.length, more: Boolean(cursor), units: units.map((u) => [u, byUnit.get(u).length]) });
    } catch (ex) {
      setError(ex.code);
    }
  };

  return html`<section class="detail" id="area-query">
    <h3>${t("area.title")}</h3>
    <p class="hint" id="area-box" data-bbox=${box ? box.join(",") : ""}>
      ${box ? t("area.box", { box: box.map((v) => num(v, 4)).join(", ") }) : corner ? t("area.second_corner") : t("area.no_box")}
    </p>
    <button id="area-pick" onClick=${pick}>${t("area.pick")}</button>
    <form class="filters wrap" onSubmit=${run}>
      <label>${t("replay.start")} <input id="area-start" type="datetime-local" step="1" value=${start} onInput=${(e) => setStart(e.target.value)} /></label>
      <label>${t("replay.end")} <input id="area-end" type="datetime-local" step="1" value=${end} onInput=${(e) => setEnd(e.target.value)} /></label>
      <button id="area-run" class="primary" type="submit">${t("area.run")}</button>
    </form>
    ${error ? html`<p class="error" role="alert">${t("error." + error)}</p>` : null}
    ${result
      ? html`<p id="area-count" data-count=${result.count}>${result.more ? t("area.count_more", { n: num(result.count), units: num(result.units.length) }) : t("area.count", { n: num(result.count), units: num(result.units.length) })}</p>
          <ul class="list numbers" id="area-units">${result.units.map(([u, n]) => html`<li key=${u} data-unit=${u} data-n=${n}>${u}: ${num(n)}</li>`)}</ul>
          <div class="filters">
            ${FORMATS.map((f) => html`<button key=${f} class="area-export" data-format=${f} onClick=${() => download(`/api/v1/positions/export?${params()}&format=${f}`, `area.${f}`).catch((ex) => setError(ex.code))}>${t("area.export", { format: f.toUpperCase() })}</button>`)}
          </div>`
      : null}
  </section>`;
}
