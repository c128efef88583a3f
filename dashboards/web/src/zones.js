// Indonesia's three time zones by province (the first two digits of a station or regency code).
// WIB UTC+7: Sumatra, Java, West and Central Kalimantan; WITA UTC+8: Bali, Nusa Tenggara, South, East and
// North Kalimantan, Sulawesi; WIT UTC+9: Maluku and Papua. Mabes (code "00" or none) is in Jakarta: WIB.
const WIB = { name: "WIB", tz: "Asia/Jakarta" };
const WITA = { name: "WITA", tz: "Asia/Makassar" };
const WIT = { name: "WIT", tz: "Asia/Jayapura" };

const WITA_PROVINCES = new Set(["51", "52", "53", "63", "64", "65", "71", "72", "73", "74", "75", "76"]);

export function zoneOf(code) {
  const p = (code || "").slice(0, 2);
  if (WITA_PROVINCES.has(p)) return WITA;
  if (p === "81" || p === "82" || p[0] === "9") return WIT;
  return WIB;
}
