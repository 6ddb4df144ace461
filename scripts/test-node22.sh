#!/usr/bin/env bash
# Runs the test suite on Node 22, the minimum in "engines". Node 22 comes from the npm registry's
# `node` package, pinned by scripts/node22/package-lock.json; extra arguments go to vitest.
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
RUNTIME="$ROOT/scripts/node22"
if [ ! -x "$RUNTIME/node_modules/.bin/node" ]; then
  (cd "$RUNTIME" && npm ci --no-audit --no-fund --loglevel=error)
fi
NODE22="$RUNTIME/node_modules/.bin/node"
echo "node for this run: $("$NODE22" --version)"
cd "$ROOT"
# Node 22 first on PATH, so child processes the tests spawn run on it too.
PATH="$RUNTIME/node_modules/.bin:$PATH" exec "$NODE22" "$ROOT/node_modules/vitest/vitest.mjs" run "$@"
