// Builds the dashboard's static assets into build/static, which Django's staticfiles finds
// before static/ (querybase/settings.py): the workspace's ES module entry becomes one
// minified bundle under the same name, every other script and style sheet is minified as it
// is, and collectstatic then gives each file a hashed name and a gzip/brotli copy.
//
// Heavy parts a first visit does not need are bundles of their own, loaded on first use:
// charts (Chart.js) and the SQL formatter. `node frontend/build.mjs --watch` rebuilds on save.
import * as esbuild from "esbuild";
import { readdirSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const source = join(root, "static", "querybase");
const out = join(root, "build", "static", "querybase");

// Bundles: output name → entry point. The workspace's modules import each other as
// "@querybase/…" (frontend/) and libraries from node_modules.
const BUNDLES = {
  workspace: "static/querybase/workspace.js",
  "workspace-format": "frontend/format.js",
  "workspace-grid": "frontend/grid.js",
  "workspace-charts": "frontend/charts.js",
};

const common = {
  absWorkingDir: root,
  minify: true,
  target: ["chrome109", "firefox115", "safari16"],
  legalComments: "none",
  logLevel: "warning",
};

const plain = readdirSync(source).filter(
  (name) => /\.(js|css)$/.test(name) && !Object.values(BUNDLES).includes(`static/querybase/${name}`)
);

const builds = [
  {
    ...common,
    entryPoints: Object.entries(BUNDLES).map(([name, entry]) => ({ in: join(root, entry), out: name })),
    bundle: true,
    format: "iife",
    outdir: out,
    alias: { "@querybase": "./frontend" },
  },
  { ...common, entryPoints: plain.map((name) => join(source, name)), bundle: false, outdir: out },
];

if (process.argv.includes("--watch")) {
  for (const options of builds) await (await esbuild.context(options)).watch();
  console.log("esbuild: watching static/querybase for changes");
} else {
  await Promise.all(builds.map((options) => esbuild.build(options)));
}
