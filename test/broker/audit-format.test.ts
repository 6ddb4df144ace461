/**
 * The audit lines' hand-made JSON values: durations from integers (msJson) read back as the duration
 * rounded to three decimals; addresses quoted as they are, escaped when they need it, null when absent.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { addressJson, msJson } from '../../src/apps/broker/audit.js';

describe('msJson', () => {
  it('is the duration rounded to µs, as a JSON number', () => {
    fc.assert(
      fc.property(fc.double({ min: 0, max: 1e9, noNaN: true }), (ms) => {
        expect(JSON.parse(msJson(ms))).toBeCloseTo(Math.round(ms * 1000) / 1000, 6);
      }),
    );
    expect(msJson(0)).toBe('0');
    expect(msJson(1.5)).toBe('1.500');
    expect(msJson(0.0004)).toBe('0');
    expect(msJson(2.0456)).toBe('2.046');
    expect(msJson(12.003)).toBe('12.003');
    expect(msJson(Number.NaN)).toBe('null');
  });
});

describe('addressJson', () => {
  it('quotes addresses, escapes anything else, and says null for none', () => {
    expect(addressJson('127.0.0.1')).toBe('"127.0.0.1"');
    expect(addressJson('::ffff:10.0.3.7')).toBe('"::ffff:10.0.3.7"');
    expect(addressJson('fe80::1%eth"0')).toBe(JSON.stringify('fe80::1%eth"0'));
    expect(addressJson(undefined)).toBe('null');
    fc.assert(
      fc.property(fc.string(), (text) => {
        expect(JSON.parse(addressJson(text))).toBe(text);
      }),
    );
  });
});
