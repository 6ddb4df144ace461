/**
 * `npm run bench:footprint` (also the last part of `npm run bench`): what an app pays to install and
 * import each entry point, side by side with the peers, in fresh projects built from the packed package.
 *
 * - packages installed by `npm install <it>` into an empty project, and `node_modules` on disk;
 * - import time and RSS added by `import()` of each entry point, in a fresh Node process each time,
 *   medians of ROUNDS runs with the subjects alternating (so machine noise falls on all alike);
 * - the reference for `import('tokenbroker')`: importing its own required dependencies (ky, zod,
 *   lru-cache) together, in the same project and the same rounds.
 *
 * Installs come from the npm registry (or npm's cache); nothing else leaves the machine.
 * Writes bench/results/footprint.{json,md} and the footprint part of docs/performance.md.
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const ROUNDS = Number(process.env.FOOTPRINT_ROUNDS ?? 15);
const work = mkdtempSync(join(tmpdir(), 'tb-footprint-'));
const rootPackage = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as {
  dependencies: Record<string, string>;
  devDependencies: Record<string, string>;
};
const dev = (name: string): string => `${name}@${rootPackage.devDependencies[name]}`;

function sh(command: string, args: readonly string[], cwd: string): string {
  return execFileSync(command, args, { cwd, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], maxBuffer: 64 * 1024 * 1024 });
}

console.log('footprint: packing tokenbroker');
sh('npm', ['run', 'build', '--silent'], ROOT);
const tarball = join(work, sh('npm', ['pack', '--silent', '--pack-destination', work], ROOT).trim().split('\n').pop()!);

interface Project {
  readonly name: string;
  readonly install: readonly string[];
  readonly dir: string;
}

function project(name: string, install: readonly string[]): Project {
  const dir = join(work, name.replace(/[^a-z0-9]+/gi, '-'));
  mkdirSync(dir);
  writeFileSync(join(dir, 'package.json'), JSON.stringify({ name: 'footprint-subject', private: true, type: 'module' }));
  sh('npm', ['install', '--no-audit', '--no-fund', '--loglevel=error', ...install], dir);
  return { name, install, dir };
}

function installed(dir: string): { packages: number; diskKiB: number } {
  const lines = sh('npm', ['ls', '--all', '--parseable'], dir).trim().split('\n');
  const diskKiB = Number(sh('du', ['-sk', 'node_modules'], dir).split('\t')[0]);
  return { packages: new Set(lines.slice(1)).size, diskKiB };
}

console.log('footprint: installing fresh projects');
const projects = [
  project('tokenbroker', [tarball]),
  project('tokenbroker + broker peers', [tarball, dev('fastify'), dev('prom-client')]),
  project('@badgateway/oauth2-client', [dev('@badgateway/oauth2-client')]),
  project('openid-client', [`openid-client@${rootPackage.dependencies['openid-client']}`]),
  project('@azure/msal-node', [dev('@azure/msal-node')]),
];
const [tb, tbBroker, badgateway, openid, msal] = projects as [Project, Project, Project, Project, Project];

/** One import to time: the code runs in a fresh process in `dir`. */
interface ImportSubject {
  readonly name: string;
  readonly dir: string;
  readonly code: string;
}

const load = (specifiers: readonly string[]) => `await Promise.all([${specifiers.map((s) => `import(${JSON.stringify(s)})`).join(', ')}])`;
const imports: ImportSubject[] = [
  { name: "import('tokenbroker')", dir: tb.dir, code: load(['tokenbroker']) },
  { name: 'ky + zod + lru-cache (its required dependencies)', dir: tb.dir, code: load(['ky', 'zod', 'lru-cache']) },
  // What an app pays before its first token: the import plus the schemas and modules made on first use.
  {
    name: "import('tokenbroker') + a manager with alternativePayments() and oauth2()",
    dir: tb.dir,
    code: `const { createTokenManager, alternativePayments, oauth2 } = await import('tokenbroker');
const tokens = createTokenManager({ providers: {
  ap: alternativePayments({ clientId: 'id', clientSecret: 'secret', environment: 'demo' }),
  bank: oauth2({ tokenUrl: 'https://auth.example.test/oauth2/token', clientId: 'id', clientSecret: 'secret' }),
} });
await tokens.close()`,
  },
  { name: "import('tokenbroker/emulator')", dir: tb.dir, code: load(['tokenbroker/emulator']) },
  { name: "import('tokenbroker/sqlite')", dir: tb.dir, code: load(['tokenbroker/sqlite']) },
  { name: "import('tokenbroker/redis')", dir: tb.dir, code: load(['tokenbroker/redis']) },
  { name: "import('tokenbroker/broker')", dir: tbBroker.dir, code: load(['tokenbroker/broker']) },
  { name: "import('@badgateway/oauth2-client')", dir: badgateway.dir, code: load(['@badgateway/oauth2-client']) },
  { name: "import('openid-client')", dir: openid.dir, code: load(['openid-client']) },
  { name: "import('@azure/msal-node')", dir: msal.dir, code: load(['@azure/msal-node']) },
];

