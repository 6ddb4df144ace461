/**
 * Issue 23: the README's snippets run as they are written. The Alternative Payments, Autopay and SQLite
 * quickstarts, docs/getting-started.md's first program and docs/sqlite.md's example are copied out of the
 * Markdown unchanged and run by Node in a fresh project folder (mode 0755, as a real one is) where
 * `tokenbroker` is installed, against the emulator: requests to the providers' real hosts are routed to it
 * by a preload (scripts/readme/redirect-fetch.mjs), the only thing added. Each must exit 0 and print nothing
 * on stderr — no error, no warning. (The oauth2 and Redis snippets need a real issuer or a Redis at a fixed
 * address: they are not run here.)
 */
import { execFile } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { SAMPLE_CLIENTS, startEmulator, type Emulator } from 'tokenbroker/emulator';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const root = fileURLToPath(new URL('..', import.meta.url));
const read = (path: string) => readFileSync(join(root, path), 'utf8');

/** The first code block of `lang` under `heading` (a whole line, e.g. `### Autopay`). */
function block(markdown: string, heading: string, lang: string): string {
  const start = markdown.startsWith(`${heading}\n`) ? 0 : markdown.indexOf(`\n${heading}\n`);
  if (start < 0) throw new Error(`no heading ${heading}`);
  const found = new RegExp(`\`\`\`${lang}\\n([\\s\\S]*?)\`\`\``).exec(markdown.slice(start));
  if (found === null) throw new Error(`no ${lang} block under ${heading}`);
  return found[1]!;
}

let emulator: Emulator;
let project: string;
let env: Record<string, string>;

beforeAll(async () => {
  emulator = await startEmulator({ ban: false });
  project = mkdtempSync(join(tmpdir(), 'tokenbroker-readme-'));
  chmodSync(project, 0o755); // a normal project folder, open to others for reading
  mkdirSync(join(project, 'node_modules'));
  symlinkSync(root, join(project, 'node_modules', 'tokenbroker'), 'dir');
  writeFileSync(join(project, 'package.json'), '{ "name": "readme-check", "private": true, "type": "module" }\n');
  const [ap, autopay] = SAMPLE_CLIENTS;
  env = {
    PATH: process.env.PATH ?? '',
    HOME: project,
    AP_CLIENT_ID: ap!.clientId,
    AP_CLIENT_SECRET: ap!.clientSecret,
    AUTOPAY_CLIENT_ID: autopay!.clientId,
    AUTOPAY_CLIENT_SECRET: autopay!.clientSecret,
    // Where redirect-fetch.mjs sends the providers' real hosts (the names `tokenbroker emulate` prints).
    TOKENBROKER_AP_BASE_URL: emulator.alternativePaymentsBaseUrl,
    TOKENBROKER_AUTOPAY_TOKEN_URL: emulator.autopayTokenUrl,
    TOKENBROKER_AUTOPAY_API_BASE_URL: emulator.autopayApiBaseUrl,
  };
});
afterAll(async () => {
  await emulator?.close();
  if (project !== undefined) rmSync(project, { recursive: true, force: true });
});

/** Runs `code` as the file `name` in the project, as a user would with Node (TypeScript: types stripped). */
function runSnippet(name: string, code: string): Promise<{ code: number | null; stdout: string; stderr: string }> {
  writeFileSync(join(project, name), code);
  // Type stripping is still marked experimental on Node 22; that one notice is not the README's doing.
  const flags = name.endsWith('.mts') ? ['--experimental-strip-types', '--disable-warning=ExperimentalWarning'] : [];
  const preload = ['--import', join(root, 'scripts/readme/redirect-fetch.mjs')];
  return new Promise((resolve) => {
    execFile(process.execPath, [...flags, ...preload, name], { cwd: project, env, encoding: 'utf8', timeout: 60_000 }, (error, stdout, stderr) =>
      resolve({ code: error === null ? 0 : typeof error.code === 'number' ? error.code : null, stdout, stderr }),
    );
  });
}

const apTokenRequests = () => emulator.stats().providers['alternative-payments'].tokenRequests;

describe('README.md snippets, as written', () => {
  it.each(['### Alternative Payments', '### Autopay'])(
    '%s runs, exit 0, nothing on stderr',
    async (heading) => {
      const result = await runSnippet(`${heading.slice(4).replaceAll(' ', '-').toLowerCase()}.mts`, block(read('README.md'), heading, 'ts'));
      expect(result).toMatchObject({ code: 0, stderr: '' });
    },
    90_000,
  );

  it('the SQLite snippet runs in a 0755 project folder: .tokenbroker/ is created 0700, and a second run reuses the token', async () => {
    const code = block(read('README.md'), '### One host, many processes and restarts: SQLite', 'ts');
    const before = apTokenRequests();
    expect(await runSnippet('sqlite.mts', code)).toMatchObject({ code: 0, stderr: '' });
    expect(apTokenRequests()).toBe(before + 1);
    expect(statSync(join(project, '.tokenbroker')).mode & 0o777).toBe(0o700);
    expect(statSync(join(project, '.tokenbroker', 'tokens.sqlite')).mode & 0o777).toBe(0o600);
    expect(await runSnippet('sqlite.mts', code)).toMatchObject({ code: 0, stderr: '' });
    expect(apTokenRequests()).toBe(before + 1); // the second run took the stored token
  }, 90_000);
});

describe('what the README says of Node.js', () => {
  it('names the version of engines (issue 23: it said 22 where engines says 22.13)', () => {
    const engines = (JSON.parse(read('package.json')) as { engines: { node: string } }).engines.node;
    expect(engines).toMatch(/^>=\d+\.\d+$/);
    expect(read('README.md')).toContain(`Node.js ${engines.slice(2)} or newer`);
    expect(read('docs/getting-started.md')).toContain(`Node.js **${engines.slice(2)}** or newer`);
  });
});

describe('docs snippets, as written', () => {
  it("docs/getting-started.md's first-token.mjs prints what the page shows", async () => {
    const result = await runSnippet('first-token.mjs', block(read('docs/getting-started.md'), '## Your first token, offline', 'js'));
    expect(result).toMatchObject({ code: 0, stderr: '' });
    expect(result.stdout).toMatch(
      /^token: Bearer, expires \S+\ncustomers on the first page: 5, more: true\n101 getToken calls, 1 token issued, 1 token request sent\n$/,
    );
  }, 90_000);

  it("docs/sqlite.md's example runs in a 0755 project folder", async () => {
    const result = await runSnippet('sqlite-doc.mts', block(read('docs/sqlite.md'), '# One host, many processes: the SQLite store', 'ts'));
    expect(result).toMatchObject({ code: 0, stderr: '' });
  }, 90_000);
});
