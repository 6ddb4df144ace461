/**
 * tokenbroker: OAuth 2.0 client-credentials tokens for payment APIs — cached, deduplicated and
 * ban-safe. Public exports only.
 *
 * @packageDocumentation
 */
export { createTokenManager, type TokenManager, type GetTokenOptions } from './core/manager.js';
export type { Logger } from './base/logger.js';
export type { TokenManagerOptions } from './core/options.js';
export { ISSUE_REASONS, type IssueReason, type ManagerStats, type ProviderStats } from './base/stats.js';
export type { Token, TokenType } from './base/token.js';
export type { RateLimit } from './base/rate-limit.js';
export type { CallBudget } from './stores/call-budget.js';
export {
  defineProvider,
  type DefinedTokenRequestContext,
  type Provider,
  type ProviderDefinition,
  type QuotaHint,
  type TokenRequestContext,
  type TokenResponse,
} from './providers/provider.js';
export * from './providers/index.js';
export { memoryStore, type MemoryStore, type MemoryStoreOptions } from './stores/memory.js';
export type { IssuanceLedger, LedgerDecision, SharedTokenStore, TokenStore } from './stores/types.js';
export {
  ConfigError,
  DPoPRequiredError,
  ForeignOriginError,
  InvalidCredentialsError,
  InvalidTokenResponseError,
  IssuanceLimitError,
  ManagerClosedError,
  ProviderUnavailableError,
  RateLimitedError,
  TokenError,
  UnknownProviderError,
  type ConfigIssue,
  type TokenErrorOptions,
  type TokenErrorCode,
} from './base/errors.js';
export type { RetryPolicy } from './base/retry.js';
