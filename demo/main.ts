/**
 * `npm run demo`: tokenbroker's main job, offline. Starts the emulator of both providers, runs a
 * realistic workload through tokenbroker, then the same workload through a naive client, and prints
 * what each cost. Exits non-zero if tokenbroker got banned or any number is off.
 */
import { formatSummary } from './report.js';
import { runDemo } from './run-demo.js';

const log = (line: string) => process.stdout.write(`${line}\n`);

try {
  log('tokenbroker demo — both payment providers emulated on loopback, nothing leaves this machine');
  const summary = await runDemo({ log });
  for (const line of formatSummary(summary)) log(line);
  log('');
  if (summary.problems.length > 0) {
    for (const problem of summary.problems) process.stderr.write(`demo: FAILED: ${problem}\n`);
    process.exitCode = 1;
  } else {
    log(
      `ok: tokenbroker was never banned and took ${summary.tokenbroker.tokensIssued.ap.total + summary.tokenbroker.tokensIssued.autopay.total} tokens; ` +
        `the naive client was banned. Demo took ${(summary.durationMs / 1000).toFixed(1)} s.`,
    );
  }
} catch (error) {
  process.stderr.write(`demo: FAILED: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
  process.exitCode = 1;
}
