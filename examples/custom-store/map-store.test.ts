/**
 * Proving a custom store with the conformance suite, in vitest: one call. Stores made with one
 * `namespace` must share their data (here: one backing), as two processes on one database do.
 */
import { describe, it } from 'vitest';
import { storeConformance } from 'tokenbroker/testing';
import { MapBacking, mapStore } from './map-store.js';

const backings = new Map<string, MapBacking>();
const backing = (namespace: string) => backings.get(namespace) ?? backings.set(namespace, new MapBacking()).get(namespace)!;

storeConformance({ name: 'mapStore', create: (namespace) => mapStore(backing(namespace)), it, describe });
