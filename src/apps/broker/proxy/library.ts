/**
 * @fastify/reply-from, the proxy library, loaded when the broker starts: it is an optional peer
 * dependency (like fastify), so a broker that never proxies does not need it installed.
 */
import type { FastifyPluginCallback } from 'fastify';

/** The one line a broker without the library logs, and its proxy routes answer. */
export const MISSING_LIBRARY_MESSAGE = 'The proxy needs the optional peer dependency @fastify/reply-from: npm install @fastify/reply-from';

/** What `import('@fastify/reply-from')` gives; a test replaces it to simulate a missing peer. */
export type ReplyFromImport = () => Promise<{ default: FastifyPluginCallback<Record<string, unknown>> }>;

const importReplyFrom: ReplyFromImport = () => import('@fastify/reply-from') as unknown as ReturnType<ReplyFromImport>;

/** The plugin, or undefined when the package is not installed (any other failure is thrown). */
export async function loadReplyFrom(load: ReplyFromImport = importReplyFrom): Promise<FastifyPluginCallback<Record<string, unknown>> | undefined> {
  try {
    return (await load()).default;
  } catch (error) {
    const code = (error as { code?: unknown } | null)?.code;
    const message = String((error as { message?: unknown } | null)?.message);
    if ((code === 'ERR_MODULE_NOT_FOUND' || code === 'MODULE_NOT_FOUND') && message.includes('@fastify/reply-from')) return undefined;
    throw error;
  }
}
