// The auditor's and commander's layers on the console's map. The replay: each unit's track as a line, its fixes as dots (from zoom 12,
// where they are far enough apart to point at), where each unit is at the slider's instant, and a station's
// snapshot. Hovering a fix asks the server for that fix with its raw sentence (itself an audited read) and shows
// it in a popup built from text nodes: the raw evidence is what a device sent, never markup.
import maplibregl from "maplibre-gl";
import { mapInstance } from "./map.js";

export const UNIT_COLOURS = ["#ffb000", "#00c2ff", "#ff5c8a", "#7cff6b", "#c08bff", "#ff7f2a", "#3de0c0", "#f5f5f5"];
const EMPTY = { type: "FeatureCollection", features: [] };
const SOURCES = ["replay-tracks", "replay-fixes", "replay-heads", "replay-snapshot"];
let hover = null; // (unit, tMs, lngLat) => Promise<[label, value][]>
let popup = null;
let hovered = "";

export function colourOf(k) {
  return UNIT_COLOURS[k % UNIT_COLOURS.length];
}

// The layers are added once, on first use. Before the style itself has loaded (the first instants after
// login) MapLibre refuses new sources: nothing is drawn then, and the next draw adds them.
function ensure() {
  const map = mapInstance();
  if (!map || map.getSource("replay-tracks")) return map;
  try {
    for (const id of SOURCES) map.addSource(id, { type: "geojson", data: EMPTY });
  } catch (e) {
    return null;
  }
  map.addLayer({ id: "replay-tracks", type: "line", source: "replay-tracks", paint: { "line-color": ["get", "colour"], "line-width": 2.5, "line-opacity": 0.85 } });
  map.addLayer({ id: "replay-fixes", type: "circle", source: "replay-fixes", minzoom: 12, paint: { "circle-radius": 3, "circle-color": ["get", "colour"], "circle-stroke-width": 0.5, "circle-stroke-color": "#000" } });
  map.addLayer({ id: "replay-snapshot", type: "circle", source: "replay-snapshot", paint: { "circle-radius": 6, "circle-color": "#ffffff", "circle-stroke-width": 2, "circle-stroke-color": "#1f5fa0" } });
  map.addLayer({ id: "replay-heads", type: "circle", source: "replay-heads", paint: { "circle-radius": 7, "circle-color": ["get", "colour"], "circle-stroke-width": 2, "circle-stroke-color": "#ffffff" } });
  map.on("mousemove", "replay-fixes", onHover);
  map.on("mouseleave", "replay-fixes", () => {
    map.getCanvas().style.cursor = "";
    hovered = "";
    if (popup) popup.remove();
  });
  return map;
}

function set(id, features) {
  const map = ensure();
  if (map && map.getSource(id)) map.getSource(id).setData({ type: "FeatureCollection", features });
}

// tracks: [{unit, colour, t (ms), lat, lon}]
export function drawTracks(tracks) {
  const lines = [];
  const dots = [];
  for (const tr of tracks) {
    const coords = [];
    for (let i = 0; i < tr.t.length; i++) {
      coords.push([tr.lon[i], tr.lat[i]]);
      dots.push({ type: "Feature", geometry: { type: "Point", coordinates: [tr.lon[i], tr.lat[i]] }, properties: { unit: tr.unit, t: tr.t[i], colour: tr.colour } });
    }
    if (coords.length > 1) lines.push({ type: "Feature", geometry: { type: "LineString", coordinates: coords }, properties: { unit: tr.unit, colour: tr.colour } });
  }
  set("replay-tracks", lines);
  set("replay-fixes", dots);
}

// heads: [{unit, colour, lat, lon}]
export function drawHeads(heads) {
  set(
    "replay-heads",
    heads.map((h) => ({ type: "Feature", geometry: { type: "Point", coordinates: [h.lon, h.lat] }, properties: { unit: h.unit, colour: h.colour } })),
  );
}

export function drawSnapshot(units) {
  set(
    "replay-snapshot",
    units.filter((u) => u.lat != null).map((u) => ({ type: "Feature", geometry: { type: "Point", coordinates: [u.lon, u.lat] }, properties: { unit: u.unit_id } })),
  );
}

export function clearReplay() {
  for (const id of SOURCES) set(id, []);
  if (popup) popup.remove();
}

export function fitTo(points) {
  const map = mapInstance();
  if (!map || !points.length) return;
  const b = new maplibregl.LngLatBounds();
  for (const [lon, lat] of points) b.extend([lon, lat]);
  map.fitBounds(b, { padding: 60, maxZoom: 16, duration: 0 });
}

export function onFixHover(f) {
  hover = f;
}

