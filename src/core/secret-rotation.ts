/**
 * Rotation without a failed call. Before a token request the provider's secret sources (functions,
 * files) are read again: a changed secret moves the credential to its new cache key, which has no
 * cool-down of its own. When the token endpoint refuses the credentials, they are read once more: a
 * secret that changed in the meantime (the provider rotated it a moment before the new value reached
 * the file) is asked with at once — one extra request per rotation, through the issuance guard like
 * any other — and only a refusal of an unchanged secret stands, with its cool-down.
 *
 * A token got with the old secret stays in use until it is due for refresh: the providers do not
 * revoke tokens when a secret rotates, and dropping it would cost a request with nothing gained. A 401
 * on an API call still drops it at once (the 401 rule).
 */
import { ConfigError, InvalidCredentialsError, TokenError } from '../base/errors.js';
import type { LogFn } from '../base/logger.js';
import type { Provider } from '../providers/provider.js';
import type { Token } from '../base/token.js';

/** The credential as rotation sees it: its provider and the id that asked. */
export interface RotatingCredential {
  readonly id: string;
  readonly provider: Provider;
}

/**
 * Reads `credential`'s secret sources, then `issue()`s; after a refusal, reads them again and, if one
 * changed, issues once more. `rekeyed` is called whenever a read changed a secret (the provider's
 * cache key may have moved). A source that fails before the request serves `currentOr`'s still-usable
 * token, or its ConfigError (no request sent).
 */
export async function issueWithRotation(
  credential: RotatingCredential,
  log: LogFn,
  issue: () => Promise<Token>,
  currentOr: (error: TokenError) => Token,
  rekeyed: () => void,
): Promise<Token> {
  try {
    if (await readSecrets(credential, log)) rekeyed();
  } catch (error) {
    const failure = error instanceof TokenError ? error : new ConfigError([{ path: credential.id, message: 'the provider could not read its secrets' }]);
    log('warn', { provider: credential.id, error: failure.toJSON() }, 'secret source failed; no token request sent');
    return currentOr(failure.forProvider(credential.id));
  }
  try {
    return await issue();
  } catch (error) {
    if (!(error instanceof InvalidCredentialsError) || !(await readSecrets(credential, log).catch(() => false))) throw error;
    rekeyed();
    log('info', { provider: credential.id }, 'credentials refused, and the secret source has changed since: asking again with the new secret');
    return await issue();
  }
}

/** Reads the provider's secret sources (see `Provider.readSecrets`); resolves to whether one changed. */
async function readSecrets({ provider, id }: RotatingCredential, log: LogFn): Promise<boolean> {
  if (provider.readSecrets === undefined) return false;
  const changed = await provider.readSecrets((problem) => log('warn', { provider: id, problem }, 'secret source unreadable; the last good value is kept'));
  if (changed) log('info', { provider: id }, 'secret source changed');
  return changed;
}
