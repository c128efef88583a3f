// The map, in its own module: MapLibre GL JS drawing offline layers only. Land and coastline from Natural
// Earth (world-atlas, bundled); province, regency and kecamatan outlines from the app, simplified for the zoom;
// a PMTiles basemap (PATROLI_WEB_BASEMAP_PMTILES, read with range requests) or a site's tile server where one is
// configured; stations by tier; the H3 grid on demand. Units (no DOM element per unit): zoomed out, a clustered
// GeoJSON source rebuilt at most every CLUSTERS_MIN_MS; from CLUSTERS_UNTIL on, our own WebGL layer (units_layer.js)
// updated from the store with each live frame: shape and colour by status, an arrow for the heading, greyed
// when stale. Incidents are few, so each is a focusable marker with its tier and seconds left. No text layer is
// used: labels would need glyph files from a server.
import maplibregl from "maplibre-gl";
import { Protocol } from "pmtiles";
import { feature } from "topojson-client";
import land50m from "world-atlas/land-50m.json";
import { store, serverNow } from "./store.js";
import { api } from "./api.js";
import { onFrame, setArea } from "./live.js";
import { t, te, num } from "./i18n.js";
import { tierOf } from "./tiers.js";
import { UnitsLayer } from "./units_layer.js";

export const STATUS_COLOURS = {
  available: "#3fd07a",
  offered: "#f5c542",
  dispatched: "#4aa3ff",
  on_scene: "#b36bff",
  busy: "#ff8c42",
  off_duty: "#8893a0",
  offline: "#5a616c",
  unknown: "#9aa4b0",
};
// The cue that is not colour: each status has its own shape.
export const STATUS_SHAPES = {
  available: "circle",
  offered: "diamond",
  dispatched: "triangle",
  on_scene: "square",
  busy: "hexagon",
  off_duty: "ring",
  offline: "cross",
  unknown: "ring",
};
// Zoomed out, the second cue is the dot's outline width instead of its shape.
const STATUS_OUTLINE = { available: 0.5, offered: 2.5, dispatched: 2.5, on_scene: 3.5, busy: 1.5, off_duty: 0, offline: 0, unknown: 0 };
const SHAPES_FROM_ZOOM = 13;
const CLUSTERS_UNTIL = 12;
// The clustered source's rebuilds: at least CLUSTERS_MIN_MS apart and one at a time (the next waits for the
// worker's 'sourcedata'). Each rebuild re-indexes all 10,000 points and costs a few late frames, so the gap trades
// publish → drawn for frame time (bench.console, zoom 11: 1,000 ms drawn p99 1,167 ms; 800 ms 946-963 ms, frame
// p95 16.8-36.7 ms; 700 ms 870 ms but frame p95 59 ms; 500 ms 677 ms, frame p95 66.7 ms).
const CLUSTERS_MIN_MS = 800;
export const STALE_FILL = "#69707b";
export const ARROW_FILL = "#f2f5f8";
export const SELECTED_RING = "#ffd84d";
const EDGE = "#0b0f14";
export const SEA = "#0c1621";
export const LAND = "#1f2b36";
const TIER_STATION = { mabes: ["#e0d19b", 7], polda: ["#9bb8e0", 5.5], polres: ["#5b7fb0", 4], polsek: ["#4f9b94", 3] };

let map = null;
let unitsLayer = null;
const markers = new Map();
let layerDirty = true; // the units layer needs all units compared with what it holds (a snapshot, staleness)
const layerTouched = new Set(); // ids of the units a live frame changed since the layer was last given them
let clustersDirty = true; // … or the clustered source
let clustersBusy = false; // the worker is indexing the clustered source's new data
let track = null;
// Fix times waiting to be drawn, given to the layer or the clustered source, made ready for the next frame (in
// batches), and publish → drawn delays.
const drawnProbe = { pending: [], layer: [], clusters: [], ready: [], samples: [] };

