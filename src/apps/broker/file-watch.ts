/**
 * The broker's watch over the files its config names — each provider's `clientSecretFile`, and its
 * own TLS certificate, key and CA — so a change applies without SIGHUP:
 *
 * - a provider's secret file: the provider itself reads it again before each token request (it is a
 *   `secretFile` source); the watch writes the audit line "secret source changed" (never a value) and
 *   warns, once per change, when the file is empty or unreadable (the last good value is kept);
 * - the TLS files: read, checked as one secure context (a certificate that does not match its key is
 *   refused), then handed to `server.setSecureContext`: new handshakes get the new certificate, open
 *   connections keep theirs. A bad or half-written set keeps the last good one, with one warning.
 *
 * Polled every 500 ms with `stat` (which follows symlinks): a Kubernetes `..data` symlink swap, a
 * rename over the file and a write in place all change the target's inode, size or times. `fs.watch`
 * was not used: on a directory it misses a change behind a symlink swapped in another directory, and
 * on a file it stops at the first rename; chokidar would add a dependency for these few lines. A few
 * `stat` calls a second cost nothing next to the broker's traffic.
 */
import { createHash } from 'node:crypto';
import { readFile, stat } from 'node:fs/promises';
import { resolve } from 'node:path';
import { createSecureContext, type SecureContextOptions } from 'node:tls';

/** How often the files are looked at: a change applies within about this much (well under 2 s). */
export const WATCH_INTERVAL_MS = 500;

/** The files a config names, resolved. */
export interface WatchedFiles {
  /** Provider id → its `clientSecretFile`. */
  readonly secrets: ReadonlyMap<string, string>;
  /** The service listener's TLS files, when it serves https. */
  readonly tls: { readonly cert: string; readonly key: string; readonly ca: string | undefined } | undefined;
}

/** Where the watch reports. */
export interface FileWatchTargets {
  /** The broker's logger (pino): info for an applied change, warn for a kept last good value. */
  readonly log: { info(object: object, message: string): void; warn(object: object, message: string): void };
  /** The audit destination, when the audit log is on. */
  readonly audit: { write(text: string): unknown } | undefined;
  /** Applies a new TLS certificate to new handshakes (`server.setSecureContext`). */
  readonly setSecureContext: ((options: SecureContextOptions) => void) | undefined;
}

/** The files named by a raw config (as `resolveBrokerConfig` reads it), relative paths from `baseDir`. */
export function filesNamedBy(raw: unknown, baseDir: string): WatchedFiles {
  const config = (typeof raw === 'object' && raw !== null ? raw : {}) as { providers?: unknown; tls?: unknown };
  const secrets = new Map<string, string>();
  if (typeof config.providers === 'object' && config.providers !== null) {
    for (const [id, section] of Object.entries(config.providers)) {
      const file = (section as { clientSecretFile?: unknown } | null)?.clientSecretFile;
      if (typeof file === 'string' && file !== '') secrets.set(id, resolve(baseDir, file));
    }
  }
  const tls = config.tls as { certFile?: unknown; keyFile?: unknown; caFile?: unknown } | undefined;
  const path = (value: unknown) => (typeof value === 'string' && value !== '' ? resolve(baseDir, value) : undefined);
  const cert = path(tls?.certFile);
  const key = path(tls?.keyFile);
  return { secrets, tls: cert === undefined || key === undefined ? undefined : { cert, key, ca: path(tls?.caFile) } };
}

/** What was last seen of one file or set of files: their stat signature, and the hash of the last good content. */
interface Seen {
  signature: string;
  goodHash: string | undefined;
}

/** Watches the files of one broker; `update` on reload, `stop` on close. */
export class BrokerFileWatch {
  readonly #targets: FileWatchTargets;
  #files: WatchedFiles = { secrets: new Map(), tls: undefined };
  readonly #seen = new Map<string, Seen>();
  #timer: NodeJS.Timeout | undefined;
  #ticking: Promise<void> | undefined;

  constructor(targets: FileWatchTargets) {
    this.#targets = targets;
  }

  /**
   * Starts watching `files` (or switches to them, after a reload). What they hold now is the baseline:
   * no audit line for it. Resolves once the baseline is taken.
   */
  async watch(files: WatchedFiles): Promise<void> {
    this.#files = files;
    await this.#ticking;
    for (const key of [...this.#seen.keys()]) if (!this.#keys().includes(key)) this.#seen.delete(key);
    await this.#check(true);
    if (this.#timer === undefined) {
      this.#timer = setInterval(() => {
        this.#ticking ??= this.#check(false).finally(() => (this.#ticking = undefined));
      }, WATCH_INTERVAL_MS);
      this.#timer.unref();
    }
  }

