/**
 * The audit line of one proxied call: who (consumer, key id, client IP), what (provider, method, the
 * path without its query), the upstream's status and time, the broker's total time, bytes each way,
 * whether it was replayed after a 401, the request id, a fingerprint of the token used. Never a body,
 * a token, a key or a query value.
 */
import { addressJson, msJson } from '../audit.js';

/** One proxied call, for the audit log. */
export interface ProxyAuditRecord {
  readonly reqId: string;
  readonly consumer: string | undefined;
  readonly keyId: string | undefined;
  /** The client's address; undefined on a unix socket. */
  readonly ip: string | undefined;
  readonly provider: string | undefined;
  readonly method: string;
  /** Decoded path below the API base, without the query; undefined when it was refused as unsafe. */
  readonly path: string | undefined;
  /** The answer's status. */
  readonly status: number;
  /** The broker's error code when it answered itself (or cut the answer off). */
  readonly code: string | undefined;
  /** The upstream's status (of the last attempt), when a call went upstream. */
  readonly upstreamStatus: number | undefined;
  readonly upstreamMs: number | undefined;
  readonly totalMs: number;
  readonly bytesIn: number;
  readonly bytesOut: number;
  readonly replayed: boolean;
  readonly fingerprint: string | undefined;
}

/** The JSON line for `record` (`"type":"proxy"`, newline-terminated). */
export function proxyAuditLine(record: ProxyAuditRecord): string {
  // Ids, names, codes and the fingerprint come from closed character sets; the ip and path are escaped,
  // times written from integers (msJson).
  let line = `{"type":"proxy","time":${Date.now()},"reqId":"${record.reqId}"`;
  if (record.consumer !== undefined) line += `,"consumer":"${record.consumer}"`;
  if (record.keyId !== undefined) line += `,"keyId":"${record.keyId}"`;
  line += `,"ip":${addressJson(record.ip)}`;
  if (record.provider !== undefined) line += `,"provider":"${record.provider}"`;
  line += `,"method":"${record.method}"`;
  if (record.path !== undefined) line += `,"path":${JSON.stringify(record.path)}`;
  line += `,"status":${record.status}`;
  if (record.code !== undefined) line += `,"code":"${record.code}"`;
  if (record.upstreamStatus !== undefined) line += `,"upstreamStatus":${record.upstreamStatus}`;
  if (record.upstreamMs !== undefined) line += `,"upstreamMs":${msJson(record.upstreamMs)}`;
  line += `,"totalMs":${msJson(record.totalMs)},"bytesIn":${record.bytesIn},"bytesOut":${record.bytesOut},"replayed":${record.replayed}`;
  if (record.fingerprint !== undefined) line += `,"fingerprint":"${record.fingerprint}"`;
  return `${line}}\n`;
}
