// The page's words: Bahasa Indonesia first, English by the switch in the header. Every label and every enum
// shown to people is a key in strings/id.json and strings/en.json (a test checks both cover every key the
// sources use and every enum value the server has). Times are shown in the station's zone (WIB, WITA, WIT),
// numbers and dates in the language's format. A key missing at run time is shown as the key and remembered in
// `missing`, which the browser tests read.
import id from "./strings/id.json";
import en from "./strings/en.json";
import { zoneOf } from "./zones.js";

export const TABLES = { id, en };
export const LOCALES = { id: "id-ID", en: "en-GB" };
export const missing = new Set();

let lang = localStorage.getItem("patroli.lang") === "en" ? "en" : "id";
const listeners = new Set();

export function language() {
  return lang;
}

export function setLanguage(next) {
  lang = next === "en" ? "en" : "id";
  localStorage.setItem("patroli.lang", lang);
  document.documentElement.lang = lang;
  for (const f of listeners) f(lang);
}

export function onLanguage(f) {
  listeners.add(f);
  return () => listeners.delete(f);
}

export function t(key, params) {
  let s = TABLES[lang][key];
  if (s === undefined) {
    missing.add(`${lang}:${key}`);
    s = key;
  }
  if (params) s = s.replace(/\{(\w+)\}/g, (m, k) => (params[k] !== undefined ? String(params[k]) : m));
  return s;
}

// An enum value shown to people: status.available, category.report, tier.polres …
export function te(kind, value) {
  return value == null || value === "" ? "–" : t(`${kind}.${value}`);
}

export function num(n, digits = 0) {
  return new Intl.NumberFormat(LOCALES[lang], { maximumFractionDigits: digits, minimumFractionDigits: digits }).format(n);
}

// A time in the zone of `stationCode` (the viewer's own station when not given), with the zone's name.
export function time(iso, stationCode, withDate = false) {
  if (!iso) return "–";
  const zone = zoneOf(stationCode);
  const opts = { timeZone: zone.tz, hour: "2-digit", minute: "2-digit", second: "2-digit", hour12: false };
  if (withDate) Object.assign(opts, { day: "numeric", month: "short", year: "numeric" });
  return `${new Intl.DateTimeFormat(LOCALES[lang], opts).format(new Date(iso))} ${zone.name}`;
}
