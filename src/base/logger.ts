/**
 * The logger contract, a leaf: stores, the manager and the apps all log through it.
 */

/** A pino-compatible logger: any object with these four methods (pino, console-like adapters). */
export interface Logger {
  /** Retries and other detail. */
  debug(object: Record<string, unknown>, message: string): void;
  /** New tokens issued, the shared store answering again. */
  info(object: Record<string, unknown>, message: string): void;
  /** Failed requests, guard refusals, a failed background refresh, the shared store unavailable. */
  warn(object: Record<string, unknown>, message: string): void;
  /** Invalid credentials. */
  error(object: Record<string, unknown>, message: string): void;
}

/** How the manager's parts log: through the manager's logger, never throwing. */
export type LogFn = (level: keyof Logger, object: Record<string, unknown>, message: string) => void;
