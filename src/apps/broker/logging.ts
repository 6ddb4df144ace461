/**
 * The broker's log and audit log: pino for the JSON log, the audit lines to the config's `audit.file`,
 * else the log's destination. The destinations the broker opens itself are buffered, flushed at least
 * every second, and flushed on close so no line is lost.
 */
import pino from 'pino';
import { AuditLog, type AuditDestination } from './audit.js';
import type { ResolvedBrokerConfig } from './config.js';

/** Anything with `write(text)`: the broker's JSON log lines go there (default: stdout). */
export interface LogDestination {
  /** Takes one or more complete JSON lines. */
  write(text: string): unknown;
}

/** The longest a log or audit line waits in the broker's buffer. */
const FLUSH_INTERVAL_MS = 1_000;

/** The broker's logger and audit log, and what closing needs. */
export interface BrokerLogging {
  readonly logger: pino.Logger;
  /** Undefined when the config turns the audit log off. */
  readonly audit: AuditLog | undefined;
  /** Where audit lines go (for lines the AuditLog does not shape, e.g. a changed secret source). */
  readonly auditDestination: AuditDestination;
  /** Starts flushing the broker's own destinations every FLUSH_INTERVAL_MS. */
  startTimer(): void;
  /** Stops the periodic flush. */
  stopTimer(): void;
  /** Writes out what is buffered (on close). */
  flush(): void;
}

/** Opens the log and audit destinations `options` does not give, and the logger over them. */
export function brokerLogging(
  resolved: Pick<ResolvedBrokerConfig, 'logLevel' | 'audit'>,
  options: { readonly logDestination?: LogDestination; readonly auditDestination?: AuditDestination },
): BrokerLogging {
  const owned: Array<ReturnType<typeof pino.destination>> = [];
  const destination = (dest: number | string, extra: { mkdir?: boolean; append?: boolean } = {}) => {
    // Buffered up to 4 KiB between writes (fewer system calls under load), up to 64 KiB a write (the
    // audit log's batches, audit.ts), and flushed at least every second (FLUSH_INTERVAL_MS) and on
    // close, so a line is never held long at low traffic.
    const stream = pino.destination({ dest, sync: false, minLength: 4096, maxWrite: 65_536, ...extra });
    owned.push(stream);
    return stream;
  };
  const logDestination = options.logDestination ?? destination(1);
  const logger = pino(
    {
      level: resolved.logLevel,
      // Nothing here logs headers; this is for whoever adds a hook or a serializer that does.
      redact: {
        paths: ['req.headers.authorization', 'req.headers["x-api-key"]', 'headers.authorization', 'headers["x-api-key"]'],
        censor: '[redacted]',
      },
    },
    // Without a destination: pino's own stdout writer (sonic-boom), much cheaper than process.stdout.write.
    logDestination,
  );
  const auditDestination =
    options.auditDestination ?? (resolved.audit.file !== undefined ? destination(resolved.audit.file, { mkdir: true, append: true }) : logDestination);
  // Batched only into a destination the broker opened (see AuditLog): one given in code gets each line at once.
  const opened = options.auditDestination === undefined && (resolved.audit.file !== undefined || options.logDestination === undefined);
  const audit = resolved.audit.enabled ? new AuditLog(auditDestination, { batched: opened }) : undefined;

  let flushTimer: NodeJS.Timeout | undefined;
  return {
    auditDestination,
    logger,
    audit,
    startTimer() {
      flushTimer = setInterval(() => {
        audit?.flush();
        for (const stream of owned) {
          try {
            stream.flush(() => {});
          } catch {
            // Not open yet: nothing written, nothing to flush.
          }
        }
      }, FLUSH_INTERVAL_MS);
      flushTimer.unref();
    },
    stopTimer: () => clearInterval(flushTimer),
    flush() {
      audit?.flush();
      for (const each of new Set<unknown>([auditDestination, logDestination])) flushNow(each);
    },
  };
}

/** sonic-boom destinations are flushed on close so no line is lost; other destinations write at once. */
function flushNow(destination: unknown): void {
  const boom = destination as { flushSync?: () => void; fd?: number };
  try {
    if (typeof boom.flushSync === 'function' && typeof boom.fd === 'number' && boom.fd >= 0) boom.flushSync();
  } catch {
    // Not ready yet (nothing written): nothing to flush.
  }
}
