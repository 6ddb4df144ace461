/**
 * The memory store against the sections of the store conformance suite that apply to a store only one
 * process sees (tokens, compare-and-delete, the ledger; see src/stores/conformance/local.ts), and the
 * manager-level suite.
 */
import { describe, it } from 'vitest';
import { memoryStore } from '../../src/index.js';
import { localStoreConformance } from '../../src/stores/conformance/local.js';
import { managerConformance } from './conformance.js';

localStoreConformance({ name: 'memoryStore: store conformance', create: () => memoryStore(), it, describe });

managerConformance('memoryStore', () => memoryStore());
