/** The stored form of a token (src/stores/codec.ts) keeps its type: a DPoP-bound token comes back DPoP. */
import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import type { Token } from '../../src/base/token.js';
import { TokenCodec } from '../../src/stores/codec.js';

const now = Date.now();
const tokens: Token[] = [
  { accessToken: 'bearer-token', tokenType: 'Bearer', issuedAt: now, expiresAt: now + 3_600_000 },
  { accessToken: 'dpop-bound-token', tokenType: 'DPoP', issuedAt: now, expiresAt: now + 3_600_000, scope: 'api:read' },
];

describe('token codec', () => {
  for (const [name, codec] of [
    ['plain', new TokenCodec([])],
    ['encrypted', new TokenCodec([randomBytes(32)])],
  ] as const) {
    it(`${name}: Bearer and DPoP tokens come back with their type`, () => {
      for (const token of tokens) expect(codec.decode('key', codec.encode('key', token))).toEqual(token);
    });
  }
});
