/**
 * How the command shows an access token it does not print in full.
 */

/**
 * `abcd…(56 chars)`: enough to tell two tokens apart in a log, not enough to use one. Tokens shorter
 * than 16 characters show none of their characters.
 */
export function maskToken(token: string): string {
  return token.length >= 16 ? `${token.slice(0, 4)}…(${token.length} chars)` : `…(${token.length} chars)`;
}
