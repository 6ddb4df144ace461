/**
 * `tokenbroker cache list` and `tokenbroker cache clear [provider]`: the per-user token cache of
 * `tokenbroker token`. Listing shows what the file holds without ever printing a token or a secret.
 * Only commander is loaded up front; the store is loaded when a subcommand runs.
 */
import type { Command } from 'commander';
import type { CliProviderKind } from '../config.js';

/** One line of `tokenbroker cache list`. */
export interface CacheListEntry {
  /** The provider kind the token is for (`alternative-payments`, `autopay`, or a custom one). */
  provider: string;
  /** Tells two credentials of one provider apart: a hash of token URL and client id, never the secret. */
  credential: string;
  /** Masked (`abcd…(56 chars)`), or null when the stored value cannot be read. */
  accessToken: string | null;
  /** ISO 8601, when the provider said it expires. Null when unreadable. */
  expiresAt: string | null;
  /** Seconds the cache keeps serving it (its usable life left). */
  servedFor: number;
}

/** Registers `tokenbroker cache`. */
export function cacheCommand(program: Command): void {
  const cache = program
    .command('cache')
    .summary("list or clear the per-user token cache of 'tokenbroker token'")
    .description(
      'The per-user token cache of `tokenbroker token`: $XDG_CACHE_HOME/tokenbroker/tokens.sqlite, else ' +
        '~/.cache/tokenbroker/tokens.sqlite. `list` prints the cached tokens as JSON, masked; `clear` deletes them ' +
        '(the issuance budget is kept, so clearing never buys more tokens than the guard allows).',
    );
  cache
    .command('list')
    .description('print the cached tokens as JSON: provider, credential, masked token, expiry; never a token or a secret')
    .action(async (_options: unknown, command: Command) => {
      const [{ contextOf, writeLine }, { openTokenCache }, { maskToken }] = await Promise.all([
        import('../context.js'),
        import('../token-cache.js'),
        import('../mask.js'),
      ]);
      const { io } = contextOf(command);
      const { store } = await openTokenCache(io, { create: false });
      const now = Date.now();
      let entries: CacheListEntry[] = [];
      if (store !== undefined) {
        try {
          entries = (await store.entries()).map(({ key, token, storedUntil }) => {
            const [provider = key, credential = ''] = key.split(':');
            return {
              provider,
              credential: credential.slice(0, 8),
              accessToken: token === undefined ? null : maskToken(token.accessToken),
              expiresAt: token === undefined ? null : new Date(token.expiresAt).toISOString(),
              servedFor: Math.max(0, Math.floor((storedUntil - now) / 1000)),
            };
          });
        } finally {
          await store.close();
        }
      }
      writeLine(io.stdout, JSON.stringify(entries, null, 2));
    });
  cache
    .command('clear')
    .description('delete the cached tokens: all of them, or those of one provider (ap, alias alternative-payments, or autopay)')
    .argument('[provider]', 'ap (alias alternative-payments) or autopay; all providers when left out')
    .action(async (provider: string | undefined, _options: unknown, command: Command) => {
      const [{ contextOf, writeLine }, { openTokenCache }, { PROVIDER_ALIASES }, { UsageError }] = await Promise.all([
        import('../context.js'),
        import('../token-cache.js'),
        import('../config.js'),
        import('../errors.js'),
      ]);
      let kind: CliProviderKind | undefined;
      if (provider !== undefined) {
        kind = PROVIDER_ALIASES[provider.toLowerCase()];
        // Named only when shaped like a provider id: a secret pasted in the wrong place must not be printed back.
        if (kind === undefined) {
          const { nameForMessage } = await import('../config.js');
          throw new UsageError(`unknown provider ${nameForMessage(provider)}; the cache holds ap (alias alternative-payments) and autopay tokens only.`);
        }
      }
      const { io } = contextOf(command);
      const { store } = await openTokenCache(io, { create: false });
      let cleared = 0;
      if (store !== undefined) {
        try {
          cleared = await store.clear(kind === undefined ? '' : `${kind}:`);
        } finally {
          await store.close();
        }
      }
      writeLine(io.stdout, JSON.stringify({ cleared }));
    });
}
