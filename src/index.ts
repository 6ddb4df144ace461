/**
 * tokenbroker: OAuth 2.0 client-credentials tokens for payment APIs — cached, deduplicated and
 * ban-safe. Public exports only.
 *
 * @packageDocumentation
 */
export { createTokenManager, type TokenManager, type GetTokenOptions } from './manager.js';
export type { Logger } from './logger.js';
export type { TokenManagerOptions } from './options.js';
export { ISSUE_REASONS, type IssueReason, type ManagerStats, type ProviderStats } from './stats.js';
export type { Token } from './token.js';
export { defineProvider, type Provider, type ProviderDefinition, type QuotaHint, type TokenRequestContext, type TokenResponse } from './provider.js';
export * from './providers/index.js';
export { memoryStore, type MemoryStore, type MemoryStoreOptions } from './stores/memory.js';
export type { IssuanceLedger, LedgerDecision, SharedTokenStore, TokenStore } from './stores/types.js';
export {
  ConfigError,
  InvalidCredentialsError,
  InvalidTokenResponseError,
  IssuanceLimitError,
  ManagerClosedError,
  ProviderUnavailableError,
  RateLimitedError,
  TokenError,
  type ConfigIssue,
  type TokenErrorOptions,
  type TokenErrorCode,
} from './errors.js';
export type { RetryPolicy } from './retry.js';
