/**
 * Acceptance 9: a process that creates a manager, gets a token and calls close() exits by itself —
 * no timer, socket or connection left holding the event loop.
 */
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startLoopbackServer, type LoopbackServer } from './helpers/loopback-server.js';

const packageEntry = fileURLToPath(new URL('../dist/index.js', import.meta.url));

function runChild(script: string, env: Record<string, string>): Promise<{ code: number | null; stdout: string; stderr: string; killed: boolean }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, ['--input-type=module', '-e', script], { env: { ...process.env, ...env } });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    // Generous: a healthy child exits in well under a second.
    const timer = setTimeout(() => child.kill('SIGKILL'), 15_000);
    child.on('exit', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr, killed: signal === 'SIGKILL' });
    });
  });
}

describe('process exit', () => {
  let server: LoopbackServer;
  beforeAll(async () => {
    server = await startLoopbackServer((request, response) => {
      if (request.url === '/oauth/token') {
        response.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ access_token: 'abc', token_type: 'bearer', expires_in: 3600 }));
      } else {
        response.writeHead(200, { 'content-type': 'application/json' }).end('{"data":[]}');
      }
    });
  });
  afterAll(() => server.close());

  it('exits by itself after close(), with a token fetched and an API call made', async () => {
    const script = `
      import { createTokenManager, alternativePayments } from ${JSON.stringify(packageEntry)};
      const tokens = createTokenManager({ providers: { ap: alternativePayments({ clientId: 'id', clientSecret: 'secret', baseUrl: process.env.BASE }) } });
      const token = await tokens.getToken('ap');
      await tokens.client('ap').get('customers').json();
      await tokens.close();
      console.log('closed', token.tokenType);
    `;
    const result = await runChild(script, { BASE: server.url });
    expect(result.stderr).toBe('');
    expect(result.killed).toBe(false);
    expect(result.code).toBe(0);
    expect(result.stdout).toContain('closed Bearer');
  });

  it('a manager that is never closed but idle does not hold the process either (no interval timers)', async () => {
    const script = `
      import { createTokenManager, alternativePayments } from ${JSON.stringify(packageEntry)};
      const tokens = createTokenManager({ providers: { ap: alternativePayments({ clientId: 'id', clientSecret: 'secret', baseUrl: process.env.BASE }) } });
      await tokens.getToken('ap');
      console.log('done');
    `;
    const result = await runChild(script, { BASE: server.url });
    expect(result.killed).toBe(false);
    expect(result.code).toBe(0);
  });
});