const probe = (code: string) => `
const rss0 = process.memoryUsage().rss;
const t0 = performance.now();
${code};
const ms = performance.now() - t0;
console.log(JSON.stringify({ ms, rssBytes: process.memoryUsage().rss - rss0 }));`;

const samples = new Map<string, { ms: number[]; rss: number[] }>(imports.map((subject) => [subject.name, { ms: [], rss: [] }]));
console.log(`footprint: timing imports, ${ROUNDS} alternating rounds`);
for (let round = 0; round < ROUNDS; round++) {
  for (const subject of round % 2 === 0 ? imports : [...imports].reverse()) {
    const out = sh(process.execPath, ['--input-type=module', '-e', probe(subject.code)], subject.dir);
    const { ms, rssBytes } = JSON.parse(out.trim().split('\n').pop()!) as { ms: number; rssBytes: number };
    samples.get(subject.name)!.ms.push(ms);
    samples.get(subject.name)!.rss.push(rssBytes);
  }
}
const median = (values: readonly number[]) => {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)]!;
};

const installs = projects.map((p) => ({ name: p.name, ...installed(p.dir) }));
const timings = imports.map((subject) => ({
  name: subject.name,
  importMs: median(samples.get(subject.name)!.ms),
  rssMiB: median(samples.get(subject.name)!.rss) / 1024 / 1024,
}));
const main = timings[0]!;
const deps = timings[1]!;
const ratio = main.importMs / deps.importMs;
const result = {
  date: new Date().toISOString(),
  node: process.version,
  rounds: ROUNDS,
  installs,
  timings,
  importRatio: ratio,
  importTarget: 1.25,
  importTargetMet: ratio <= 1.25,
  packagesTarget: 8,
  packagesTargetMet: installs[0]!.packages <= 8,
};

const markdown = [
  `Measured ${result.date.slice(0, 10)} on Node ${result.node}; medians of ${ROUNDS} alternating rounds, a fresh process per import.`,
  '',
  '| `npm install` into an empty project | packages | `node_modules` |',
  '|---|--:|--:|',
  ...installs.map((row) => `| ${row.name} | ${row.packages} | ${(row.diskKiB / 1024).toFixed(1)} MB |`),
  '',
  '| import | time | RSS added |',
  '|---|--:|--:|',
  ...timings.map((row) => `| ${row.name} | ${row.importMs.toFixed(1)} ms | +${row.rssMiB.toFixed(1)} MB |`),
  '',
  `\`import('tokenbroker')\` takes **${ratio.toFixed(2)}×** the import of its own required dependencies (target ≤ 1.25×: ${result.importTargetMet ? 'met' : 'missed'}); ` +
    `\`npm install tokenbroker\` installs **${installs[0]!.packages}** packages, tokenbroker included (target ≤ 8: ${result.packagesTargetMet ? 'met' : 'missed'}).`,
  '',
].join('\n');

mkdirSync(join(ROOT, 'bench/results'), { recursive: true });
writeFileSync(join(ROOT, 'bench/results/footprint.json'), `${JSON.stringify(result, null, 2)}\n`);
writeFileSync(join(ROOT, 'bench/results/footprint.md'), `# Footprint\n\nGenerated by \`npm run bench:footprint\` (bench/footprint.ts).\n\n${markdown}`);
const docPath = join(ROOT, 'docs/performance.md');
const START = '<!-- bench:footprint:start -->';
const END = '<!-- bench:footprint:end -->';
const doc = readFileSync(docPath, 'utf8');
const from = doc.indexOf(START);
const to = doc.indexOf(END);
if (from >= 0 && to > from) {
  writeFileSync(
    docPath,
    `${doc.slice(0, from)}${START}\n<!-- Generated by npm run bench:footprint; edits here are overwritten. -->\n\n${markdown}${END}${doc.slice(to + END.length)}`,
  );
}
console.log(markdown);
rmSync(work, { recursive: true, force: true });