function shapeImage(shape, fill, size = 24) {
  const c = document.createElement("canvas");
  c.width = c.height = size;
  const g = c.getContext("2d");
  const m = size / 2;
  const r = size * 0.36;
  g.lineWidth = 2;
  g.strokeStyle = EDGE;
  g.fillStyle = fill;
  g.beginPath();
  if (shape === "circle" || shape === "ring") g.arc(m, m, r, 0, 2 * Math.PI);
  else if (shape === "square") g.rect(m - r * 0.85, m - r * 0.85, r * 1.7, r * 1.7);
  else if (shape === "diamond") g.moveTo(m, m - r), g.lineTo(m + r, m), g.lineTo(m, m + r), g.lineTo(m - r, m);
  else if (shape === "triangle") g.moveTo(m, m - r), g.lineTo(m + r, m + r * 0.8), g.lineTo(m - r, m + r * 0.8);
  else if (shape === "hexagon") {
    for (let k = 0; k < 6; k++) {
      const a = (Math.PI / 3) * k;
      g.lineTo(m + r * Math.cos(a), m + r * Math.sin(a));
    }
  } else if (shape === "cross") {
    const w = r * 0.45;
    for (const [x, y] of [[-w, -r], [w, -r], [w, -w], [r, -w], [r, w], [w, w], [w, r], [-w, r], [-w, w], [-r, w], [-r, -w], [-w, -w]])
      g.lineTo(m + x, m + y);
  }
  g.closePath();
  if (shape === "ring") {
    g.lineWidth = 4;
    g.strokeStyle = fill;
    g.stroke();
  } else {
    g.fill();
    g.stroke();
  }
  return g.getImageData(0, 0, size, size);
}

function arrowImage() {
  const size = 40;
  const c = document.createElement("canvas");
  c.width = c.height = size;
  const g = c.getContext("2d");
  g.fillStyle = ARROW_FILL;
  g.strokeStyle = EDGE;
  g.lineWidth = 1.5;
  g.beginPath(); // pointing up (north) ahead of the unit's marker, which sits at the centre
  g.moveTo(20, 1);
  g.lineTo(26, 11);
  g.lineTo(14, 11);
  g.closePath();
  g.fill();
  g.stroke();
  return g.getImageData(0, 0, size, size);
}

