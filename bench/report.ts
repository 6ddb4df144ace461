/**
 * Turns the measurements into the printed table, bench/results/latest.{md,json}, the chart
 * (docs/performance.svg, drawn here: no external tools) and the generated section of
 * docs/performance.md.
 */
import type { ClientOverheadResult } from './client-overhead.js';
import type { DayResult } from './day-child.js';
import type { MemoryResult } from './memory-child.js';
import { sqliteMarkdown, type SqliteBenchResult } from './sqlite.js';
import type { StampedeResult } from './stampede.js';
import type { WarmResult } from './warm.js';

export interface Environment {
  readonly date: string;
  readonly machine: { cpu: string; cores: number; memoryBytes: number; platform: string; arch: string; loadAverage: number[] };
  readonly node: string;
  readonly versions: Record<string, string>;
  readonly durationSeconds: number;
}

export interface Target {
  readonly target: string;
  readonly figure: string;
  readonly met: boolean;
  readonly note?: string;
}

export interface Results {
  readonly environment: Environment;
  readonly warm: readonly WarmResult[];
  readonly stampede: readonly StampedeResult[];
  readonly day: readonly DayResult[];
  readonly memory: readonly (MemoryResult & { note?: string })[];
  readonly client: ClientOverheadResult;
  readonly sqlite?: SqliteBenchResult | undefined;
  readonly targets: readonly Target[];
}

// ---------------------------------------------------------------------------------------------------
// Targets

export const WARM_TARGET_RATIO = 1.2;
export const CLIENT_TARGET_PCT = 10;

export function evaluateTargets(
  warm: readonly WarmResult[],
  stampede: readonly StampedeResult[],
  day: readonly DayResult[],
  memory: readonly MemoryResult[],
  client: ClientOverheadResult,
): Target[] {
  const tb = warm.find((r) => r.name === 'tokenbroker')!;
  const fastestPeer = warm.filter((r) => r.name !== 'tokenbroker' && r.name !== 'floor').reduce((best, r) => (r.nsPerOp < best.nsPerOp ? r : best));
  const tbStampede = stampede.find((r) => r.name === 'tokenbroker')!;
  // Issue 12: every tokenbroker subject (each built-in provider and defineProvider) at most the best
  // caching peer's figure in the same run (peers without a cache have no figure).
  const tbMemory = memory.filter((r) => r.name.startsWith('tokenbroker'));
  const leanestPeer = memory
    .filter((r) => r.name !== 'floor' && !r.name.startsWith('tokenbroker') && Number.isFinite(r.bytesPerCredential))
    .reduce((best, r) => (r.bytesPerCredential < best.bytesPerCredential ? r : best));
  const dayMisses = day.filter((r) => r.tokenRequests !== r.minimum);
  return [
    {
      target: `Warm hit ≤ ${WARM_TARGET_RATIO}× the floor`,
      figure: `${fmtNs(tb.nsPerOp)} vs floor ${fmtNs(warm[0]!.nsPerOp)} = ${tb.ratio.toFixed(2)}×`,
      met: tb.ratio <= WARM_TARGET_RATIO,
    },
    {
      target: 'Warm hit faster than every peer',
      figure: `${fmtNs(tb.nsPerOp)} vs fastest peer ${fastestPeer.name} ${fmtNs(fastestPeer.nsPerOp)}`,
      met: tb.nsPerOp < fastestPeer.nsPerOp,
    },
    {
      target: 'Memory per cached credential at 10,000 ≤ the leanest caching peer, for every tokenbroker provider',
      figure:
        tbMemory.map((r) => `${r.name.replace(/^tokenbroker ?/, '') || 'defineProvider'} ${Math.round(r.bytesPerCredential)} B`).join(', ') +
        ` vs ${leanestPeer.name} ${Math.round(leanestPeer.bytesPerCredential)} B`,
      met: tbMemory.length > 0 && tbMemory.every((r) => r.bytesPerCredential <= leanestPeer.bytesPerCredential),
    },
    {
      target: 'Stampede: exactly 1 token request for 10,000 concurrent calls',
      figure: `${tbStampede.tokenRequests} request(s), last answer after ${tbStampede.ms.toFixed(1)} ms, ${tbStampede.failures} failures`,
      met: tbStampede.tokenRequests === 1 && tbStampede.failures === 0,
    },
    {
      target: 'Simulated day: exactly the minimum per credential',
      figure: day.map((r) => `${r.credential} ${r.tokenRequests}/${r.minimum}`).join(', '),
      met: dayMisses.length === 0 && day.every((r) => r.failures === 0),
    },
    {
      target: `Client overhead < ${CLIENT_TARGET_PCT} % of a local round-trip`,
      figure:
        `${client.overheadPct.toFixed(1)} %, ${client.overheadUs.toFixed(1)} µs (median of ${client.rounds} per-round differences); ` +
        `medians ${fmtUs(client.tokenbrokerUs)} vs plain ky ${fmtUs(client.plainKyUs)}`,
      met: client.overheadPct < CLIENT_TARGET_PCT,
    },
  ];
}

