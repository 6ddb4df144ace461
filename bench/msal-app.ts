/**
 * The MSAL application both the warm bench and the memory child build: an `https://` authority on the
 * given host (MSAL refuses others) whose metadata is given inline, so discovery sends no request.
 * Imports nothing of this repository, so the memory child can load it under Node's own type stripping.
 */
import { ConfidentialClientApplication, LogLevel, type INetworkModule } from '@azure/msal-node';

/** A confidential client for `clientId` whose only request is the token request, sent through `networkClient`. */
export function msalApplication(origin: string, clientId: string, clientSecret: string, networkClient: INetworkModule): ConfidentialClientApplication {
  const host = new URL(origin).host;
  const authority = `https://${host}/bench-tenant`;
  return new ConfidentialClientApplication({
    auth: {
      clientId,
      clientSecret,
      authority,
      knownAuthorities: [host],
      authorityMetadata: JSON.stringify({
        token_endpoint: `${authority}/oauth2/token`,
        authorization_endpoint: `${authority}/oauth2/authorize`,
        issuer: authority,
        jwks_uri: `${authority}/discovery/keys`,
      }),
    },
    system: { networkClient, loggerOptions: { logLevel: LogLevel.Error, piiLoggingEnabled: false, loggerCallback: () => {} } },
  });
}
