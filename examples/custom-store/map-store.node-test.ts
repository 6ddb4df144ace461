/**
 * The same proof with Node's own test runner, no test framework installed:
 * `node --import tsx --test map-store.node-test.ts` (or `node --test` on the compiled JavaScript).
 */
import { describe, it } from 'node:test';
import { storeConformance } from 'tokenbroker/testing';
import { MapBacking, mapStore } from './map-store.js';

const backings = new Map<string, MapBacking>();
const backing = (namespace: string) => backings.get(namespace) ?? backings.set(namespace, new MapBacking()).get(namespace)!;

storeConformance({ name: 'mapStore', create: (namespace) => mapStore(backing(namespace)), it, describe });