function style(config) {
  const sources = {
    land: { type: "geojson", data: feature(land50m, land50m.objects.land) },
  };
  const layers = [
    { id: "sea", type: "background", paint: { "background-color": SEA } },
    { id: "land", type: "fill", source: "land", paint: { "fill-color": LAND } },
  ];
  const b = config.basemap;
  if (b && b.kind === "pmtiles") {
    const url = `pmtiles://${location.origin}${b.url}`;
    if (b.tile_type === "mvt") {
      sources.basemap = { type: "vector", url };
      layers.push(
        { id: "basemap-water", type: "fill", source: "basemap", "source-layer": "water", paint: { "fill-color": SEA } },
        { id: "basemap-roads", type: "line", source: "basemap", "source-layer": "roads", paint: { "line-color": "#3a4a5c", "line-width": 1 } },
        { id: "basemap-buildings", type: "fill", source: "basemap", "source-layer": "buildings", minzoom: 14, paint: { "fill-color": "#2a3643" } },
      );
    } else {
      sources.basemap = { type: "raster", url, tileSize: 256 };
      layers.push({ id: "basemap", type: "raster", source: "basemap" });
    }
  } else if (config.tile_url) {
    sources.basemap = { type: "raster", tiles: [config.tile_url], tileSize: 256, attribution: config.tile_attribution };
    layers.push({ id: "basemap", type: "raster", source: "basemap" });
  }
  const empty = { type: "FeatureCollection", features: [] };
  for (const name of ["h3", "province", "regency", "district", "stations", "track"]) sources[name] = { type: "geojson", data: empty };
  // The units clustered for the zoomed-out view, rebuilt at most every CLUSTERS_MIN_MS (a move is a pixel or less,
  // and clustering 10,000 points on each live frame starved the page), only while in view; from CLUSTERS_UNTIL
  // on the units layer draws them. Each unit's feature is keyed by its id (promoteId), so a rebuild sends
  // MapLibre only the units that changed.
  sources["unit-clusters"] = { type: "geojson", data: empty, promoteId: "id", cluster: true, clusterMaxZoom: CLUSTERS_UNTIL - 1, clusterRadius: 36 };
  layers.push(
    { id: "h3", type: "line", source: "h3", layout: { visibility: "none" }, paint: { "line-color": "#26384d", "line-width": 1 } },
    { id: "district", type: "line", source: "district", minzoom: 9, paint: { "line-color": "#3b4d63", "line-width": 0.7 } },
    { id: "regency", type: "line", source: "regency", minzoom: 5, paint: { "line-color": "#5a7394", "line-width": 1.1 } },
    { id: "province", type: "line", source: "province", paint: { "line-color": "#8aa3c4", "line-width": 1.6 } },
    {
      id: "stations",
      type: "circle",
      source: "stations",
      filter: ["any", ["!=", ["get", "tier"], "polres"], [">=", ["zoom"], 7]],
      paint: {
        "circle-color": ["match", ["get", "tier"], ...Object.entries(TIER_STATION).flatMap(([k, v]) => [k, v[0]]), "#888"],
        "circle-radius": ["match", ["get", "tier"], ...Object.entries(TIER_STATION).flatMap(([k, v]) => [k, v[1]]), 3],
        "circle-stroke-color": "#0b0f14",
        "circle-stroke-width": 1,
      },
    },
    { id: "track", type: "line", source: "track", paint: { "line-color": "#ffd84d", "line-width": 2.5 } },
    {
      id: "clusters",
      type: "circle",
      source: "unit-clusters",
      maxzoom: CLUSTERS_UNTIL,
      filter: ["has", "point_count"],
      paint: {
        "circle-color": "#2f6fb0",
        "circle-opacity": 0.85,
        "circle-stroke-color": "#cfe3ff",
        "circle-stroke-width": 1.5,
        "circle-radius": ["step", ["get", "point_count"], 10, 10, 14, 100, 19, 1000, 25],
      },
    },
    {
      // Zoomed out, thousands of units: a dot each is what software WebGL can redraw at the live feed's pace
      // (bench.console); the status is its colour and its outline width (none, thin, thick).
      id: "cluster-dots",
      type: "circle",
      source: "unit-clusters",
      maxzoom: CLUSTERS_UNTIL,
      filter: ["!", ["has", "point_count"]],
      paint: {
        "circle-radius": 4.5,
        "circle-color": ["case", ["==", ["get", "st"], 1], STALE_FILL, ["match", ["get", "s"], ...Object.entries(STATUS_COLOURS).flat(), "#999"]],
        "circle-stroke-color": EDGE,
        "circle-stroke-width": ["match", ["get", "s"], ...Object.entries(STATUS_OUTLINE).flat(), 1],
      },
    },
  );
  return { version: 8, sources, layers };
}

