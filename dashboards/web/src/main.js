// Boot: log in (or reuse the session's token), load what the page needs once, start the live feed and the map.
import "maplibre-gl/dist/maplibre-gl.css";
import "./console.css";
import { render } from "preact";
import { html } from "./ui/html.js";
import { App, Login } from "./ui/App.js";
import { store } from "./store.js";
import { api, setUnauthorizedHandler } from "./api.js";
import { connect, disconnect, dropConnection, onFrame, receivedDelays } from "./live.js";
import { createMap, fitToUnits, project, pixelAt, unitAt, drawnDelays, mapInstance, STATUS_COLOURS, STALE_FILL, ARROW_FILL, SELECTED_RING, LAND, SEA } from "./map.js";
import { missing, setLanguage, language } from "./i18n.js";

const ui = document.getElementById("ui");
let mapStarted = false;

function showLogin() {
  disconnect();
  sessionStorage.removeItem("patroli.token");
  store.set({ token: null, user: null });
  render(html`<${Login} onLogin=${(doc) => start(doc.token, doc.user)} />`, ui);
}

async function logout() {
  try {
    await api("/api/v1/auth/logout", { method: "POST" });
  } catch (e) {
    /* logged out either way */
  }
  showLogin();
}

async function start(token, user) {
  sessionStorage.setItem("patroli.token", token);
  store.set({ token, user });
  const [config, meta, stations] = await Promise.all([api("/api/v1/map/config"), api("/api/v1/console/meta"), api("/api/v1/stations")]);
  Object.assign(config, { outlines: meta.outlines, basemap: meta.basemap });
  store.set({ config, meta, stations, staleS: config.stale_s, heartbeatS: config.heartbeat_s });
  render(html`<${App} onLogout=${logout} />`, ui);
  if (!mapStarted) {
    mapStarted = true;
    createMap(document.getElementById("map"), config);
    let fitted = false;
    onFrame((msg) => {
      if (msg.type === "snapshot" && !fitted) {
        fitted = true;
        const m = mapInstance();
        if (m.loaded()) fitToUnits();
        else m.once("load", fitToUnits);
      }
    });
  }
  connect();
}

setUnauthorizedHandler(showLogin);
document.documentElement.lang = language();

// For people debugging, the tests and the benchmark.
window.patroli = { store, project, pixelAt, unitAt, drawnDelays, receivedDelays, missing, setLanguage, dropConnection, colours: { status: STATUS_COLOURS, stale: STALE_FILL, arrow: ARROW_FILL, selected: SELECTED_RING, land: LAND, sea: SEA }, map: mapInstance };

const token = store.get().token;
if (token) api("/api/v1/auth/me").then((user) => start(token, user), showLogin);
else showLogin();
