// The commander's figures: response times per Polsek, Polres or Polda over a period, against Polri's targets
// (acknowledged within 10 s; on scene within 10 / 15 / 25 min by distance), drawn with uPlot (bundled, no CDN)
// with the numbers beside each chart, and the table as CSV (the same columns as the API). Choosing a station
// draws its daily trend, the distribution of its times to acknowledge, and its arrivals per distance target.
// Below: where incidents happen (a heatmap by H3 cell), patrol coverage and, for auditors and admins, the
// false reports.
import { useEffect, useRef, useState } from "preact/hooks";
import uPlot from "uplot";
import "uplot/dist/uPlot.min.css";
import { html } from "./html.js";
import { useStore } from "./hooks.js";
import { api, ApiError } from "../api.js";
import { t, te, num } from "../i18n.js";
import { store } from "../store.js";
import { zoneOf } from "../zones.js";
import { drawCoverage, drawHeat, fitTo, hideHeat, showHeat } from "../replay_map.js";

const TIERS = ["polsek", "polres", "polda"];
const ZONE_HOURS = { WIB: 7, WITA: 8, WIT: 9 };
const DAY_MS = 86400e3;
const AXIS = { stroke: "#aab4c0", grid: { stroke: "#26313c" }, ticks: { stroke: "#26313c" } };
const pct = (v) => (v == null ? "–" : num(100 * v, 1) + " %");
const secs = (v) => (v == null ? "–" : num(v, 1) + " s");
const mins = (v) => (v == null ? "–" : num(v / 60, 1) + " mnt");
const day = (ms) => new Date(ms).toISOString().slice(0, 10);

// One uPlot chart; `data` is uPlot's [xs, ys…]. The values drawn are kept on the element (data-values), so what
// the chart shows can be checked against the API.
function Chart({ id, data, series, bars = false, xLabels = null, yRange = null }) {
  const ref = useRef(null);
  useEffect(() => {
    const opts = {
      width: 390,
      height: 170,
      legend: { show: true },
      cursor: { drag: { x: false, y: false } },
      scales: { x: xLabels ? { time: false, range: (u, lo, hi) => [lo - 0.5, hi + 0.5] } : { time: true }, y: yRange ? { range: yRange } : {} },
      axes: [xLabels ? { ...AXIS, incrs: [1, 2, 5, 10], values: (u, ticks) => ticks.map((i) => xLabels[i] ?? "") } : AXIS, AXIS],
      series: [{}, ...series.map((s) => ({ width: 2, ...s, ...(bars ? { paths: uPlot.paths.bars({ size: [0.7, 40] }), fill: s.stroke + "aa" } : {}) }))],
    };
    const chart = new uPlot(opts, data, ref.current);
    return () => chart.destroy();
  }, [JSON.stringify(data)]);
  return html`<div class="chart" id=${id} ref=${ref} data-values=${JSON.stringify(data.slice(1))}></div>`;
}

async function downloadCsv(query) {
  const r = await fetch(`/api/v1/reports/response-times.csv?${query}`, { headers: { Authorization: "Bearer " + store.get().token } });
  if (!r.ok) throw new ApiError(r.status, "server_error");
  const url = URL.createObjectURL(await r.blob());
  const a = document.createElement("a");
  a.href = url;
  a.download = `response_times.csv`;
  a.click();
  setTimeout(() => URL.revokeObjectURL(url), 10_000);
}

