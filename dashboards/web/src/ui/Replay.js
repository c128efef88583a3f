// The auditor's replay: units (typed, or every unit of a station) over a time range, played at ×1 to ×64 or
// moved with a slider; each unit's position at the slider's instant, its track and fixes on the map (hover a
// fix for its time, speed, HDOP, source and raw sentence), the incident steps naming the units on the same
// timeline, and "who was where" for a station at the slider's instant.
//
// Loading: first an overview (about FIRST_POINTS fixes a unit, the first of each equal bucket), drawn at
// once; then, for ranges up to a day, the full-resolution read (a day at 1 Hz is 86,400 fixes a unit, one
// columnar response). Zooming the timeline in reads the narrower range again, so it refines to every fix.
import { useEffect, useRef, useState } from "preact/hooks";
import { html } from "./html.js";
import { useStore } from "./hooks.js";
import { api } from "../api.js";
import { t, te, num, time } from "../i18n.js";
import { store } from "../store.js";
import { clearReplay, colourOf, drawHeads, drawSnapshot, drawTracks, fitTo, onFixHover } from "../replay_map.js";

const SPEEDS = [1, 2, 4, 8, 16, 32, 64];
const FIRST_POINTS = 1000;
const FULL_SPAN_S = 86400;
const DEFAULT_SPAN_MS = 3600e3;

// The index of the last fix at or before tMs (-1 when the instant is before the first): a binary search.
export function indexAt(ts, tMs) {
  let lo = 0;
  let hi = ts.length - 1;
  if (hi < 0 || ts[0] > tMs) return -1;
  while (lo < hi) {
    const mid = (lo + hi + 1) >> 1;
    if (ts[mid] <= tMs) lo = mid;
    else hi = mid - 1;
  }
  return lo;
}

const isoInput = (ms) => new Date(ms).toISOString().slice(0, 19);
const fromInput = (text) => Date.parse(text.endsWith("Z") ? text : text + "Z");

function columns(unit, k, doc) {
  return { unit, colour: colourOf(k), t: doc.t_us.map((us) => us / 1000), lat: doc.lat, lon: doc.lon, speed: doc.speed_mps, hdop: doc.hdop };
}

// The first frame: about FIRST_POINTS fixes a unit, one per equal bucket of the range.
async function readOverviews(units, t0, t1) {
  const span = `start=${encodeURIComponent(new Date(t0).toISOString())}&end=${encodeURIComponent(new Date(t1).toISOString())}`;
  return Promise.all(units.map(async (unit, k) => columns(unit, k, await api(`/api/v1/replay/overview?unit_id=${encodeURIComponent(unit)}&${span}&points=${FIRST_POINTS}`))));
}

// Every fix of the range, as columns (a day at 1 Hz in one response a unit).
async function readTracks(units, t0, t1) {
  const q = new URLSearchParams({ format: "columns", start: new Date(t0).toISOString(), end: new Date(t1).toISOString(), limit: "100000" });
  return Promise.all(units.map(async (unit, k) => columns(unit, k, await api(`/api/v1/units/${encodeURIComponent(unit)}/track?${q}`))));
}

async function fixRows(unit, tMs) {
  try {
    const f = await api(`/api/v1/replay/fix?unit_id=${encodeURIComponent(unit)}&at=${encodeURIComponent(new Date(tMs).toISOString())}`);
    return [
      [t("replay.unit"), f.unit_id],
      [t("replay.time"), time(f.t, null, true)],
      [t("replay.speed"), f.speed_mps != null ? num(f.speed_mps * 3.6, 1) + " km/j" : "–"],
      [t("replay.hdop"), f.hdop != null ? num(f.hdop, 1) : "–"],
      [t("replay.source"), f.source],
      [t("replay.raw"), f.raw],
    ];
  } catch (e) {
    return [[t("replay.unit"), unit], [t("replay.raw"), t("error." + e.code)]];
  }
}

