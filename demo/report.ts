/**
 * The summary table the demo ends with: plain text, readable in any terminal or CI log.
 */
import type { DemoSummary, IssuedByReason } from './run-demo.js';
import type { CallCounts } from './workload.js';

const n = (value: number) => value.toLocaleString('en-US');

/**
 * Columns padded to their widest cell. `notes` are label/text lines set under the table, their label
 * in the first column's width.
 */
function table(header: string[], rows: string[][], notes: Array<[string, string]> = []): string[] {
  const widths = header.map((_, column) =>
    Math.max(...[header, ...rows].map((row) => (row[column] ?? '').length), column === 0 ? Math.max(0, ...notes.map(([label]) => label.length)) : 0),
  );
  const line = (row: string[]) =>
    `  ${row
      .map((cell, column) => cell.padEnd(widths[column]!))
      .join('   ')
      .trimEnd()}`;
  return [
    line(header),
    `  ${widths.map((w) => '─'.repeat(w)).join('   ')}`,
    ...rows.map(line),
    ...notes.map(([label, text]) => `  ${label.padEnd(widths[0]!)}   ${text}`),
  ];
}

function calls(c: CallCounts): string {
  return c.failed === 0 ? n(c.ok) : `${n(c.ok)} ok, ${n(c.failed)} failed`;
}

function reasons(r: IssuedByReason): string {
  const parts = (['coldStart', 'expiry', 'refreshAhead', 'invalidated', 'forced'] as const)
    .filter((reason) => r[reason] > 0)
    .map((reason) => `${reason} ${r[reason]}`);
  return parts.length === 0 ? '—' : parts.join(', ');
}

function failures(c: CallCounts): string {
  const entries = Object.entries(c.failedByStatus).sort(([, a], [, b]) => b - a);
  return entries.length === 0 ? 'none' : entries.map(([status, count]) => `${n(count)}× ${status === '0' ? 'no response' : status}`).join(', ');
}

function banned(ms: number | undefined): string {
  return ms === undefined ? 'no' : `YES, after ${(ms / 1000).toFixed(1)} s`;
}

/** The summary as lines of text. */
export function formatSummary(s: DemoSummary): string[] {
  const tb = s.tokenbroker;
  const nv = s.naive;
  const us = (value: number) => `${value < 10 ? value.toFixed(1) : n(Math.round(value))} µs`;
  const lines: string[] = [];
  lines.push('', `tokenbroker run: ${(tb.durationMs / 1000).toFixed(1)} s, Alternative Payments tokens last ${s.apTokenLifetimeSeconds} s`);
  lines.push(
    ...table(
      ['', 'Alternative Payments', 'Autopay'],
      [
        ['API calls (through tokens.client())', calls(tb.calls.ap), calls(tb.calls.autopay)],
        ['tokens issued (tokens.stats())', n(tb.tokensIssued.ap.total), n(tb.tokensIssued.autopay.total)],
        ['  by reason', reasons(tb.tokensIssued.ap), reasons(tb.tokensIssued.autopay)],
        ['token requests seen by the emulator', n(tb.emulatorTokenRequests.ap), n(tb.emulatorTokenRequests.autopay)],
      ],
      [
        ['cache hit rate', `${(tb.hitRate * 100).toFixed(2)} % of ${n(tb.getTokenCalls)} getToken calls (${n(tb.deduplicated)} joined a request under way)`],
        [
          'getToken latency p50 / p99',
          `${us(tb.getTokenLatencyUs.p50)} / ${us(tb.getTokenLatencyUs.p99)} (${n(tb.getTokenLatencyUs.samples)} timed calls, under load)`,
        ],
      ],
    ),
  );
  const tbTokens = tb.emulatorTokenRequests.ap + tb.emulatorTokenRequests.autopay;
  const nvTokens = nv.tokenRequests.ap + nv.tokenRequests.autopay;
  const okCalls = (c: DemoSummary['naive']['calls']) => n(c.ap.ok + c.autopay.ok);
  lines.push('', 'naive client vs tokenbroker, same workload and credentials');
  lines.push(
    ...table(
      ['', 'ran', 'API calls ok', 'tokens requested', 'banned by AP', 'banned by Autopay'],
      [
        ['tokenbroker', `${(tb.durationMs / 1000).toFixed(1)} s`, okCalls(tb.calls), n(tbTokens), tb.banned ? 'YES' : 'no', tb.banned ? 'YES' : 'no'],
        [
          'naive (a token per request)',
          `${(nv.durationMs / 1000).toFixed(1)} s`,
          okCalls(nv.calls),
          n(nvTokens),
          banned(nv.bannedAfterMs.ap),
          banned(nv.bannedAfterMs.autopay),
        ],
      ],
      [
        ['naive failures', `AP ${failures(nv.calls.ap)}; Autopay ${failures(nv.calls.autopay)}`],
        ['naive tokens issued', `AP ${n(nv.emulatorTokensIssued.ap)}, Autopay ${n(nv.emulatorTokensIssued.autopay)} (the ban threshold is 20)`],
      ],
    ),
  );
  const rl = s.rateLimit;
  if (rl !== undefined) {
    lines.push(
      '',
      `API rate limit: ${rl.services} services × ${rl.burst} concurrent calls, ${rl.bursts} bursts, against Alternative Payments' 5 calls/s per key`,
    );
    const side = (label: string, r: typeof rl.tokenbroker) => [label, n(r.ok), n(r.failed), n(r.api429), `${(r.longestMs / 1000).toFixed(1)} s`];
    lines.push(
      ...table(
        ['', 'calls ok', 'calls failed', 'API 429s (emulator)', 'longest call'],
        [side('tokenbroker (paced, 5 per 1000 ms)', rl.tokenbroker), side('naive (plain fetch, one token)', rl.naive)],
      ),
    );
  }
  return lines;
}