// ---------------------------------------------------------------------------------------------------
// Formatting

export function fmtNs(ns: number): string {
  if (ns >= 1e6) return `${(ns / 1e6).toFixed(2)} ms`;
  if (ns >= 1e4) return `${(ns / 1e3).toFixed(1)} µs`;
  if (ns >= 1e3) return `${(ns / 1e3).toFixed(2)} µs`;
  return `${ns.toFixed(1)} ns`;
}

function fmtUs(us: number): string {
  return `${us.toFixed(1)} µs`;
}

function fmtInt(n: number): string {
  return Math.round(n).toLocaleString('en-US');
}

function fmtRatio(r: number): string {
  return r >= 100 ? `${fmtInt(r)}×` : `${r.toFixed(2)}×`;
}

function table(head: readonly string[], rows: readonly (readonly string[])[], align?: readonly ('l' | 'r')[]): string {
  const sep = head.map((_, i) => (align?.[i] === 'r' ? '---:' : '---'));
  return [head, sep, ...rows].map((row) => `| ${row.join(' | ')} |`).join('\n');
}

/** The results as Markdown: used for latest.md and for the generated part of docs/performance.md. */
export function resultsMarkdown(results: Results, headingLevel = 2): string {
  const h = '#'.repeat(headingLevel);
  const { environment: env } = results;
  const out: string[] = [];
  out.push(
    `Run on ${env.date} — ${env.machine.cpu}, ${env.machine.cores} cores, ${(env.machine.memoryBytes / 2 ** 30).toFixed(1)} GiB, ` +
      `${env.machine.platform}/${env.machine.arch}, Node ${env.node}; load average at start ${env.machine.loadAverage.map((l) => l.toFixed(2)).join(' / ')}; ` +
      `the whole bench took ${env.durationSeconds.toFixed(0)} s.`,
  );
  out.push('');
  out.push(`${h} Targets`, '');
  out.push(
    table(
      ['target', 'result', 'figure'],
      results.targets.map((t) => [t.target, t.met ? '**met**' : '**missed**', t.figure + (t.note ? ` — ${t.note}` : '')]),
    ),
  );
  out.push('');

  out.push(`${h} 1. Warm hit (token already cached)`, '');
  out.push(
    table(
      ['library', 'call', 'ns/op', 'ops/s', '× floor', 'token requests per call'],
      results.warm.map((r) => [
        r.name === 'floor' ? '_floor_' : r.name,
        r.call.replace(/\|/g, '\\|'),
        fmtNs(r.nsPerOp),
        fmtInt(r.opsPerSec),
        fmtRatio(r.ratio),
        r.caches ? String(r.requestsPerCall) : `${r.requestsPerCall} (no cache)`,
      ]),
      ['l', 'l', 'r', 'r', 'r', 'r'],
    ),
  );
  out.push('');
  out.push(
    'ns/op is the median batch (1,000 awaited calls per batch for in-memory caches, 20 for MSAL, 1 for libraries ' +
      'that send a request per call) of the best of three interleaved rounds; the mean of the same round is in latest.json.',
  );
  out.push('');

  out.push(`${h} 2. Cold stampede: ${fmtInt(results.stampede[0]?.calls ?? 0)} concurrent calls on an empty cache`, '');
  out.push(
    table(
      ['library', 'token requests (server count)', 'time to last answer', 'failed calls'],
      results.stampede.map((r) => [
        r.name,
        fmtInt(r.tokenRequests),
        `${r.ms.toFixed(1)} ms${r.timedOut ? ' (timed out)' : ''}`,
        r.failures === 0 ? '0' : `${fmtInt(r.failures)} (${(r.firstError ?? '').replace(/\|/g, '\\|')})`,
      ]),
      ['l', 'r', 'r', 'l'],
    ),
  );
  out.push('');

  out.push(`${h} 3. A simulated day (fake clock, 24 h)`, '');
  out.push(
    table(
      ['credential', 'token lifetime', 'refresh lead', 'traffic', 'calls', 'token requests', 'minimum (refresh-ahead)', 'absolute floor'],
      results.day.map((r) => [
        r.credential,
        `${fmtInt(r.lifetimeSeconds)} s`,
        `${fmtInt(r.leadSeconds)} s`,
        r.traffic,
        fmtInt(r.calls),
        String(r.tokenRequests),
        String(r.minimum),
        String(r.absoluteFloor),
      ]),
      ['l', 'r', 'r', 'l', 'r', 'r', 'r', 'r'],
    ),
  );
  out.push('');
  out.push(
    'minimum = 1 + floor(86400 / (lifetime − lead)), lead = max(10 % of the lifetime, 60 s): with the default refresh-ahead a token is replaced ' +
      'when the lead remains, so each token serves lifetime − lead. absolute floor = ceil(86400 / lifetime): one token per full lifetime, which ' +
      'only a client that lets callers wait for a new token at every expiry can reach. Refresh-ahead spends the difference (3 more Alternative ' +
      'Payments tokens a day, 1 more Autopay token) so that no caller ever waits for a token after the first.',
  );
  out.push('');

  out.push(`${h} 4. Memory: heap per cached credential at ${fmtInt(results.memory[0]?.credentials ?? 0)} credentials`, '');
  out.push(
    table(
      ['library', 'bytes per credential', '× floor', 'what one credential is'],
      results.memory.map((r) => [
        r.name === 'floor' ? '_floor_' : r.name,
        Number.isFinite(r.bytesPerCredential) ? fmtInt(r.bytesPerCredential) : '—',
        Number.isFinite(r.bytesPerCredential) ? fmtRatio(r.bytesPerCredential / results.memory[0]!.bytesPerCredential) : '—',
        r.note ?? '',
      ]),
      ['l', 'r', 'r', 'l'],
    ),
  );
  out.push('');
  const breakdown = results.memory.find((r) => r.name === 'tokenbroker')?.breakdown;
  if (breakdown !== undefined) {
    out.push(
      `tokenbroker's figure, measured again in three steps: provider objects (\`defineProvider\`) ${fmtInt(breakdown.providers)} B, ` +
        `registrations (\`register\`: registration and counters) ${fmtInt(breakdown.registrations)} B, the warm cache (entry, token, ` +
        `resolved promise, LRU slot, issuance guard and ledger) ${fmtInt(breakdown.cachedTokens)} B per credential.`,
    );
    out.push('');
  }

  const c = results.client;
  out.push(`${h} 5. Client overhead (loopback API call)`, '');
  out.push(
    table(
      ['client', 'µs per request (median of rounds)', 'per-round medians (µs)'],
      [
        ['plain ky, fixed Authorization header', fmtUs(c.plainKyUs), c.plainRoundsUs.map((v) => v.toFixed(0)).join(', ')],
        ['tokens.client(id)', fmtUs(c.tokenbrokerUs), c.tokenbrokerRoundsUs.map((v) => v.toFixed(0)).join(', ')],
        ['overhead (median of the per-round differences)', `${c.overheadUs.toFixed(1)} µs = ${c.overheadPct.toFixed(1)} %`, ''],
      ],
      ['l', 'r', 'l'],
    ),
  );
  out.push('');

  if (results.sqlite !== undefined) out.push(sqliteMarkdown(results.sqlite, headingLevel));

  out.push(`${h} Versions`, '');
  out.push(
    table(
      ['package', 'version'],
      Object.entries(env.versions).map(([name, version]) => [name, version]),
    ),
  );
  out.push('');
  const notes = results.warm.filter((r) => r.note !== undefined);
  if (notes.length > 0) {
    out.push(`${h} How each peer was pointed at the loopback server`, '');
    for (const r of notes) out.push(`- **${r.name}**: ${r.note}`);
    out.push('');
  }
  return out.join('\n');
}

