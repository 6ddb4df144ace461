// Records every module a Node process loads (ESM and CommonJS, built-ins included) and, at exit, writes
// the list of packages and built-ins, and the files loaded from outside node_modules (relative to the
// working directory: from the repository root, this package's own dist/ files), to the file named by
// LOAD_PROBE_OUT as JSON:
//   { "packages": ["ky", "zod", …], "builtins": ["node:crypto", …], "files": ["dist/index.js", …] }
// Use: LOAD_PROBE_OUT=/tmp/loads.json node --import ./scripts/load-probe.mjs <script or -e code>
// Needs module.registerHooks (Node >= 22.15). Used by the footprint tests and scripts/check-package.sh.
import { writeFileSync } from 'node:fs';
import { registerHooks } from 'node:module';
import { relative } from 'node:path';
import { fileURLToPath } from 'node:url';

const urls = new Set();
registerHooks({
  resolve(specifier, context, nextResolve) {
    const resolved = nextResolve(specifier, context);
    urls.add(resolved.url);
    return resolved;
  },
});

process.on('exit', () => {
  const packages = new Set();
  const builtins = new Set();
  const files = new Set();
  for (const url of urls) {
    if (url.startsWith('node:')) builtins.add(url);
    const match = /\/node_modules\/((?:@[^/]+\/)?[^/]+)\//.exec(url);
    if (match) packages.add(match[1]);
    else if (url.startsWith('file:')) files.add(relative(process.cwd(), fileURLToPath(url)));
  }
  const out = process.env.LOAD_PROBE_OUT;
  if (out) writeFileSync(out, JSON.stringify({ packages: [...packages].sort(), builtins: [...builtins].sort(), files: [...files].sort() }));
});