export function Replay() {
  const request = useStore((s) => s.replayRequest);
  const [station, setStation] = useState("");
  const [unitsText, setUnitsText] = useState("");
  const now0 = Date.now();
  const [range, setRange] = useState({ t0: now0 - DEFAULT_SPAN_MS, t1: now0 });
  const [outer, setOuter] = useState(null); // the range before zooming in
  const [startText, setStartText] = useState(isoInput(now0 - DEFAULT_SPAN_MS));
  const [endText, setEndText] = useState(isoInput(now0));
  const [tracks, setTracks] = useState([]);
  const [resolution, setResolution] = useState(null); // "bucketed" | "full"
  const [events, setEvents] = useState([]);
  const [cursor, setCursor] = useState(now0);
  const [playing, setPlaying] = useState(false);
  const [speed, setSpeed] = useState(8);
  const [snapshot, setSnapshot] = useState(null);
  const [error, setError] = useState(null);
  const loadSeq = useRef(0);

  useEffect(() => {
    onFixHover(fixRows);
    return () => (onFixHover(null), clearReplay());
  }, []);

  const load = async (units, t0, t1, at) => {
    const seq = ++loadSeq.current;
    setError(null);
    setPlaying(false);
    if (!units.length) return setError("replay_no_units");
    if (!(t0 < t1)) return setError("replay_bad_range");
    setRange({ t0, t1 });
    setCursor(at ?? t0);
    const spanS = (t1 - t0) / 1000;
    try {
      const first = await readOverviews(units, t0, t1);
      if (seq !== loadSeq.current) return;
      setTracks(first);
      setResolution("bucketed");
      drawTracks(first);
      fitTo(first.flatMap((tr) => tr.lat.map((lat, i) => [tr.lon[i], lat])));
      api(`/api/v1/replay/events?units=${encodeURIComponent(units.join(","))}&start=${new Date(t0).toISOString()}&end=${new Date(t1).toISOString()}`)
        .then((ev) => seq === loadSeq.current && setEvents(ev))
        .catch((e) => setError(e.code));
      if (spanS <= FULL_SPAN_S) {
        const full = await readTracks(units, t0, t1);
        if (seq !== loadSeq.current) return;
        setTracks(full);
        drawTracks(full);
      }
      if (seq === loadSeq.current) setResolution(spanS <= FULL_SPAN_S ? "full" : "bucketed");
    } catch (e) {
      setError(e.code);
    }
  };

  const unitList = () => unitsText.split(",").map((u) => u.trim()).filter(Boolean);
  const submit = (e) => {
    e.preventDefault();
    setOuter(null);
    load(unitList(), fromInput(startText), fromInput(endText));
  };
  const fillStation = () => {
    const code = station.trim();
    const polres = code.slice(0, 5);
    const units = [...store.get().units.values()].filter((u) => u.polres_code && (u.polres_code === polres || u.polres_code.startsWith(polres + "."))).map((u) => u.unit_id).sort();
    setUnitsText(units.join(", "));
  };

  // A link from the incident trail: those units, a quarter of an hour either side of the step.
  useEffect(() => {
    if (!request) return;
    const at = Date.parse(request.at);
    const t0 = at - 15 * 60e3;
    const t1 = at + 15 * 60e3;
    setUnitsText(request.units.join(", "));
    setStartText(isoInput(t0));
    setEndText(isoInput(t1));
    setOuter(null);
    store.set({ replayRequest: null });
    load(request.units, t0, t1, at);
  }, [request]);

  // Playing: the cursor moves with the wall clock times the speed, until the end of the range.
  useEffect(() => {
    if (!playing) return;
    let last = performance.now();
    let h = requestAnimationFrame(function step(now) {
      const dt = now - last;
      last = now;
      let stop = false;
      setCursor((c) => {
        const next = c + dt * speed;
        if (next >= range.t1) stop = true;
        return Math.min(next, range.t1);
      });
      if (stop) setPlaying(false);
      else h = requestAnimationFrame(step);
    });
    return () => cancelAnimationFrame(h);
  }, [playing, speed, range]);

  const heads = tracks
    .map((tr) => {
      const i = indexAt(tr.t, cursor);
      return i < 0 ? { unit: tr.unit, colour: tr.colour } : { unit: tr.unit, colour: tr.colour, t: tr.t[i], lat: tr.lat[i], lon: tr.lon[i], speed: tr.speed[i], hdop: tr.hdop[i] };
    });
  useEffect(() => drawHeads(heads.filter((h) => h.lat != null)), [cursor, tracks]);

  const zoomIn = () => {
    const span = range.t1 - range.t0;
    const t0 = Math.max(range.t0, cursor - span / 8);
    const t1 = Math.min(range.t1, t0 + span / 4);
    if (!outer) setOuter(range);
    load(tracks.map((tr) => tr.unit), t0, t1, cursor);
  };
  const zoomOut = () => {
    if (!outer) return;
    const back = outer;
    setOuter(null);
    load(tracks.map((tr) => tr.unit), back.t0, back.t1, cursor);
  };
  const takeSnapshot = async () => {
    setError(null);
    try {
      const doc = await api(`/api/v1/replay/snapshot?station=${encodeURIComponent(station.trim())}&at=${encodeURIComponent(new Date(cursor).toISOString())}`);
      setSnapshot(doc);
      drawSnapshot(doc.units);
    } catch (e) {
      setError(e.code);
    }
  };
  const frac = (ms) => `${(100 * (ms - range.t0)) / Math.max(1, range.t1 - range.t0)}%`;

  return html`<div class="workspace" id="ws-replay">
    <h2>${t("replay.title")}</h2>
    <form class="replay-form" onSubmit=${submit}>
      <label>${t("replay.station")} <input id="replay-station" value=${station} placeholder="31.71" onInput=${(e) => setStation(e.target.value)} /></label>
      <button type="button" id="replay-station-units" onClick=${fillStation}>${t("replay.station_units")}</button>
      <label>${t("replay.units")} <input id="replay-units" value=${unitsText} onInput=${(e) => setUnitsText(e.target.value)} /></label>
      <div class="filters">
        <label>${t("replay.start")} <input id="replay-start" type="datetime-local" step="1" value=${startText} onInput=${(e) => setStartText(e.target.value)} /></label>
        <label>${t("replay.end")} <input id="replay-end" type="datetime-local" step="1" value=${endText} onInput=${(e) => setEndText(e.target.value)} /></label>
      </div>
      <button id="replay-load" class="primary" type="submit">${t("replay.load")}</button>
    </form>
    ${error ? html`<p class="error" role="alert" id="replay-error">${t("error." + error)}</p>` : null}
    ${tracks.length
      ? html`<div class="replay-controls">
          <button id="replay-play" aria-pressed=${playing} onClick=${() => (cursor >= range.t1 && setCursor(range.t0), setPlaying(!playing))}>${playing ? t("replay.pause") : t("replay.play")}</button>
          <label>${t("replay.speed_label")}
            <select id="replay-speed" value=${speed} onChange=${(e) => setSpeed(+e.target.value)}>
              ${SPEEDS.map((s) => html`<option key=${s} value=${s}>×${s}</option>`)}
            </select></label>
          <button id="replay-zoom-in" onClick=${zoomIn}>${t("replay.zoom_in")}</button>
          <button id="replay-zoom-out" disabled=${!outer} onClick=${zoomOut}>${t("replay.zoom_out")}</button>
          <span id="replay-resolution" data-resolution=${resolution} class="muted">${resolution === "full" ? t("replay.resolution_full") : resolution ? t("replay.resolution_bucketed") : ""}</span>
        </div>
        <div class="timeline">
          <input id="replay-slider" type="range" min=${range.t0} max=${range.t1} step="1000" value=${cursor} aria-label=${t("replay.slider")} onInput=${(e) => (setPlaying(false), setCursor(+e.target.value))} />
          <div class="ticks" aria-hidden="true">${events.map((ev) => html`<span key=${ev.seq} class=${"tick " + ev.action} style=${{ left: frac(Date.parse(ev.at)) }}></span>`)}</div>
        </div>
        <p id="replay-clock" data-t=${new Date(cursor).toISOString()}>${time(new Date(cursor).toISOString(), null, true)}</p>
        <ul class="list" id="replay-current">
          ${heads.map(
            (h) => html`<li key=${h.unit} data-unit=${h.unit} data-t=${h.t != null ? new Date(h.t).toISOString() : ""} data-lat=${h.lat ?? ""} data-lon=${h.lon ?? ""}>
              <span class="swatch" style=${{ background: h.colour }}></span> ${h.unit} · ${h.t != null ? `${time(new Date(h.t).toISOString())} · ${h.speed != null ? num(h.speed * 3.6) + " km/j" : "–"} · HDOP ${h.hdop != null ? num(h.hdop, 1) : "–"}` : t("replay.no_fix_yet")}
            </li>`,
          )}
        </ul>
        <h3>${t("replay.events")}</h3>
        <ul class="list" id="replay-events">
          ${events.length
            ? events.map(
                (ev) => html`<li key=${ev.seq} data-seq=${ev.seq}><button class="link" onClick=${() => (setPlaying(false), setCursor(Date.parse(ev.at)))}>${time(ev.at)}</button> ${ev.unit_id} · ${te("action", ev.action)} · ${ev.incident_id}</li>`,
              )
            : html`<li class="muted">${t("replay.no_events")}</li>`}
        </ul>`
      : null}
    <h3>${t("replay.snapshot_title")}</h3>
    <button id="snapshot-btn" onClick=${takeSnapshot}>${t("replay.snapshot")}</button>
    ${snapshot
      ? html`<p class="hint" id="snapshot-at" data-at=${snapshot.at}>${t("replay.snapshot_at", { station: snapshot.station, at: time(snapshot.at, snapshot.station, true) })}</p>
          <ul class="list" id="snapshot-list">
            ${snapshot.units.map(
              (u) => html`<li key=${u.unit_id} data-unit=${u.unit_id} data-t=${u.t || ""} data-lat=${u.lat ?? ""} data-lon=${u.lon ?? ""}>
                ${u.unit_id} · ${u.t ? `${time(u.t, snapshot.station)} · ${num(u.lat, 5)}, ${num(u.lon, 5)}` : t("replay.no_fix_window")}
              </li>`,
            )}
          </ul>`
      : null}
  </div>`;
}
