/**
 * Where `tokenbroker token` keeps its per-user token cache: the XDG cache directory, as gcloud and
 * az keep theirs, so repeated runs (scripts, cron) reuse one token instead of getting the client banned.
 */
import { homedir } from 'node:os';
import { isAbsolute, join } from 'node:path';

/**
 * `$XDG_CACHE_HOME/tokenbroker/tokens.sqlite`, else `$HOME/.cache/tokenbroker/tokens.sqlite` (the
 * home directory of the user when `HOME` is unset). A relative `XDG_CACHE_HOME` is ignored, as the
 * XDG Base Directory specification says.
 */
export function tokenCachePath(env: Readonly<Record<string, string | undefined>>): string {
  const xdg = env.XDG_CACHE_HOME;
  const base = xdg !== undefined && xdg !== '' && isAbsolute(xdg) ? xdg : join(env.HOME !== undefined && env.HOME !== '' ? env.HOME : homedir(), '.cache');
  return join(base, 'tokenbroker', 'tokens.sqlite');
}