// Where incidents happen: the server's counts per H3 cell for the period, type and channel, on the map (the
// resolution follows the zoom), with the busiest cells listed beside it.
function Heatmap({ query }) {
  const meta = useStore((s) => s.meta);
  const [on, setOn] = useState(false);
  const [type, setType] = useState("");
  const [channel, setChannel] = useState("");
  const [doc, setDoc] = useState(null);
  const [error, setError] = useState(null);
  const types = meta ? [...new Set(Object.values(meta.types_by_category).flat())].sort() : [];
  useEffect(() => {
    if (!on) return hideHeat();
    showHeat(async (res) => {
      const q = query();
      q.delete("tier");
      q.set("res", String(res));
      if (type) q.set("incident_type", type);
      if (channel) q.set("channel", channel);
      try {
        const got = await api(`/api/v1/reports/heatmap?${q}`);
        setDoc(got);
        drawHeat(got.cells);
      } catch (e) {
        setError(e.code);
      }
    });
    return () => hideHeat();
  }, [on, type, channel, query().toString()]);
  return html`<section class="detail" id="report-heatmap">
    <div class="head"><h3>${t("reports.heatmap")}</h3>
      <button id="heatmap-toggle" aria-pressed=${on} onClick=${() => setOn(!on)}>${on ? t("reports.heatmap_hide") : t("reports.heatmap_show")}</button></div>
    <div class="filters wrap">
      <label>${t("reports.type")}
        <select id="heatmap-type" value=${type} onChange=${(e) => setType(e.target.value)}>
          <option value="">${t("board.all")}</option>
          ${types.map((k) => html`<option key=${k} value=${k}>${te("type", k)}</option>`)}
        </select></label>
      <label>${t("reports.channel")}
        <select id="heatmap-channel" value=${channel} onChange=${(e) => setChannel(e.target.value)}>
          <option value="">${t("board.all")}</option>
          ${(meta ? meta.channels : []).map((k) => html`<option key=${k} value=${k}>${te("channel", k)}</option>`)}
        </select></label>
    </div>
    ${error ? html`<p class="error" role="alert">${t("error." + error)}</p>` : null}
    ${on && doc
      ? html`<p class="hint" id="heatmap-total" data-total=${doc.total} data-res=${doc.res}>${t("reports.heatmap_total", { n: num(doc.total), cells: num(doc.cells.length), res: doc.res })}</p>
          <ul class="list numbers" id="heatmap-cells">
            ${doc.cells.slice(0, 10).map((c) => html`<li key=${c.h} data-cell=${c.h} data-n=${c.n}>${c.h}: ${num(c.n)}</li>`)}
          </ul>`
      : null}
  </section>`;
}

// Patrol coverage: the H3 cells a station's units visited in a shift (or any period), against the station's
// area, with the cells nobody visited and the incidents that happened there meanwhile.
function Coverage() {
  const now = Date.now();
  const iso = (ms) => new Date(ms).toISOString().slice(0, 16);
  const [station, setStation] = useState(store.get().user.station_code || "31.71");
  const [start, setStart] = useState(iso(now - 8 * 3600e3));
  const [end, setEnd] = useState(iso(now));
  const [doc, setDoc] = useState(null);
  const [error, setError] = useState(null);
  useEffect(() => () => drawCoverage(null), []);
  const load = async (e) => {
    e.preventDefault();
    setError(null);
    const q = new URLSearchParams({ station: station.trim(), start: start + ":00Z", end: end + ":00Z", res: "8" });
    try {
      const got = await api(`/api/v1/reports/coverage?${q}`);
      setDoc(got);
      drawCoverage(got);
      fitTo(got.visited.concat(got.not_visited).flatMap((c) => c.ring));
    } catch (ex) {
      setError(ex.code);
    }
  };
  return html`<section class="detail" id="report-coverage">
    <h3>${t("reports.coverage")}</h3>
    <form class="filters wrap" onSubmit=${load}>
      <label>${t("reports.station")} <input id="coverage-station" value=${station} onInput=${(e) => setStation(e.target.value)} /></label>
      <label>${t("replay.start")} <input id="coverage-start" type="datetime-local" value=${start} onInput=${(e) => setStart(e.target.value)} /></label>
      <label>${t("replay.end")} <input id="coverage-end" type="datetime-local" value=${end} onInput=${(e) => setEnd(e.target.value)} /></label>
      <button id="coverage-load" type="submit">${t("reports.load")}</button>
    </form>
    ${error ? html`<p class="error" role="alert">${t("error." + error)}</p>` : null}
    ${doc
      ? html`<dl class="facts" id="coverage-figures" data-share=${doc.covered_share ?? ""} data-visited=${doc.visited.length}>
          <dt>${t("reports.coverage_units")}</dt><dd>${num(doc.units)}</dd>
          <dt>${t("reports.coverage_visited")}</dt><dd>${num(doc.visited.length)}</dd>
          <dt>${t("reports.coverage_share")}</dt><dd>${doc.area_cells != null ? `${pct(doc.covered_share)} (${num(doc.area_cells)})` : t("reports.coverage_no_area")}</dd>
          <dt>${t("reports.coverage_missed_incidents")}</dt><dd>${doc.area_cells != null ? `${num(doc.incidents_not_visited)} / ${num(doc.incidents)}` : "–"}</dd>
        </dl>`
      : null}
  </section>`;
}

