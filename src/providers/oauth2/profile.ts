/**
 * The parts of `oauth2()` providers that do not depend on the credential — settings, the metadata
 * source (and the discovered metadata it holds), the transport — made once per distinct server and
 * options and shared by every credential that has them. A broker with ten thousand clients of one
 * server keeps one of these, not ten thousand. Also what `'auto'` learnt about each token endpoint.
 *
 * Interned weakly: a profile no provider holds any more is collected and forgotten.
 */
import { discoveredMetadata, fixedMetadata, type MetadataSource } from './metadata.js';
import type { SharedSettings } from './options.js';
import { transportFetch, type FetchLike } from './transport.js';

/** What credentials of one server and option set share. Immutable once made. */
export interface Profile {
  readonly settings: SharedSettings;
  readonly metadata: MetadataSource;
  /** The transport when the credential brings none of its own (`tls`). */
  readonly transport: FetchLike;
}

const profiles = new Map<string, WeakRef<Profile>>();
const sources = new Map<string, WeakRef<MetadataSource>>();
const forget = new FinalizationRegistry<{ map: Map<string, WeakRef<object>>; key: string }>(({ map, key }) => {
  const ref = map.get(key);
  if (ref !== undefined && ref.deref() === undefined) map.delete(key);
});

/** Ids for functions and dispatchers, which cannot go into a string key themselves. */
const objectIds = new WeakMap<object, number>();
let nextObjectId = 1;
function objectId(value: object | undefined): number {
  if (value === undefined) return 0;
  let id = objectIds.get(value);
  if (id === undefined) {
    id = nextObjectId++;
    objectIds.set(value, id);
  }
  return id;
}

function interned<T extends object>(map: Map<string, WeakRef<T>>, key: string, make: () => T): T {
  const existing = map.get(key)?.deref();
  if (existing !== undefined) return existing;
  const made = make();
  map.set(key, new WeakRef(made));
  forget.register(made, { map: map as Map<string, WeakRef<object>>, key });
  return made;
}

/**
 * What `'auto'` learnt, per token endpoint: that it took the secret in the body after refusing Basic.
 * Only that is kept: Basic working for one client id says nothing about the next (a server that does
 * not decode Basic takes `interop-client` but not `team:payments`), so Basic stays first, with its one
 * fallback, until the body is known to work. Bounded, oldest forgotten first; forgetting costs one
 * more Basic attempt. Kept here with the rest of the shared state (forgetSharedState clears it), not
 * in auth.ts, which only the first token request loads.
 */
const learnt = new Map<string, 'client_secret_post'>();
const MAX_LEARNT = 1024;

/** Records that `tokenEndpoint` took the secret in the body. */
export function rememberMethod(tokenEndpoint: string, method: 'client_secret_post'): void {
  if (learnt.get(tokenEndpoint) === method) return;
  learnt.delete(tokenEndpoint);
  if (learnt.size >= MAX_LEARNT) learnt.delete(learnt.keys().next().value!);
  learnt.set(tokenEndpoint, method);
}

/** What `'auto'` learnt about `tokenEndpoint`, if anything. */
export function learntMethod(tokenEndpoint: string): 'client_secret_post' | undefined {
  return learnt.get(tokenEndpoint);
}

/** Forgets every shared profile, discovered document and learnt auth method (tests: a cold process). */
export function forgetSharedState(): void {
  profiles.clear();
  sources.clear();
  learnt.clear();
}

/** The shared profile for these settings. */
export function profileFor(settings: SharedSettings): Profile {
  const transportKey = `${objectId(settings.fetch)}/${objectId(settings.dispatcher)}`;
  const { fetch: _fetch, dispatcher: _dispatcher, ...plain } = settings;
  const key = `${transportKey} ${JSON.stringify(plain)}`;
  return interned(profiles, key, () => {
    const transport = transportFetch({ fetch: settings.fetch, dispatcher: settings.dispatcher });
    const metadata =
      settings.tokenUrl !== undefined
        ? fixedMetadata(settings.tokenUrl)
        : interned(sources, `${transportKey} ${settings.metadataMaxAgeMs} ${settings.issuer!}`, () =>
            discoveredMetadata(settings.issuer!, settings.metadataMaxAgeMs),
          );
    return Object.freeze({ settings: Object.freeze(settings), metadata, transport });
  });
}