async function onHover(e) {
  const map = mapInstance();
  map.getCanvas().style.cursor = "pointer";
  const f = e.features && e.features[0];
  if (!f || !hover) return;
  const key = `${f.properties.unit}@${f.properties.t}`;
  if (key === hovered) return;
  hovered = key;
  const at = f.geometry.coordinates;
  const rows = await hover(f.properties.unit, +f.properties.t);
  if (hovered !== key || !rows) return;
  const box = document.createElement("dl");
  box.className = "facts fix-popup";
  box.id = "fix-popup";
  for (const [label, value] of rows) {
    const dt = document.createElement("dt");
    dt.textContent = label;
    const dd = document.createElement("dd");
    dd.textContent = value;
    box.append(dt, dd);
  }
  if (popup) popup.remove();
  popup = new maplibregl.Popup({ closeButton: false, maxWidth: "360px" }).setLngLat(at).setDOMContent(box).addTo(map);
}

// The commander's heatmap: incidents per H3 cell (counted by the server), coloured by their share of the
// busiest cell. `refresh` is called again after each zoom while the heatmap is shown (the resolution follows).
let heatRefresh = null;
let heatHooked = false;

export function resolutionForZoom(zoom) {
  return Math.max(3, Math.min(9, Math.round(zoom) - 4));
}

export function showHeat(refresh) {
  const map = ensureHeat();
  heatRefresh = refresh;
  if (map && !heatHooked) {
    heatHooked = true;
    map.on("zoomend", () => heatRefresh && heatRefresh(resolutionForZoom(map.getZoom())));
  }
  if (map && refresh) refresh(resolutionForZoom(map.getZoom()));
}

function ensureHeat() {
  const map = mapInstance();
  if (!map) return null;
  if (!map.getSource("report-heat")) {
    try {
      map.addSource("report-heat", { type: "geojson", data: EMPTY });
    } catch (e) {
      return null; // the style is still loading (see ensure)
    }
    map.addLayer({
      id: "report-heat",
      type: "fill",
      source: "report-heat",
      paint: { "fill-color": ["interpolate", ["linear"], ["get", "k"], 0, "#2b83ba", 0.5, "#ffffbf", 1, "#d7191c"], "fill-opacity": 0.55, "fill-outline-color": "#000000" },
    });
  }
  return map;
}

export function drawHeat(cells) {
  const map = ensureHeat();
  if (!map) return;
  const max = Math.max(1, ...cells.map((c) => c.n));
  map.getSource("report-heat").setData({
    type: "FeatureCollection",
    features: cells.map((c) => ({ type: "Feature", geometry: { type: "Polygon", coordinates: [[...c.ring, c.ring[0]]] }, properties: { h: c.h, n: c.n, k: c.n / max } })),
  });
}

export function hideHeat() {
  heatRefresh = null;
  const map = mapInstance();
  if (map && map.getSource("report-heat")) map.getSource("report-heat").setData(EMPTY);
}

// Patrol coverage: the cells a station's units visited (green) and those of its area nobody visited (grey, red
// where incidents happened meanwhile).
export function drawCoverage(doc) {
  const map = mapInstance();
  if (!map) return;
  if (!map.getSource("report-coverage")) {
    try {
      map.addSource("report-coverage", { type: "geojson", data: EMPTY });
    } catch (e) {
      return; // the style is still loading (see ensure)
    }
    map.addLayer({
      id: "report-coverage",
      type: "fill",
      source: "report-coverage",
      paint: {
        "fill-color": ["case", ["get", "visited"], "#3fd07a", [">", ["get", "incidents"], 0], "#d7191c", "#69707b"],
        "fill-opacity": 0.45,
        "fill-outline-color": "#000000",
      },
    });
  }
  const cell = (c, visited) => ({ type: "Feature", geometry: { type: "Polygon", coordinates: [[...c.ring, c.ring[0]]] }, properties: { h: c.h, visited, incidents: visited ? 0 : c.n } });
  map.getSource("report-coverage").setData({
    type: "FeatureCollection",
    features: doc ? [...doc.visited.map((c) => cell(c, true)), ...doc.not_visited.map((c) => cell(c, false))] : [],
  });
}

// The auditor's area query: the box being asked about, as an outline.
export function drawArea(box) {
  const map = mapInstance();
  if (!map) return;
  if (!map.getSource("query-area")) {
    try {
      map.addSource("query-area", { type: "geojson", data: EMPTY });
    } catch (e) {
      return; // the style is still loading (see ensure)
    }
    map.addLayer({ id: "query-area", type: "line", source: "query-area", paint: { "line-color": "#f5c542", "line-width": 2, "line-dasharray": [2, 2] } });
  }
  const [x0, y0, x1, y1] = box || [];
  map.getSource("query-area").setData({
    type: "FeatureCollection",
    features: box ? [{ type: "Feature", geometry: { type: "LineString", coordinates: [[x0, y0], [x1, y0], [x1, y1], [x0, y1], [x0, y0]] }, properties: {} }] : [],
  });
}