// False reports per channel and station, and the callers intake flags with the incidents behind each flag.
function FalseReports({ query }) {
  const [doc, setDoc] = useState(null);
  const [error, setError] = useState(null);
  const load = async () => {
    const q = query();
    q.delete("tier");
    try {
      setDoc(await api(`/api/v1/reports/false-reports?${q}`));
    } catch (e) {
      setError(e.code);
    }
  };
  return html`<section class="detail" id="false-reports">
    <div class="head"><h3>${t("reports.false_reports")}</h3><button id="false-reports-load" onClick=${load}>${t("reports.load")}</button></div>
    ${error ? html`<p class="error" role="alert">${t("error." + error)}</p>` : null}
    ${doc
      ? html`<ul class="list numbers" id="false-counts">
            ${doc.counts.length
              ? doc.counts.map((c) => html`<li key=${c.channel + c.station_code} data-channel=${c.channel} data-station=${c.station_code}>${te("channel", c.channel)} · ${c.station_code}: ${num(c.false_reports)} / ${num(c.incidents)}</li>`)
              : html`<li class="muted">${t("reports.no_false_reports")}</li>`}
          </ul>
          <h3>${t("reports.flagged", { n: doc.flag_from })}</h3>
          <ul class="list" id="flagged-callers">
            ${doc.callers.map(
              (c) => html`<li key=${c.caller} data-caller=${c.caller}><strong>${c.caller}</strong> · ${t("reports.flagged_counts", { f: num(c.false_reports), n: num(c.incidents) })}
                <ul class="numbers">${c.behind_the_flag.map((i) => html`<li key=${i.incident_id}>${i.incident_id} · ${te("type", i.incident_type)} · ${te("channel", i.channel)} · ${i.station_code}</li>`)}</ul>
              </li>`,
            )}
          </ul>`
      : null}
  </section>`;
}

