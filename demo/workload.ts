/**
 * The workload: a few services of one application calling both payment APIs, the same whichever
 * client they are given (tokenbroker's, or a naive one). Only the client differs between the two runs.
 *
 *   billing-sync    pages through every Alternative Payments customer, over and over (2 workers)
 *   club-signup     joins people to the Autopay customer club, one after another (2 workers)
 *   storefront      every 750 ms, a burst of 40 concurrent calls: 20 to each provider
 */

/** Which API a call went to. */
export type Api = 'ap' | 'autopay';

/** A page of Alternative Payments customers, as the API answers. */
export interface CustomerPage {
  data: Array<{ id: string }>;
  end_cursor: string | null;
  has_next_page: boolean;
}

/** A failed API call: the HTTP status, or 0 when no response arrived. */
export class ApiCallError extends Error {
  readonly status: number;
  constructor(status: number, message: string) {
    super(message);
    this.status = status;
  }
}

/** What the services need from a client: one method per API call. Both throw {@link ApiCallError}. */
export interface PaymentApis {
  listCustomers(query: { limit: number; after?: string | undefined }): Promise<CustomerPage>;
  joinClub(person: { phone_number: string; first_name?: string }): Promise<{ member_id: string }>;
}

/** Calls made, per API: successes and failures by status ("0" = no response). */
export interface CallCounts {
  ok: number;
  failed: number;
  failedByStatus: Record<string, number>;
}

/** Counters of a workload run. */
export interface WorkloadCounts {
  ap: CallCounts;
  autopay: CallCounts;
}

export function emptyCounts(): WorkloadCounts {
  return { ap: { ok: 0, failed: 0, failedByStatus: {} }, autopay: { ok: 0, failed: 0, failedByStatus: {} } };
}

/** Total calls made, ok or not. */
export function totalCalls(counts: WorkloadCounts): number {
  return counts.ap.ok + counts.ap.failed + counts.autopay.ok + counts.autopay.failed;
}

/** Options of {@link runWorkload}. */
export interface WorkloadOptions {
  /** How long the services run. */
  readonly durationMs: number;
  /** Checked between calls: the run ends early when it says so. */
  readonly stopWhen?: () => boolean;
  /** Where to count; a fresh set by default. */
  readonly counts?: WorkloadCounts;
  /** Pause after a failed call, as any client would before trying again (ms). */
  readonly pauseAfterFailureMs?: number;
}

const BURST_EVERY_MS = 750;
const BURST_SIZE = 20;

/** Runs the services against `apis` until the time is up (or `stopWhen`); resolves with the counts. */
export async function runWorkload(apis: PaymentApis, options: WorkloadOptions): Promise<WorkloadCounts> {
  const counts = options.counts ?? emptyCounts();
  const endAt = performance.now() + options.durationMs;
  const pauseMs = options.pauseAfterFailureMs ?? 20;
  const running = () => performance.now() < endAt && options.stopWhen?.() !== true;
  let person = 0;

  async function call<T>(api: Api, work: () => Promise<T>): Promise<T | undefined> {
    try {
      const result = await work();
      counts[api].ok++;
      return result;
    } catch (error) {
      const status = error instanceof ApiCallError ? error.status : 0;
      counts[api].failed++;
      counts[api].failedByStatus[status] = (counts[api].failedByStatus[status] ?? 0) + 1;
      if (pauseMs > 0) await sleep(pauseMs);
      return undefined;
    }
  }

  const nextPerson = () => {
    person += 1;
    return { phone_number: `+47${String(40_000_000 + (person % 10_000_000))}`, first_name: `Member${person}` };
  };

  async function billingSync(): Promise<void> {
    while (running()) {
      let after: string | undefined;
      do {
        const page = await call('ap', () => apis.listCustomers({ limit: 50, after }));
        after = page?.has_next_page === true && page.end_cursor !== null ? page.end_cursor : undefined;
      } while (after !== undefined && running());
    }
  }

  async function clubSignup(): Promise<void> {
    while (running()) await call('autopay', () => apis.joinClub(nextPerson()));
  }

  async function storefront(): Promise<void> {
    while (running()) {
      const burst: Array<Promise<unknown>> = [];
      for (let i = 0; i < BURST_SIZE; i++) {
        burst.push(call('ap', () => apis.listCustomers({ limit: 10 })));
        burst.push(call('autopay', () => apis.joinClub(nextPerson())));
      }
      await Promise.all([...burst, sleep(BURST_EVERY_MS)]);
    }
  }

  await Promise.all([billingSync(), billingSync(), clubSignup(), clubSignup(), storefront()]);
  return counts;
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
