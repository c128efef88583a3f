// The one table from an incident's tier (its level_name: polsek, polres, polda, mabes) to how the console
// shows it. Whatever tier the server sends is shown through this table; an unknown one falls back to grey.
export const TIERS = {
  polsek: { colour: "#2bb3a3", rank: 0 },
  polres: { colour: "#ff4d4d", rank: 1 },
  polda: { colour: "#ff9f1a", rank: 2 },
  mabes: { colour: "#ff3df5", rank: 3 },
};
export const UNKNOWN_TIER = { colour: "#9aa4b0", rank: 9 };

export function tierOf(incident) {
  return TIERS[incident.level_name] || UNKNOWN_TIER;
}
