/**
 * Registering sections with the user's test runner, and running one test: a fresh namespace, the
 * stores it opens closed afterwards whatever the outcome, and its waits aborted.
 */
import type { Fixture, Section } from './harness.js';

/** The test runner's `it` (or `test`): registers one test whose body returns a promise. */
export type ConformanceTest = (name: string, body: () => Promise<void>) => unknown;

/** The test runner's `describe` (or `suite`): groups the tests registered inside `body`. */
export type ConformanceGroup = (name: string, body: () => void) => unknown;

/** What registering needs: the runner's functions, a name, and how to make and close a store. */
export interface Registration<T> {
  readonly name: string;
  readonly it: ConformanceTest;
  readonly describe?: ConformanceGroup | undefined;
  create(namespace: string): T | Promise<T>;
  close(store: T): Promise<void>;
}

let runs = 0;

/** Registers each section's tests, grouped under `name` when the runner's `describe` is given. */
export function registerSections<T>(registration: Registration<T>, sections: ReadonlyArray<Section<T>>): void {
  const { name, it, describe } = registration;
  // Unique across runs and processes sharing one backing (parallel test files on one Redis).
  const run = `tbc-${process.pid.toString(36)}-${(runs++).toString(36)}${Math.random().toString(36).slice(2, 6)}`;
  let tests = 0;
  const all = () => {
    for (const section of sections) {
      section((title, body) => {
        const namespace = `${run}-${(tests++).toString(36)}`;
        it(describe === undefined ? `${name}: ${title}` : title, () => runTest(registration, namespace, body));
      });
    }
  };
  if (describe === undefined) all();
  else describe(name, all);
}

async function runTest<T>(registration: Registration<T>, namespace: string, body: (fixture: Fixture<T>) => Promise<void>): Promise<void> {
  const open = new Set<T>();
  const ended = new AbortController();
  const fixture: Fixture<T> = {
    async open() {
      const store = await registration.create(namespace);
      open.add(store);
      return store;
    },
    async close(store) {
      if (open.delete(store)) await registration.close(store);
    },
    signal: ended.signal,
  };
  let failure: { readonly error: unknown } | undefined;
  try {
    await body(fixture);
  } catch (error) {
    failure = { error };
  }
  ended.abort(new Error('the conformance test ended'));
  const closing = await Promise.allSettled([...open].map((store) => registration.close(store)));
  open.clear();
  if (failure !== undefined) throw failure.error;
  // A store whose close() fails fails the test that closed it.
  for (const result of closing) if (result.status === 'rejected') throw result.reason;
}