export function createMap(container, config) {
  if (config.basemap && config.basemap.kind === "pmtiles") {
    const protocol = new Protocol();
    maplibregl.addProtocol("pmtiles", protocol.tile);
  }
  const view = config.view || { center: [config.center[1], config.center[0]], zoom: 11 };
  map = new maplibregl.Map({
    container,
    style: style(config),
    center: view.center,
    zoom: view.zoom,
    attributionControl: config.tile_attribution ? { compact: true, customAttribution: config.tile_attribution } : false,
    dragRotate: false,
    keyboard: true,
    fadeDuration: 0,
  });
  map.touchZoomRotate.disableRotation();
  map.addControl(new maplibregl.NavigationControl({ showCompass: false }), "top-left");
  unitsLayer = new UnitsLayer({
    id: "units",
    statuses: Object.keys(STATUS_SHAPES),
    fills: STATUS_COLOURS,
    outlines: STATUS_OUTLINE,
    staleFill: STALE_FILL,
    edge: EDGE,
    ring: SELECTED_RING,
    shapeImage: (status, stale) => shapeImage(STATUS_SHAPES[status], stale ? STALE_FILL : STATUS_COLOURS[status]),
    arrowImage,
    minZoom: CLUSTERS_UNTIL,
    shapesFromZoom: SHAPES_FROM_ZOOM,
    onDrawn: () => {
      // This frame draws the positions the layer was given.
      drawnProbe.ready.push(drawnProbe.layer.splice(0));
    },
  });
  map.on("load", () => {
    map.addLayer(unitsLayer);
    setStations(store.get().stations);
    refreshOutlines();
    layerDirty = clustersDirty = true;
  });
  map.on("moveend", () => {
    refreshOutlines();
    setArea(paddedBounds(0.5));
  });
  map.on("click", onClick);
  for (const id of ["cluster-dots", "clusters", "stations"]) {
    map.on("mouseenter", id, () => (map.getCanvas().style.cursor = "pointer"));
    map.on("mouseleave", id, () => (map.getCanvas().style.cursor = ""));
  }
  let overUnit = false;
  map.on("mousemove", (e) => {
    const over = unitsLayer.hit(e.point, 8) != null;
    if (over !== overUnit) map.getCanvas().style.cursor = over ? "pointer" : "";
    overUnit = over;
  });
  map.on("render", probeDrawn);
  map.on("sourcedata", (e) => {
    // The worker has the new clustered positions: the next frame shows them.
    if (e.sourceId !== "unit-clusters" || !clustersBusy || !map.isSourceLoaded(e.sourceId)) return;
    drawnProbe.ready.push(drawnProbe.clusters.splice(0));
    clustersBusy = false;
    map.triggerRepaint();
  });
  onFrame((msg, changed) => {
    clustersDirty = true;
    if (msg.type === "delta") {
      for (const p of changed) layerTouched.add(p.u);
      for (const u of msg.units) layerTouched.add(u.unit_id);
    } else layerDirty = true;
    if (msg.type === "delta") for (const p of changed) drawnProbe.pending.push(p.t);
    if (track && msg.type === "delta") {
      for (const p of changed) if (p.u === track.unit) track.coords.push([p.lon, p.lat]);
      setTrack();
    }
  });
  store.subscribe(() => syncIncidents());
  requestAnimationFrame(tick);
  setInterval(() => {
    if (stalenessChanged()) layerDirty = clustersDirty = true; // staleness moves with time, positions or not
    syncIncidents();
  }, 1000);
  return map;
}

function paddedBounds(pad) {
  const b = map.getBounds();
  const w = b.getEast() - b.getWest();
  const h = b.getNorth() - b.getSouth();
  const c = (v, a) => +Math.max(-a, Math.min(a, v)).toFixed(5);
  return [c(b.getWest() - w * pad, 180), c(b.getSouth() - h * pad, 85), c(b.getEast() + w * pad, 180), c(b.getNorth() + h * pad, 85)];
}

// Whether the number of stale units changed since the last look: the units are otherwise drawn as they are.
let staleCount = -1;
function stalenessChanged() {
  const now = serverNow();
  const staleMs = store.get().staleS * 1000;
  let n = 0;
  for (const u of store.get().units.values()) if (u.lat != null && (!u.fix_time || now - Date.parse(u.fix_time) > staleMs)) n++;
  const changed = n !== staleCount;
  staleCount = n;
  return changed;
}

// The units layer is given the changes at most every LAYER_MIN_MS: each change repaints the whole map, and
// with software WebGL (bench.console) a repaint of the map costs the GPU process tens of milliseconds, so
// repainting with every live frame (every 150 ms) made one frame in ten late.
const LAYER_MIN_MS = 500;
let layerBuiltAt = 0;
let clustersBuiltAt = 0;