  /** Stops the timer; a check under way finishes. */
  async stop(): Promise<void> {
    clearInterval(this.#timer);
    this.#timer = undefined;
    await this.#ticking;
  }

  #keys(): string[] {
    const keys = [...this.#files.secrets.keys()].map((id) => `secret:${id}`);
    if (this.#files.tls !== undefined) keys.push('tls');
    return keys;
  }

  async #check(baseline: boolean): Promise<void> {
    for (const [id, path] of this.#files.secrets) await this.#checkSecret(id, path, baseline);
    if (this.#files.tls !== undefined) await this.#checkTls(this.#files.tls, baseline);
  }

  async #checkSecret(id: string, path: string, baseline: boolean): Promise<void> {
    const key = `secret:${id}`;
    const signature = await signatureOf([path]);
    const seen = this.#seen.get(key);
    if (seen !== undefined && seen.signature === signature) return;
    const entry: Seen = { signature, goodHash: seen?.goodHash };
    this.#seen.set(key, entry);
    let problem: string | undefined;
    let hash: string | undefined;
    try {
      const content = (await readFile(path, 'utf8')).replace(/\r?\n$/, '');
      if (content === '') problem = 'is empty';
      else hash = digest(content);
    } catch (error) {
      problem = `cannot be read${codeOf(error)}`;
    }
    if (problem !== undefined) {
      this.#targets.log.warn({ provider: id, path, problem }, 'secret file unreadable or empty; the provider keeps the last good value');
      return;
    }
    entry.goodHash = hash;
    if (baseline || seen === undefined || seen.goodHash === hash) return;
    this.#targets.log.info({ provider: id, path }, 'secret source changed');
    this.#audit(id);
  }

  async #checkTls(files: NonNullable<WatchedFiles['tls']>, baseline: boolean): Promise<void> {
    const paths = [files.cert, files.key, ...(files.ca === undefined ? [] : [files.ca])];
    const signature = await signatureOf(paths);
    const seen = this.#seen.get('tls');
    if (seen !== undefined && seen.signature === signature) return;
    const entry: Seen = { signature, goodHash: seen?.goodHash };
    this.#seen.set('tls', entry);
    let options: SecureContextOptions;
    let hash: string;
    try {
      const contents = await Promise.all(paths.map((path) => readFile(path)));
      const [cert, key, ca] = contents;
      options = { cert, key, ...(ca === undefined ? {} : { ca }) };
      hash = digest(Buffer.concat(contents));
      // Refuses what Node would refuse at the handshake: an unparsable file, a key that does not match.
      createSecureContext(options);
    } catch (error) {
      // Node's messages name the problem (e.g. "key values mismatch"), never the content.
      const problem = error instanceof Error ? `${error.name}${codeOf(error)}: ${error.message.slice(0, 120)}` : 'unreadable';
      this.#targets.log.warn({ files: paths, problem }, 'TLS files unreadable or invalid; the last good certificate is kept');
      return;
    }
    const changed = entry.goodHash !== undefined && entry.goodHash !== hash;
    entry.goodHash = hash;
    if (baseline || !changed) return;
    this.#targets.setSecureContext?.(options);
    this.#targets.log.info({ files: paths }, 'TLS certificate reloaded: new connections get it');
  }

  #audit(provider: string): void {
    // The audit log's own line shape; provider ids are validated (letters, digits, . _ -).
    this.#targets.audit?.write(`{"type":"audit","time":${Date.now()},"event":"secret_source_changed","provider":"${provider}"}\n`);
  }
}

/** The stat of each path (following symlinks), as one string; a missing file is its error code. */
async function signatureOf(paths: readonly string[]): Promise<string> {
  const parts = await Promise.all(
    paths.map((path) =>
      stat(path).then(
        (s) => `${s.dev}:${s.ino}:${s.size}:${s.mtimeMs}:${s.ctimeMs}`,
        (error: unknown) => `error${codeOf(error)}`,
      ),
    ),
  );
  return parts.join('|');
}

function digest(content: string | Buffer): string {
  return createHash('sha256').update(content).digest('base64url');
}

function codeOf(error: unknown): string {
  const code = (error as { code?: unknown } | null)?.code;
  return typeof code === 'string' ? ` (${code})` : '';
}
