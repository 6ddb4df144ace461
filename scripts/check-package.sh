#!/usr/bin/env bash
# Package checks: build, publint, arethetypeswrong, the contents and size of `npm pack`, and a fresh
# consumer project that installs the tarball, type-checks against it and runs it.
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
cd "$ROOT"
BIN="$ROOT/node_modules/.bin"

echo "== build"
npm run build --silent

echo "== publint"
"$BIN/publint" --strict

echo "== arethetypeswrong"
# ESM-only by design (engines: node >= 22), so the CommonJS-resolution profiles do not apply.
"$BIN/attw" --pack . --profile esm-only

echo "== npm pack"
WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT
TARBALL="$(npm pack --silent --pack-destination "$WORK" | tail -1)"
TARBALL="$WORK/$TARBALL"
tar -tzf "$TARBALL" | sed 's|^package/||' | sort > "$WORK/contents.txt"
echo "files: $(wc -l < "$WORK/contents.txt"), packed size: $(du -k "$TARBALL" | cut -f1) KiB, unpacked: $(tar -xzf "$TARBALL" -O | wc -c | awk '{printf "%.0f KiB", $1/1024}')"
if grep -E '^(test|tests|bench|demo|examples|scripts|docs|\.ci|src)/|\.test\.|fixture|\.env|\.pem$|\.key$|tsbuildinfo' "$WORK/contents.txt"; then
  echo "npm pack contains files that must not ship (above)" >&2
  exit 1
fi
for required in package.json README.md LICENSE CHANGELOG.md dist/index.js dist/index.d.ts dist/apps/emulator/index.js dist/apps/emulator/index.d.ts dist/stores/redis/index.js dist/stores/redis/index.d.ts dist/stores/sqlite/index.js dist/stores/sqlite/index.d.ts dist/apps/cli/main.js; do
  grep -qx "$required" "$WORK/contents.txt" || { echo "npm pack is missing $required" >&2; exit 1; }
done
if tar -xzf "$TARBALL" -O | grep -a -E 'tb-test-secret|BEGIN (RSA |EC )?PRIVATE KEY' >/dev/null; then
  echo "npm pack contains something that looks like a secret" >&2
  exit 1
fi

echo "== consumer project"
CONSUMER="$WORK/consumer"
mkdir -p "$CONSUMER"
cd "$CONSUMER"
cat > package.json <<'JSON'
{ "name": "tokenbroker-consumer", "private": true, "type": "module" }
JSON
npm install --no-audit --no-fund --loglevel=error "$TARBALL" "typescript@$(node -p "require('$ROOT/node_modules/typescript/package.json').version")" "@types/node@$(node -p "require('$ROOT/node_modules/@types/node/package.json').version")"
cat > tsconfig.json <<'JSON'
{ "compilerOptions": { "strict": true, "module": "NodeNext", "moduleResolution": "NodeNext", "target": "ES2023", "noEmit": true, "types": ["node"] }, "include": ["consumer.ts"] }
JSON
cat > consumer.ts <<'TS'
import { createTokenManager, alternativePayments, autopay, oauth2, defineProvider, memoryStore, TokenError, type Token } from 'tokenbroker';
import { startEmulator, SAMPLE_CLIENTS } from 'tokenbroker/emulator';
import { sqliteStore, type SqliteTokenStore } from 'tokenbroker/sqlite';

const emulator = await startEmulator();
const shared: SqliteTokenStore = sqliteStore({ path: `${process.cwd()}/state/tokens.sqlite` });
await shared.close();
const ap = SAMPLE_CLIENTS.find((client) => client.provider === 'alternative-payments')!;
const tokens = createTokenManager({
  providers: { ap: alternativePayments({ clientId: ap.clientId, clientSecret: ap.clientSecret, baseUrl: emulator.alternativePaymentsBaseUrl }) },
  store: memoryStore({ max: 100 }),
});
const token: Token = await tokens.getToken('ap');
const unused = [autopay, oauth2, defineProvider];
console.log(`consumer ok: ${token.tokenType} token, expires in ${Math.round((token.expiresAt - Date.now()) / 1000)} s, ${unused.length} more factories, TokenError is ${typeof TokenError}`);
await tokens.close();
await emulator.close();
TS
"$ROOT/node_modules/.bin/tsc" -p tsconfig.json
cp consumer.ts consumer.mts
# Run the consumer as users would: Node strips the types of the .mts file (Node >= 22.18 / 23.6).
node --experimental-strip-types --no-warnings consumer.mts
echo "== a fresh project with only the tarball"
LEAN="$WORK/lean"
mkdir -p "$LEAN"
cd "$LEAN"
echo '{ "name": "tokenbroker-lean", "private": true, "type": "module" }' > package.json
npm install --no-audit --no-fund --loglevel=error "$TARBALL"
PACKAGES="$(npm ls --all --parseable | tail -n +2 | sort -u | wc -l)"
echo "npm install <tarball> installed $PACKAGES packages, tokenbroker included: $(npm ls --all --parseable | tail -n +2 | sed 's|.*/node_modules/||' | sort -u | tr '\n' ' ')"
if [ "$PACKAGES" -gt 8 ]; then echo "more than 8 packages" >&2; exit 1; fi
LOAD_PROBE_OUT="$WORK/loads.json" node --import "$ROOT/scripts/load-probe.mjs" -e "await import('tokenbroker')"
echo "import('tokenbroker') loads: $(node -p "require('$WORK/loads.json').packages.join(' ')")"
node -e "
  const { packages, builtins } = require('$WORK/loads.json');
  const heavy = packages.filter((name) => /^(fastify|prom-client|ioredis|commander|openid-client|jose|oauth4webapi|@opentelemetry\/.*)$/.test(name));
  if (heavy.length > 0 || builtins.includes('node:sqlite')) { console.error('import(\'tokenbroker\') loaded', heavy, builtins.filter((b) => b === 'node:sqlite')); process.exit(1); }
"

echo "== the README quickstarts, unchanged, against the emulator"
node node_modules/tokenbroker/dist/apps/cli/main.js emulate --port 0 > "$WORK/emulator.txt" 2>&1 &
EMULATOR_PID=$!
trap 'kill "$EMULATOR_PID" 2>/dev/null; rm -rf "$WORK"' EXIT
for _ in $(seq 50); do grep -q 'export TOKENBROKER_AUTOPAY_API_BASE_URL' "$WORK/emulator.txt" && break; sleep 0.1; done
eval "$(grep -E '^\s*export TOKENBROKER_' "$WORK/emulator.txt")"
export AP_CLIENT_ID="$TOKENBROKER_AP_CLIENT_ID" AP_CLIENT_SECRET="$TOKENBROKER_AP_CLIENT_SECRET"
export AUTOPAY_CLIENT_ID="$TOKENBROKER_AUTOPAY_CLIENT_ID" AUTOPAY_CLIENT_SECRET="$TOKENBROKER_AUTOPAY_CLIENT_SECRET"
for HEADING in "### Alternative Payments" "### Autopay"; do
  node "$ROOT/scripts/readme/quickstart.mjs" "$HEADING" > quickstart.mts
  timeout 30 node --experimental-strip-types --no-warnings --import "$ROOT/scripts/readme/redirect-fetch.mjs" quickstart.mts
  echo "README $HEADING quickstart: ran, exit 0"
done
kill "$EMULATOR_PID"
echo "== package checks passed"