// The units layer takes the changes (a write into its array, drawn by the next frame) at most every LAYER_MIN_MS;
// the clustered source, which MapLibre's worker re-indexes on each update, only while in view and at most
// every CLUSTERS_MIN_MS.
function tick(t) {
  if (map && map.isStyleLoaded()) {
    const clustered = map.getZoom() < CLUSTERS_UNTIL;
    if ((layerDirty || layerTouched.size) && t - layerBuiltAt >= LAYER_MIN_MS) {
      layerBuiltAt = t;
      buildLayer(!clustered);
    }
    if (clustered && clustersDirty && !clustersBusy && t - clustersBuiltAt >= CLUSTERS_MIN_MS) buildClusters(t);
  }
  requestAnimationFrame(tick);
}

// What each consumer holds: unit id → the point and properties last given to it.
const sent = { layer: new Map(), clusters: new Map() };

function sameAsSent(before, u) {
  return before.lon === u.lon && before.lat === u.lat && before.s === u.s && before.st === u.st && before.c === u.c;
}

// A placed unit as the map shows it: id, place, status (one with a shape), stale (0 or 1), course (° or -1).
function asDrawn(u, now, staleMs) {
  return {
    id: u.unit_id,
    lon: u.lon,
    lat: u.lat,
    s: STATUS_SHAPES[u.status] ? u.status : "unknown",
    st: !u.fix_time || now - Date.parse(u.fix_time) > staleMs ? 1 : 0,
    c: u.course_deg ?? -1,
  };
}

// The changes for one consumer since it was last given them: the units added or changed, and the ids gone;
// among `ids` only, or among all units.
function diffSince(held, ids = null) {
  const now = serverNow();
  const staleMs = store.get().staleS * 1000;
  const units = store.get().units;
  const changed = [];
  const removed = [];
  const compare = (u) => {
    const v = asDrawn(u, now, staleMs);
    const before = held.get(v.id);
    if (before && sameAsSent(before, v)) return;
    changed.push([v, !before]);
    held.set(v.id, v);
  };
  if (ids) {
    for (const id of ids) {
      const u = units.get(id);
      if (u && u.lat != null) compare(u);
      else if (held.delete(id)) removed.push(id);
    }
    return { changed, removed };
  }
  const seen = new Set();
  for (const u of units.values()) {
    if (u.lat == null) continue;
    seen.add(u.unit_id);
    compare(u);
  }
  for (const id of held.keys()) if (!seen.has(id)) removed.push(id);
  for (const id of removed) held.delete(id);
  return { changed, removed };
}

// A live frame's units only; all of them after a snapshot or when staleness changed.
function buildLayer(shown) {
  const { changed, removed } = diffSince(sent.layer, layerDirty ? null : layerTouched);
  layerDirty = false;
  layerTouched.clear();
  for (const [u] of changed) unitsLayer.set(u.id, u.lon, u.lat, u.s, u.st === 1, u.c < 0 ? null : u.c);
  for (const id of removed) unitsLayer.remove(id);
  if (!shown) return;
  for (const t0 of drawnProbe.pending.splice(0)) drawnProbe.layer.push(t0);
  if (!changed.length && !removed.length) drawnProbe.ready.push(drawnProbe.layer.splice(0)); // drawn as they are
}

// A rebuild sends only the difference (GeoJSONSource.updateData): about the units that moved since the last rebuild
// instead of all 10,000 serialised to the worker each time.
function buildClusters(t) {
  clustersDirty = false;
  clustersBuiltAt = t;
  const { changed, removed } = diffSince(sent.clusters);
  drawnProbe.clusters = drawnProbe.pending;
  drawnProbe.pending = [];
  if (!changed.length && !removed.length) {
    drawnProbe.ready.push(drawnProbe.clusters.splice(0)); // nothing moved: what is drawn is already current
    return;
  }
  const add = [];
  const update = [];
  for (const [u, isNew] of changed) {
    const geometry = { type: "Point", coordinates: [u.lon, u.lat] };
    if (isNew) add.push({ type: "Feature", geometry, properties: { id: u.id, s: u.s, st: u.st, c: u.c } });
    else update.push({ id: u.id, newGeometry: geometry, addOrUpdateProperties: [{ key: "s", value: u.s }, { key: "st", value: u.st }, { key: "c", value: u.c }] });
  }
  clustersBusy = true;
  map.getSource("unit-clusters").updateData({ add, update, remove: removed });
}

