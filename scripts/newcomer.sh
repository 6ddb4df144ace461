#!/usr/bin/env bash
# The newcomer check: what a new user does in their first hour, on a fresh clone of this repository's
# HEAD, with the commands copied out of README.md as they are written:
#   - "On a fresh machine": `npm ci && npm run demo` (not `npm test`: CI runs the
#     suite in a step of its own);
#   - "From the command line": `npx tokenbroker emulate`, then `npx tokenbroker token ap` with the
#     credentials the emulator prints (the `…` of the README);
#   - the Alternative Payments and SQLite quickstarts (TypeScript, run by Node with types stripped, against
#     that emulator; scripts/readme/redirect-fetch.mjs routes the providers' real hosts to it), the SQLite
#     one twice: the second run must take the stored token.
# Fails on a non-zero exit, and on any line of output that looks like an error or a warning (npm's
# `npm warn`/`npm error`, Node's warnings, a stack trace): the README shows none.
#
# Node: the README asks for 22.13 or newer. CI's own `node` may be older (this machine's is 20), so the
# Node of this checkout's `node` devDependency (24) goes first on PATH, as a newcomer's supported Node.
set -uo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
NODE_BIN="$ROOT/node_modules/node/bin"
if [ ! -x "$NODE_BIN/node" ]; then
  echo "newcomer: run npm ci in $ROOT first (it provides the pinned Node in node_modules/node)" >&2
  exit 1
fi
export PATH="$NODE_BIN:$PATH"
echo "newcomer: node $(node --version), npm $(npm --version)"

WORK="$(mktemp -d)"
EMULATOR_PID=""
cleanup() {
  if [ -n "$EMULATOR_PID" ]; then kill -TERM -- "-$EMULATOR_PID" 2>/dev/null; fi
  rm -rf "$WORK"
}
trap cleanup EXIT
# A user's own home and token cache (npm's download cache is kept: CI's npm ci has just filled it).
export npm_config_cache="${npm_config_cache:-$(npm config get cache)}"
export HOME="$WORK/home" XDG_CACHE_HOME="$WORK/home/.cache" npm_config_update_notifier=false
mkdir -p "$HOME"
unset CI # the README's commands as a person runs them

git clone --quiet "$ROOT" "$WORK/clone" || exit 1
cd "$WORK/clone" || exit 1
FAILED=0
LOG="$WORK/log.txt"

# Runs one command line in the clone, shows its output, fails on a bad exit or a warning/error line.
check() {
  local name="$1" command="$2"
  echo
  echo "--- newcomer: $command"
  bash --norc --noprofile -c "$command" >"$LOG" 2>&1
  local status=$?
  cat "$LOG"
  if [ "$status" -ne 0 ]; then
    echo "--- newcomer: FAILED ($name): exit $status" >&2
    FAILED=1
  elif grep -E -n '^npm (warn|WARN|error|ERR)|Warning:|warning:|DeprecationWarning|ExperimentalWarning|^\s+at .*\(|Error:|ERR_' "$LOG" >&2; then
    echo "--- newcomer: FAILED ($name): the lines above are errors or warnings the README does not show" >&2
    FAILED=1
  fi
}

# The commands of a ```sh block under a README heading: comments and `npm test` dropped.
sh_block() {
  node -e '
    const readme = require("fs").readFileSync("README.md", "utf8");
    const start = readme.indexOf("\n" + process.argv[1] + "\n");
    if (start < 0) { console.error("README has no heading " + process.argv[1]); process.exit(1); }
    const block = /```sh\n([\s\S]*?)```/.exec(readme.slice(start))[1];
    for (const line of block.split("\n")) {
      const command = line.replace(/\s+#.*$/, "").trim();
      if (command !== "" && command !== "npm test") console.log(command);
    }
  ' "$1"
}

while IFS= read -r command; do
  check "On a fresh machine" "$command"
done < <(sh_block "## On a fresh machine")

# From the command line: the emulator in the background, its printed exports, then the token command.
mapfile -t CLI < <(sh_block "### From the command line")
echo
echo "--- newcomer: ${CLI[0]} &"
# In a process group of its own: npx does not pass signals on to the emulator (docs/broker.md, "Signals"),
# so the whole group is stopped at the end.
setsid bash --norc --noprofile -c "exec ${CLI[0]} --port 0" >"$WORK/emulator.txt" 2>&1 &
EMULATOR_PID=$!
for _ in $(seq 100); do grep -q 'export TOKENBROKER_AUTOPAY_API_BASE_URL' "$WORK/emulator.txt" && break; sleep 0.2; done
if ! grep -q 'export TOKENBROKER_AUTOPAY_API_BASE_URL' "$WORK/emulator.txt"; then
  cat "$WORK/emulator.txt"
  echo "--- newcomer: FAILED: the emulator did not print its export lines" >&2
  exit 1
fi
eval "$(grep -E '^\s*export TOKENBROKER_' "$WORK/emulator.txt")"
# The README's `TOKENBROKER_AP_CLIENT_ID=… TOKENBROKER_AP_CLIENT_SECRET=…` are the values just exported.
check "From the command line" "$(sed -E 's/TOKENBROKER_[A-Z_]+=… //g' <<<"${CLI[1]}")"

# The quickstarts, unchanged, as TypeScript a user runs with Node in this clone.
export AP_CLIENT_ID="$TOKENBROKER_AP_CLIENT_ID" AP_CLIENT_SECRET="$TOKENBROKER_AP_CLIENT_SECRET"
node "$ROOT/scripts/readme/quickstart.mjs" "### Alternative Payments" >quickstart-ap.mts || exit 1
node "$ROOT/scripts/readme/quickstart.mjs" "### One host, many processes and restarts: SQLite" >quickstart-sqlite.mts || exit 1
STRIP="--experimental-strip-types --disable-warning=ExperimentalWarning --import $ROOT/scripts/readme/redirect-fetch.mjs"
check "Alternative Payments quickstart" "node $STRIP quickstart-ap.mts"
ap_token_requests() {
  node -e 'fetch(process.argv[1]).then((r) => r.json()).then((s) => console.log(s.providers["alternative-payments"].tokenRequests))' \
    "${TOKENBROKER_AP_BASE_URL%/alternative-payments}/_emulator/stats"
}
check "SQLite quickstart" "node $STRIP quickstart-sqlite.mts"
after_first="$(ap_token_requests)"
check "SQLite quickstart, again" "node $STRIP quickstart-sqlite.mts"
if [ "$(ap_token_requests)" != "$after_first" ]; then
  echo "--- newcomer: FAILED: the second SQLite run asked the provider again instead of taking the stored token" >&2
  FAILED=1
fi
if [ "$(stat -c %a .tokenbroker)" != 700 ]; then
  echo "--- newcomer: FAILED: .tokenbroker/ is not 0700" >&2
  FAILED=1
fi

echo
if [ "$FAILED" -ne 0 ]; then
  echo "newcomer: FAILED" >&2
  exit 1
fi
echo "newcomer: every README command ran as written, without an error or a warning"
