// The officer's page's service worker: it caches the page shell only (the HTML, its script, its stylesheet,
// the icon and the manifest), so the page opens with no network and says it is offline. API answers are never
// cached: an offer, a status or an SOS must come from the server or not at all. Network first, so a new build
// is taken as soon as it is reachable; BUILD (stamped by build.mjs) names the cache, and older caches go.
const BUILD = "__BUILD__";
const CACHE = "patroli-m-" + BUILD;
const CHUNKS = [/* __CHUNKS__ */]; // what officer.js imports, named by their hashes (build.mjs fills this in)
const SHELL = ["/m/", "/m/manifest.webmanifest", "/static/officer/officer.js", "/static/officer/officer.css", "/static/officer/icon.svg", ...CHUNKS];

self.addEventListener("install", (event) => {
  event.waitUntil(caches.open(CACHE).then((c) => c.addAll(SHELL)).then(() => self.skipWaiting()));
});

self.addEventListener("activate", (event) => {
  event.waitUntil(
    caches
      .keys()
      .then((keys) => Promise.all(keys.filter((k) => k.startsWith("patroli-m-") && k !== CACHE).map((k) => caches.delete(k))))
      .then(() => self.clients.claim()),
  );
});

self.addEventListener("fetch", (event) => {
  const url = new URL(event.request.url);
  if (event.request.method !== "GET" || url.origin !== self.location.origin || !SHELL.includes(url.pathname)) return;
  event.respondWith(
    fetch(event.request)
      .then((r) => {
        if (r.ok) {
          const copy = r.clone();
          caches.open(CACHE).then((c) => c.put(event.request, copy));
        }
        return r;
      })
      .catch(() => caches.match(event.request)),
  );
});
