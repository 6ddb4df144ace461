/**
 * The parts of `oauth2()` providers that do not depend on the credential — settings, the metadata
 * source (and the discovered metadata it holds), the transport — made once per distinct server and
 * options and shared by every credential that has them. A broker with ten thousand clients of one
 * server keeps one of these, not ten thousand.
 *
 * Interned weakly: a profile no provider holds any more is collected and forgotten.
 */
import { forgetLearntMethods } from './auth.js';
import { discoveredMetadata, fixedMetadata, type MetadataSource } from './discovery.js';
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

/** Forgets every shared profile, discovered document and learnt auth method (tests: a cold process). */
export function forgetSharedState(): void {
  profiles.clear();
  sources.clear();
  forgetLearntMethods();
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
