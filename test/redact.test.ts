/** Scrubbing (base/redact.ts): every Authorization scheme tokenbroker sends is removed from quoted text. */
import { describe, expect, it } from 'vitest';
import { REDACTED, scrub } from '../src/base/redact.js';

describe('scrub', () => {
  it('removes Bearer, Basic and DPoP credentials (a DPoP-bound token is a token too)', () => {
    const text = 'sent Authorization: Bearer bear.er-123, Basic YWJjOmRlZg==, and DPoP dp0p-T0ken_xyz';
    const out = scrub(text, [], Number.POSITIVE_INFINITY);
    for (const secret of ['bear.er-123', 'YWJjOmRlZg==', 'dp0p-T0ken_xyz']) expect(out).not.toContain(secret);
    expect(out).toBe(`sent Authorization: Bearer ${REDACTED}, Basic ${REDACTED}, and DPoP ${REDACTED}`);
  });
});