/** The console table: one line per library and measurement. */
export function printSummary(results: Results): void {
  const rows = results.warm.map((w) => {
    const s = results.stampede.find((r) => r.name === w.name);
    const m = results.memory.find((r) => r.name === w.name);
    return {
      library: w.name,
      'warm ns/op': Number(w.nsPerOp.toFixed(1)),
      'warm ops/s': Math.round(w.opsPerSec),
      '× floor': Number(w.ratio.toFixed(2)),
      'stampede requests': s?.tokenRequests ?? '',
      'stampede ms': s === undefined ? '' : Number(s.ms.toFixed(1)),
      'stampede failures': s?.failures ?? '',
      'heap B/credential': m === undefined || !Number.isFinite(m.bytesPerCredential) ? '' : Math.round(m.bytesPerCredential),
    };
  });
  console.table(rows);
  console.table(
    results.day.map((d) => ({
      credential: d.credential,
      traffic: d.traffic,
      calls: d.calls,
      'token requests': d.tokenRequests,
      minimum: d.minimum,
      'absolute floor': d.absoluteFloor,
    })),
  );
  console.table([
    {
      'plain ky µs': Number(results.client.plainKyUs.toFixed(1)),
      'tokens.client µs': Number(results.client.tokenbrokerUs.toFixed(1)),
      'overhead %': Number(results.client.overheadPct.toFixed(1)),
    },
  ]);
  console.table(results.targets.map((t) => ({ target: t.target, result: t.met ? 'met' : 'MISSED', figure: t.figure })));
}

