// Builds the console: src/main.js (ES modules, MapLibre GL JS, Preact+htm, the land layer from world-atlas)
// into ../static/console/ as one script and one stylesheet, plus the shipped alert sound. No CDN: everything
// the page loads comes from the app. Run by scripts/install.sh and by `make demo` when the build is missing.
import { build } from "esbuild";
import { createHash } from "node:crypto";
import { copyFileSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { basename, dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));
const out = join(here, "..", "static", "console");
mkdirSync(out, { recursive: true });

await build({
  entryPoints: { console: join(here, "src", "main.js") },
  bundle: true,
  format: "esm",
  target: ["es2022"],
  minify: true,
  sourcemap: true,
  outdir: out,
  loader: { ".json": "json" },
  legalComments: "linked",
  logLevel: "warning",
});
copyFileSync(join(here, "assets", "alert.wav"), join(out, "alert.wav"));
copyFileSync(join(here, "index.html"), join(out, "index.html"));
console.log(`console built into ${out}`);

// The officer's page (/m): its own entry, small (Preact, htm, the string tables); MapLibre and PMTiles in a
// chunk loaded only when an offer is shown. Its web manifest and service worker (stamped with the build's
// hash, so a new build replaces the cached shell) and icon beside it.
const officer = join(here, "..", "static", "officer");
mkdirSync(officer, { recursive: true });
const officerBuild = await build({
  entryPoints: { officer: join(here, "src", "officer", "main.js") },
  metafile: true,
  bundle: true,
  splitting: true,
  format: "esm",
  target: ["es2022"],
  minify: true,
  sourcemap: true,
  outdir: officer,
  loader: { ".json": "json" },
  legalComments: "linked",
  logLevel: "warning",
});
const stamp = createHash("sha256").update(readFileSync(join(officer, "officer.js"))).update(readFileSync(join(officer, "officer.css"))).digest("hex").slice(0, 12);
// The chunks officer.js imports statically (code splitting shares some with the map's chunk) are part of the
// shell: without them the page cannot start offline.
const entryOut = Object.entries(officerBuild.metafile.outputs).find(([, o]) => o.entryPoint && o.entryPoint.endsWith("main.js"));
const chunks = entryOut[1].imports.filter((i) => i.kind === "import-statement").map((i) => "/static/officer/" + basename(i.path));
const sw = readFileSync(join(here, "officer", "sw.js"), "utf8").replace("__BUILD__", stamp).replace("[/* __CHUNKS__ */]", JSON.stringify(chunks));
writeFileSync(join(officer, "sw.js"), sw);
for (const name of ["index.html", "manifest.webmanifest", "icon.svg"]) copyFileSync(join(here, "officer", name), join(officer, name));
console.log(`officer's page built into ${officer}`);