function probeDrawn() {
  // Called after each frame: the positions made ready for it are drawn.
  if (!drawnProbe.ready.length) return;
  const now = Date.now();
  for (const batch of drawnProbe.ready) for (const t0 of batch) drawnProbe.samples.push(now - Date.parse(t0));
  if (drawnProbe.samples.length > 200000) drawnProbe.samples.splice(0, 100000);
  drawnProbe.ready = [];
}

export function drawnDelays() {
  return drawnProbe.samples;
}

function setStations(stations) {
  const src = map && map.getSource("stations");
  if (!src) return;
  src.setData({
    type: "FeatureCollection",
    features: stations.map((s) => ({
      type: "Feature",
      geometry: { type: "Point", coordinates: [s.lon, s.lat] },
      properties: { code: s.code, name: s.name, tier: s.level },
    })),
  });
}

let outlineSeq = 0;
async function refreshOutlines() {
  if (!map || !store.get().config) return;
  const seq = ++outlineSeq;
  const zoom = map.getZoom();
  const bbox = paddedBounds(0.2).join(",");
  const layers = store.get().config.outlines || [];
  for (const layer of layers) {
    const minZoom = layer === "district" ? 9 : layer === "regency" ? 5 : 0;
    if (zoom < minZoom) continue;
    try {
      const doc = await api(`/api/v1/map/outlines/${layer}?bbox=${bbox}&zoom=${zoom.toFixed(1)}`);
      if (seq !== outlineSeq) return; // the view moved on
      map.getSource(layer).setData(doc);
    } catch (e) {
      console.warn("outlines", layer, e.code);
    }
  }
  if (map.getLayoutProperty("h3", "visibility") === "visible") refreshH3();
}

async function refreshH3() {
  try {
    const doc = await api(`/api/v1/map/h3?bbox=${paddedBounds(0.1).join(",")}`);
    map.getSource("h3").setData({
      type: "FeatureCollection",
      features: doc.cells.map((c) => ({
        type: "Feature",
        geometry: { type: "Polygon", coordinates: [[...c.b, c.b[0]].map(([la, lo]) => [lo, la])] },
        properties: { h: c.h },
      })),
    });
  } catch (e) {
    console.warn("h3", e.code);
  }
}

export function toggleH3(on) {
  map.setLayoutProperty("h3", "visibility", on ? "visible" : "none");
  if (on) refreshH3();
}

function onClick(e) {
  const { picking } = store.get();
  if (picking) {
    store.set({ picking: null });
    picking({ lat: +e.lngLat.lat.toFixed(6), lon: +e.lngLat.lng.toFixed(6) });
    return;
  }
  const unitId = unitsLayer.hit(e.point, 8);
  if (unitId) {
    selectUnit(unitId);
    return;
  }
  const box = [
    [e.point.x - 8, e.point.y - 8],
    [e.point.x + 8, e.point.y + 8],
  ];
  const hits = map.queryRenderedFeatures(box, { layers: ["cluster-dots", "clusters"] });
  const unit = hits.find((f) => f.layer.id === "cluster-dots");
  if (unit) {
    selectUnit(unit.properties.id);
    return;
  }
  const cluster = hits.find((f) => f.layer.id === "clusters");
  if (cluster) {
    map
      .getSource("unit-clusters")
      .getClusterExpansionZoom(cluster.properties.cluster_id)
      .then((z) => map.easeTo({ center: cluster.geometry.coordinates, zoom: z }));
  }
}

