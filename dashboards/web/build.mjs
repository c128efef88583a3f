// Builds the console: src/main.js (ES modules, MapLibre GL JS, Preact+htm, the land layer from world-atlas)
// into ../static/console/ as one script and one stylesheet, plus the shipped alert sound. No CDN: everything
// the page loads comes from the app. Run by scripts/install.sh and by `make demo` when the build is missing.
import { build } from "esbuild";
import { copyFileSync, mkdirSync } from "node:fs";
import { dirname, join } from "node:path";
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
