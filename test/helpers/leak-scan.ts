/**
 * Everything a value can be seen through — `util.inspect` at full depth with hidden properties and
 * getters, `JSON.stringify`, `String()`, and for errors the message, stack, inspect and JSON of every
 * cause down the chain — as one text to search for secrets.
 */
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
