/**
 * docs/broker.md stays true: its complete config example passes validation (only the secret files it
 * names, which do not exist here, are reported), and every error code it lists is one the broker uses.
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { resolveBrokerConfig } from '../../src/broker/index.js';
import { ConfigError } from '../../src/errors.js';

const doc = readFileSync(new URL('../../docs/broker.md', import.meta.url), 'utf8');

describe('docs/broker.md', () => {
  it('the complete config example is valid', () => {
    const json = /## Configuration[\s\S]*?```json\n([\s\S]*?)```/.exec(doc)?.[1];
    expect(json).toBeDefined();
    const env = {
      AP_CLIENT_SECRET: 'a',
      IDP_CLIENT_SECRET: 'b',
      TOKENBROKER_REDIS_URL: 'redis://:pw@127.0.0.1:6379/0',
      TOKENBROKER_TOKEN_KEYS: Buffer.alloc(32, 1).toString('base64'),
    };
    let issues: string[] = [];
    try {
      resolveBrokerConfig(JSON.parse(json!), { env, baseDir: '/nonexistent' });
    } catch (error) {
      expect(error).toBeInstanceOf(ConfigError);
      issues = (error as ConfigError).issues.map((issue) => `${issue.path}: ${issue.message}`);
    }
    expect(issues).toEqual([
      expect.stringMatching(/^providers\.ap-demo\.clientSecretFile: cannot read \/run\/secrets\/ap-demo-secret/),
      expect.stringMatching(/^providers\.autopay\.clientSecretFile: cannot read \/nonexistent\/secrets\/autopay/),
    ]);
  });

  it('lists every error code of the broker', () => {
    const source = readFileSync(new URL('../../src/broker/errors.ts', import.meta.url), 'utf8');
    const codes = /export type BrokerErrorCode =([\s\S]*?);/.exec(source)![1]!.match(/'([a-z_]+)'/g)!.map((c) => c.slice(1, -1));
    expect(codes.length).toBeGreaterThan(10);
    for (const code of codes) {
      expect(doc, code).toContain(`\`${code}\``);
    }
  });
});
