/**
 * openid-client, loaded when an `oauth2()` provider first needs it (its first token request or
 * discovery), so `import('tokenbroker')` loads neither it nor jose/oauth4webapi.
 */
import type * as openid from 'openid-client';

/** The openid-client module's namespace. */
export type OpenIdClient = typeof openid;

let loading: Promise<OpenIdClient> | undefined;

/** The openid-client module, imported once. */
export function openIdClient(): Promise<OpenIdClient> {
  loading ??= import('openid-client').catch((error: unknown) => {
    loading = undefined;
    throw error;
  });
  return loading;
}
