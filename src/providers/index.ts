/**
 * The built-in providers. A custom one is a small file around `defineProvider` (see docs/providers.md).
 */
export { alternativePayments, type AlternativePaymentsOptions } from './alternative-payments.js';
export { autopay, type AutopayOptions } from './autopay.js';
export { fromBroker, type FromBrokerOptions } from './from-broker.js';
export {
  oauth2,
  type DpopKey,
  type FetchLike,
  type OAuth2AuthMethod,
  type OAuth2Options,
  type PrivateKeyInput,
  type SigningAlgorithm,
  type TlsClientCertificate,
  type TlsClientCertificateSources,
} from './oauth2/index.js';
export { secretFile, type SecretFile } from './secret-file.js';
export type { SecretFunction, SecretSource } from './secret-source.js';
