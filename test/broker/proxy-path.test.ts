/**
 * resolvePath, the proxy's path check with its cache of passes: a path refused once is refused every
 * time, whatever passed before it (the cache keeps passes only, and is emptied when full); a pass gives
 * the upstream URL with the path exactly as sent.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { resolvePath } from '../../src/apps/broker/proxy/path.js';

const BASE = 'https://api.example/v2/';
const PREFIX = '/v1/proxy/'.length;
const BAD = ['/../secret', '/%2e%2e/secret', '/.%2e/secret', '/a%2f..%2fsecret', '/a%5csecret', '/%252e/secret', '/a\\b', '//evil.example/x', '/%00/x'];

describe('resolvePath', () => {
  it('gives the upstream URL, the decoded path and the host; the same answer the second time', () => {
    const first = resolvePath(BASE, '/v1/proxy/ap/customers/caf%C3%A9', PREFIX);
    expect(first).toEqual({ url: 'https://api.example/v2/customers/caf%C3%A9', decodedPath: '/customers/café', host: 'api.example' });
    expect(resolvePath(BASE, '/v1/proxy/ap/customers/caf%C3%A9', PREFIX)).toEqual(first);
    expect(resolvePath(BASE, '/v1/proxy/ap', PREFIX)).toEqual({ url: 'https://api.example/v2', decodedPath: '/', host: 'api.example' });
  });

  it('refuses a bad path every time, before and after any number of passes', () => {
    fc.assert(
      fc.property(fc.array(fc.stringMatching(/^[a-z0-9]{1,8}$/), { maxLength: 1500 }), fc.constantFrom(...BAD), (segments, bad) => {
        expect(typeof resolvePath(BASE, `/v1/proxy/ap${bad}`, PREFIX)).toBe('string');
        for (const segment of segments) expect(resolvePath(BASE, `/v1/proxy/ap/${segment}`, PREFIX)).not.toBeTypeOf('string');
        expect(typeof resolvePath(BASE, `/v1/proxy/ap${bad}`, PREFIX)).toBe('string');
      }),
      { numRuns: 30 },
    );
  });
});
