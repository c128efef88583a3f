// One store for the whole page. Plain state plus subscribers; the units and incidents are Maps mutated in
// place by the live feed (10,000 units would otherwise be copied every frame) with a version number that
// tells views something changed. What a person is editing (a form, a chosen disposition) never lives here:
// it stays in the component that edits it, so a live frame cannot reset it.
export function createStore(initial) {
  let state = initial;
  const subs = new Set();
  return {
    get: () => state,
    set(patch) {
      state = { ...state, ...(typeof patch === "function" ? patch(state) : patch) };
      for (const f of subs) f(state);
    },
    subscribe(f) {
      subs.add(f);
      return () => subs.delete(f);
    },
  };
}

export const store = createStore({
  token: sessionStorage.getItem("patroli.token"),
  user: null,
  config: null,
  meta: null,
  stations: [],
  units: new Map(),
  incidents: new Map(),
  liveVersion: 0, // bumped by every applied frame
  conn: "offline", // offline | connecting | live | reconnecting
  offsetMs: 0, // server clock minus ours
  staleS: 120,
  heartbeatS: 10,
  workspace: null,
  selectedUnit: null,
  openIncident: null,
  picking: null, // a function the next map click gives its point to
  announcement: "",
  replayRequest: null, // {units, at}: the trail's link to the replay at that moment
  trailIncident: null, // an incident whose trail to open
});

export function serverNow() {
  return Date.now() + store.get().offsetMs;
}
