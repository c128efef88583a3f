// The offer's small map, in a chunk of its own (loaded only when an offer or job has a point): MapLibre GL JS
// with the site's offline basemap (PATROLI_WEB_BASEMAP_PMTILES) or tile server where one is configured, and
// otherwise a plain background. On it the incident, the unit's last position and the line between them,
// framed together. No labels (they would need glyphs from a server).
import "maplibre-gl/dist/maplibre-gl.css";
import maplibregl from "maplibre-gl";
import { Protocol } from "pmtiles";

let registered = false;

function baseLayers(map) {
  const sources = {};
  const layers = [{ id: "bg", type: "background", paint: { "background-color": "#1f2b36" } }];
  const b = map && map.basemap;
  if (b && b.kind === "pmtiles") {
    if (!registered) {
      maplibregl.addProtocol("pmtiles", new Protocol().tile);
      registered = true;
    }
    const url = `pmtiles://${location.origin}${b.url}`;
    if (b.tile_type === "mvt") {
      sources.basemap = { type: "vector", url };
      layers.push(
        { id: "water", type: "fill", source: "basemap", "source-layer": "water", paint: { "fill-color": "#0c1621" } },
        { id: "roads", type: "line", source: "basemap", "source-layer": "roads", paint: { "line-color": "#5a6b80", "line-width": 1.2 } },
      );
    } else {
      sources.basemap = { type: "raster", url, tileSize: 256 };
      layers.push({ id: "basemap", type: "raster", source: "basemap" });
    }
  } else if (map && map.tile_url) {
    sources.basemap = { type: "raster", tiles: [map.tile_url], tileSize: 256, attribution: map.tile_attribution };
    layers.push({ id: "basemap", type: "raster", source: "basemap" });
  }
  return { sources, layers };
}

export function showJob(el, job, position, mapSources) {
  const { sources, layers } = baseLayers(mapSources);
  const points = [{ type: "Feature", properties: { kind: "incident" }, geometry: { type: "Point", coordinates: [job.lon, job.lat] } }];
  const features = [...points];
  if (position) {
    features.push({ type: "Feature", properties: { kind: "unit" }, geometry: { type: "Point", coordinates: [position.lon, position.lat] } });
    features.push({ type: "Feature", properties: { kind: "route" }, geometry: { type: "LineString", coordinates: [[position.lon, position.lat], [job.lon, job.lat]] } });
  }
  sources.job = { type: "geojson", data: { type: "FeatureCollection", features } };
  layers.push(
    { id: "route", type: "line", source: "job", filter: ["==", ["get", "kind"], "route"], paint: { "line-color": "#ffd84d", "line-width": 2, "line-dasharray": [2, 2] } },
    { id: "unit", type: "circle", source: "job", filter: ["==", ["get", "kind"], "unit"], paint: { "circle-radius": 8, "circle-color": "#4aa3ff", "circle-stroke-color": "#fff", "circle-stroke-width": 2 } },
    { id: "incident", type: "circle", source: "job", filter: ["==", ["get", "kind"], "incident"], paint: { "circle-radius": 9, "circle-color": "#ff4d4d", "circle-stroke-color": "#fff", "circle-stroke-width": 2 } },
  );
  const map = new maplibregl.Map({ container: el, style: { version: 8, sources, layers }, center: [job.lon, job.lat], zoom: 15, attributionControl: false, dragRotate: false });
  map.touchZoomRotate.disableRotation();
  if (position) {
    const bounds = new maplibregl.LngLatBounds([job.lon, job.lat], [job.lon, job.lat]).extend([position.lon, position.lat]);
    map.fitBounds(bounds, { padding: 30, maxZoom: 16, duration: 0 });
  }
  el.dataset.ready = "1";
  return () => map.remove();
}
