/**
 * Timers and abort signals, a leaf: a sleep that an abort ends, a per-attempt timeout signal, the one
 * deadline around a promise, and a race of a promise against a signal. Built on `setTimeout` so fake timers in tests drive them all.
 */

/** Waits `ms`, or less if `signal` aborts (then rejects with its reason). */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) {
      reject(signal.reason as Error);
      return;
    }
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    const onAbort = () => {
      clearTimeout(timer);
      reject(signal!.reason as Error);
    };
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

/**
 * A signal that aborts after `timeoutMs` (reason: a `TimeoutError`) or when `parent` aborts. Built on
 * `setTimeout` rather than `AbortSignal.timeout` so fake timers in tests drive it; `dispose` clears it.
 */
export function attemptSignal(timeoutMs: number, parent: AbortSignal): { signal: AbortSignal; dispose(): void } {
  const controller = new AbortController();
  const onParentAbort = () => controller.abort(parent.reason);
  if (parent.aborted) controller.abort(parent.reason);
  else parent.addEventListener('abort', onParentAbort, { once: true });
  const timer = setTimeout(() => {
    const reason = new Error(`no answer within ${timeoutMs} ms`);
    reason.name = 'TimeoutError';
    controller.abort(reason);
  }, timeoutMs);
  return {
    signal: controller.signal,
    dispose() {
      clearTimeout(timer);
      parent.removeEventListener('abort', onParentAbort);
    },
  };
}

/**
 * The one deadline helper: `promise`, or a rejection with `onTimeout()` if it has not settled within
 * `ms`. The timer is cleared when it settles, and a late rejection of `promise` is swallowed (it
 * must not become an unhandled rejection once nobody waits for it).
 */
export function withDeadline<T>(promise: Promise<T>, ms: number, onTimeout: () => unknown): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const timer = setTimeout(() => {
      promise.catch(() => {});
      reject(onTimeout() as Error);
    }, ms);
    promise.then(
      (value) => {
        clearTimeout(timer);
        resolve(value);
      },
      (error: unknown) => {
        clearTimeout(timer);
        reject(error as Error);
      },
    );
  });
}

/** `promise`, or a rejection with the signal's reason as soon as it aborts. */
export function raceAbort<T>(promise: Promise<T>, signal: AbortSignal): Promise<T> {
  if (signal.aborted) return Promise.reject(signal.reason as Error);
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(signal.reason as Error);
    signal.addEventListener('abort', onAbort, { once: true });
    promise.then(
      (value) => {
        signal.removeEventListener('abort', onAbort);
        resolve(value);
      },
      (error: unknown) => {
        signal.removeEventListener('abort', onAbort);
        reject(error as Error);
      },
    );
  });
}