export async function selectUnit(unitId) {
  store.set({ selectedUnit: unitId });
  unitsLayer.select(unitId);
  track = null;
  setTrack();
  if (!unitId) return;
  const page = await api(`/api/v1/units/${encodeURIComponent(unitId)}/track?limit=5000`);
  if (store.get().selectedUnit !== unitId) return;
  track = { unit: unitId, coords: page.points.map((p) => [p.lon, p.lat]), count: page.points.length };
  setTrack();
  store.set({ trackCount: page.points.length });
}

function setTrack() {
  const src = map.getSource("track");
  if (!src) return;
  src.setData({
    type: "FeatureCollection",
    features: track && track.coords.length > 1 ? [{ type: "Feature", geometry: { type: "LineString", coordinates: track.coords }, properties: {} }] : [],
  });
}

function syncIncidents() {
  if (!map) return;
  const s = store.get();
  const now = serverNow();
  const seen = new Set();
  for (const inc of s.incidents.values()) {
    if (inc.lat == null) continue;
    seen.add(inc.incident_id);
    let m = markers.get(inc.incident_id);
    if (!m) {
      const el = document.createElement("button");
      el.type = "button";
      el.className = "incident-marker";
      el.dataset.incident = inc.incident_id;
      el.addEventListener("click", (ev) => {
        ev.stopPropagation();
        store.set({ openIncident: el.dataset.incident });
      });
      m = new maplibregl.Marker({ element: el, anchor: "left" }).setLngLat([inc.lon, inc.lat]).addTo(map);
      markers.set(inc.incident_id, m);
    }
    m.setLngLat([inc.lon, inc.lat]);
    const el = m.getElement();
    const left = inc.station_deadline && !inc.acked_at ? Math.max(0, Math.ceil((Date.parse(inc.station_deadline) - now) / 1000)) : null;
    const label = `${te("tier", inc.level_name)}${left != null ? " · " + t("map.seconds_left", { s: num(left) }) : inc.acked_at ? " · " + t("map.acked") : ""}`;
    if (el.textContent !== label) el.textContent = label;
    el.style.borderColor = tierOf(inc).colour;
    el.setAttribute("aria-label", `${t("incident.title")} ${te("type", inc.incident_type)}, ${label}`);
    el.classList.toggle("open", s.openIncident === inc.incident_id);
  }
  for (const [id, m] of markers) {
    if (!seen.has(id)) {
      m.remove();
      markers.delete(id);
    }
  }
}

export function fitToUnits() {
  const placed = [...store.get().units.values()].filter((u) => u.lat != null);
  if (!placed.length) return;
  const b = new maplibregl.LngLatBounds();
  for (const u of placed) b.extend([u.lon, u.lat]);
  map.fitBounds(b, { padding: 60, maxZoom: 15, duration: 0 });
}

export function flyTo(lat, lon, zoom) {
  map.easeTo({ center: [lon, lat], zoom: zoom ?? Math.max(map.getZoom(), 14) });
}

export function project(lat, lon) {
  const p = map.project([lon, lat]);
  const r = map.getCanvas().getBoundingClientRect();
  return [p.x + r.left, p.y + r.top];
}

// The colour drawn at a point, read from the frame as it is rendered (for the tests and the benchmark).
export function pixelAt(lat, lon) {
  return new Promise((resolve) => {
    map.once("render", () => {
      const gl = map.painter.context.gl;
      const p = map.project([lon, lat]);
      const r = window.devicePixelRatio || 1;
      const px = new Uint8Array(4);
      gl.readPixels(Math.round(p.x * r), Math.round(gl.drawingBufferHeight - p.y * r), 1, 1, gl.RGBA, gl.UNSIGNED_BYTE, px);
      resolve([...px]);
    });
    map.triggerRepaint();
  });
}

// The id of the unit drawn within `radius` pixels of a place (zoomed in past the clusters), or null: for the tests.
export function unitAt(lat, lon, radius) {
  return unitsLayer.hit(map.project([lon, lat]), radius);
}

export function mapInstance() {
  return map;
}
