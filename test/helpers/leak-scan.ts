/**
 * Everything a value can be seen through — `util.inspect` at full depth with hidden properties and
 * getters, `JSON.stringify`, `String()`, and for errors the message, stack, inspect and JSON of every
 * cause down the chain — as one text to search for secrets.
 */
import type { KeyObject } from 'node:crypto';
import { inspect } from 'node:util';

export function everythingAbout(value: unknown): string {
  const parts: string[] = [inspect(value, { depth: Infinity, showHidden: true, getters: true }), safeJson(value), String(value)];
  let current: unknown = value;
  for (let depth = 0; current instanceof Error && depth < 10; depth++) {
    parts.push(current.message, current.stack ?? '', inspect(current, { depth: Infinity, showHidden: true }), safeJson(current));
    current = current.cause;
  }
  return parts.join('\n');
}

function safeJson(value: unknown): string {
  try {
    return JSON.stringify(value) ?? '';
  } catch {
    return '';
  }
}

/**
 * The forms a private key can be seen in: its PEM (whole, and each line of its Base64 body), the DER
 * in Base64, and the private members of its JWK (`d`, and RSA's `p`, `q`, `dp`, `dq`, `qi`).
 */
export function privateKeyForms(key: KeyObject): string[] {
  const pem = key.export({ format: 'pem', type: 'pkcs8' }).toString();
  const lines = pem.split('\n').filter((line) => line.length >= 24 && !line.startsWith('-----'));
  const jwk = key.export({ format: 'jwk' }) as Record<string, unknown>;
  const members = ['d', 'p', 'q', 'dp', 'dq', 'qi'].map((name) => jwk[name]).filter((value): value is string => typeof value === 'string');
  return [pem.trim(), ...lines, key.export({ format: 'der', type: 'pkcs8' }).toString('base64').slice(0, 48), ...members];
}