export function Reports() {
  const role = useStore((s) => s.user.role);
  const now = Date.now();
  const [tier, setTier] = useState("polres");
  const [since, setSince] = useState(day(now - 30 * DAY_MS));
  const [until, setUntil] = useState(day(now + DAY_MS));
  const [rows, setRows] = useState(null);
  const [chosen, setChosen] = useState(null);
  const [detail, setDetail] = useState(null);
  const [error, setError] = useState(null);
  const query = () => new URLSearchParams({ tier, since: since + "T00:00:00Z", until: until + "T00:00:00Z" });

  const load = async (e) => {
    if (e) e.preventDefault();
    setError(null);
    setChosen(null);
    setDetail(null);
    try {
      setRows(await api(`/api/v1/reports/response-times?${query()}`));
    } catch (ex) {
      setError(ex.code);
    }
  };
  useEffect(() => {
    load();
  }, []);

  const choose = async (code) => {
    setChosen(code);
    setError(null);
    const q = query();
    q.set("station", code);
    q.set("tz_hours", String(ZONE_HOURS[zoneOf(code).name]));
    try {
      const [daily, acks, arrivals] = await Promise.all([
        api(`/api/v1/reports/response-times/daily?${q}`),
        api(`/api/v1/reports/response-times/distribution?${q}&metric=ack&width_s=5`),
        api(`/api/v1/reports/arrivals?${q}`),
      ]);
      setDetail({ daily, acks, arrivals });
    } catch (ex) {
      setError(ex.code);
    }
  };

  const top = rows ? [...rows].sort((a, b) => b.incidents - a.incidents).slice(0, 20) : [];
  return html`<div class="workspace" id="ws-reports">
    <h2>${t("reports.title")}</h2>
    <form class="filters wrap" onSubmit=${load}>
      <label>${t("reports.tier")}
        <select id="report-tier" value=${tier} onChange=${(e) => setTier(e.target.value)}>
          ${TIERS.map((k) => html`<option key=${k} value=${k}>${t("tier." + k)}</option>`)}
        </select></label>
      <label>${t("reports.since")} <input id="report-since" type="date" value=${since} onInput=${(e) => setSince(e.target.value)} /></label>
      <label>${t("reports.until")} <input id="report-until" type="date" value=${until} onInput=${(e) => setUntil(e.target.value)} /></label>
      <button id="report-load" class="primary" type="submit">${t("reports.load")}</button>
    </form>
    <p class="hint">${t("reports.targets")}</p>
    ${error ? html`<p class="error" role="alert">${t("error." + error)}</p>` : null}
    ${rows
      ? html`<button id="report-csv" onClick=${() => downloadCsv(query()).catch((ex) => setError(ex.code))}>${t("reports.csv")}</button>
          ${top.length
            ? html`<h3>${t("reports.ack_share_chart")}</h3>
                <${Chart}
                  id="chart-ack-share"
                  bars=${true}
                  xLabels=${top.map((r) => r.station_code)}
                  yRange=${[0, 100]}
                  data=${[top.map((_, i) => i), top.map((r) => (r.ack_within_share == null ? null : 100 * r.ack_within_share))]}
                  series=${[{ label: t("reports.ack_within"), stroke: "#3fd07a" }]}
                />`
            : html`<p class="muted" id="report-empty">${t("reports.empty")}</p>`}
          <div class="table-wrap"><table class="figures" id="report-table">
            <thead><tr>
              <th>${t("reports.station")}</th><th>${t("reports.incidents")}</th><th>${t("reports.ack_within")}</th>
              <th>${t("reports.ack_p50")}</th><th>${t("reports.accept_p50")}</th><th>${t("reports.arrive_within")}</th><th>${t("reports.arrive_p50")}</th>
            </tr></thead>
            <tbody>
              ${rows.map(
                (r) => html`<tr key=${r.station_code} data-station=${r.station_code} class=${chosen === r.station_code ? "chosen" : ""} tabindex="0" onClick=${() => choose(r.station_code)} onKeyDown=${(e) => e.key === "Enter" && choose(r.station_code)}>
                  <td title=${r.station_name || ""}>${r.station_code}</td>
                  <td>${num(r.incidents)}</td><td data-share=${r.ack_within_share ?? ""}>${pct(r.ack_within_share)}</td>
                  <td>${secs(r.ack_p50_s)}</td><td>${secs(r.accept_p50_s)}</td>
                  <td>${pct(r.arrive_within_share)}</td><td>${mins(r.arrive_p50_s)}</td>
                </tr>`,
              )}
            </tbody>
          </table></div>`
      : null}
    ${chosen && detail
      ? html`<section class="detail" id="report-station" data-station=${chosen}>
          <h3>${t("reports.trend", { station: chosen })}</h3>
          ${detail.daily.length
            ? html`<${Chart}
                id="chart-daily"
                yRange=${[0, 100]}
                data=${[detail.daily.map((d) => Date.parse(d.station_code + "T00:00:00Z") / 1000), detail.daily.map((d) => (d.ack_within_share == null ? null : 100 * d.ack_within_share)), detail.daily.map((d) => (d.arrive_within_share == null ? null : 100 * d.arrive_within_share))]}
                series=${[{ label: t("reports.ack_within"), stroke: "#3fd07a" }, { label: t("reports.arrive_within"), stroke: "#4aa3ff" }]}
              />
              <ul class="list numbers" id="daily-numbers">
                ${detail.daily.map((d) => html`<li key=${d.station_code} data-day=${d.station_code}>${d.station_code}: ${num(d.incidents)} · ${pct(d.ack_within_share)} · ${secs(d.accept_p50_s)} · ${pct(d.arrive_within_share)}</li>`)}
              </ul>`
            : html`<p class="muted">${t("reports.empty")}</p>`}
          <h3>${t("reports.ack_distribution")}</h3>
          ${detail.acks.length
            ? html`<${Chart}
                id="chart-ack-distribution"
                bars=${true}
                xLabels=${detail.acks.map((b) => `${num(b.from_s)}–${num(b.to_s)}`)}
                data=${[detail.acks.map((_, i) => i), detail.acks.map((b) => b.incidents)]}
                series=${[{ label: t("reports.incidents"), stroke: "#f5c542" }]}
              />
              <ul class="list numbers">${detail.acks.map((b) => html`<li key=${b.from_s}>${num(b.from_s)}–${num(b.to_s)} s: ${num(b.incidents)}</li>`)}</ul>`
            : html`<p class="muted">${t("reports.empty")}</p>`}
          <h3>${t("reports.arrivals")}</h3>
          <ul class="list numbers" id="arrival-targets">
            ${detail.arrivals.length
              ? detail.arrivals.map((a) => html`<li key=${a.target_s} data-target=${a.target_s}>${t("reports.target", { min: num(a.target_s / 60) })}: ${num(a.within_target)} / ${num(a.arrived)} (${pct(a.within_share)})</li>`)
              : html`<li class="muted">${t("reports.no_arrivals")}</li>`}
          </ul>
        </section>`
      : null}
    <${Heatmap} query=${query} />
    <${Coverage} />
    ${role === "auditor" || role === "admin" ? html`<${FalseReports} query=${query} />` : null}
  </div>`;
}