// ---------------------------------------------------------------------------------------------------
// The chart

function escapeXml(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

/** Two panels of horizontal bars on log scales: warm-hit ns/op and stampede token requests. */
export function chartSvg(results: Results): string {
  const width = 1040;
  const labelWidth = 190;
  const panelWidth = (width - 2 * labelWidth - 100) / 2;
  const rowHeight = 26;
  const top = 70;
  const warm = results.warm;
  const stampede = results.stampede;
  const rows = Math.max(warm.length, stampede.length);
  const height = top + rows * rowHeight + 70;
  const parts: string[] = [];
  parts.push(
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="system-ui, -apple-system, Segoe UI, sans-serif" font-size="12">`,
    `<rect width="100%" height="100%" fill="#ffffff"/>`,
    `<text x="${width / 2}" y="22" text-anchor="middle" font-size="15" font-weight="600">tokenbroker benchmarks — ${escapeXml(results.environment.date.slice(0, 10))}, Node ${escapeXml(results.environment.node)}, ${escapeXml(results.environment.machine.cpu)}</text>`,
  );

  const panel = (
    x0: number,
    title: string,
    items: readonly { name: string; value: number; label: string }[],
    minDecade: number,
    maxDecade: number,
    unit: (decade: number) => string,
  ) => {
    const plotX = x0 + labelWidth;
    parts.push(`<text x="${plotX + panelWidth / 2}" y="${top - 30}" text-anchor="middle" font-size="13" font-weight="600">${escapeXml(title)}</text>`);
    const scale = (v: number) => ((Math.log10(Math.max(v, 10 ** minDecade)) - minDecade) / (maxDecade - minDecade)) * panelWidth;
    for (let d = minDecade; d <= maxDecade; d++) {
      const x = plotX + scale(10 ** d);
      parts.push(`<line x1="${x.toFixed(1)}" y1="${top - 8}" x2="${x.toFixed(1)}" y2="${top + rows * rowHeight}" stroke="#e2e2e2"/>`);
      parts.push(`<text x="${x.toFixed(1)}" y="${top + rows * rowHeight + 16}" text-anchor="middle" fill="#666">${escapeXml(unit(d))}</text>`);
    }
    items.forEach((item, i) => {
      const y = top + i * rowHeight;
      const w = Math.max(2, scale(item.value));
      const colour = item.name === 'tokenbroker' ? '#1f77b4' : item.name === 'floor' ? '#7f7f7f' : '#ff7f0e';
      parts.push(`<text x="${plotX - 8}" y="${y + 15}" text-anchor="end">${escapeXml(item.name)}</text>`);
      parts.push(`<rect x="${plotX}" y="${y + 3}" width="${w.toFixed(1)}" height="${rowHeight - 8}" fill="${colour}" rx="2"/>`);
      const inside = w > panelWidth - 70;
      parts.push(
        `<text x="${(inside ? plotX + w - 4 : plotX + w + 4).toFixed(1)}" y="${y + 15}" text-anchor="${inside ? 'end' : 'start'}" fill="${inside ? '#fff' : '#222'}">${escapeXml(item.label)}</text>`,
      );
    });
  };

  const nsMax = Math.ceil(Math.log10(Math.max(...warm.map((r) => r.nsPerOp)) * 1.5));
  panel(
    20,
    'Warm hit: ns per call (log scale, lower is better)',
    warm.map((r) => ({ name: r.name, value: r.nsPerOp, label: `${fmtNs(r.nsPerOp)} (${fmtRatio(r.ratio)})` })),
    1,
    Math.max(nsMax, 4),
    (d) => (d >= 6 ? `${10 ** (d - 6)} ms` : d >= 3 ? `${10 ** (d - 3)} µs` : `${10 ** d} ns`),
  );
  const reqMax = Math.ceil(Math.log10(Math.max(10, ...stampede.map((r) => r.tokenRequests)) * 1.5));
  panel(
    20 + labelWidth + panelWidth + 40,
    `Stampede: token requests for ${fmtInt(stampede[0]?.calls ?? 0)} calls (log scale)`,
    stampede.map((r) => ({ name: r.name, value: r.tokenRequests, label: `${fmtInt(r.tokenRequests)} in ${r.ms.toFixed(0)} ms` })),
    0,
    reqMax,
    (d) => fmtInt(10 ** d),
  );
  parts.push(
    `<text x="${width / 2}" y="${height - 18}" text-anchor="middle" fill="#666">blue: tokenbroker · grey: floor (async Map lookup after a Date.now() check) · orange: peers, same loopback token server · npm run bench</text>`,
    '</svg>',
  );
  return `${parts.join('\n')}\n`;
}
