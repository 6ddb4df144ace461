/** A customer as Alternative Payments' `GET /customers` lists it (the fields the emulator serves). */
export interface Customer {
  id: string;
  name: string;
  email: string;
  created_at: string;
}

/** One cursor page, in the provider's list shape. */
export interface CustomerPage {
  data: Customer[];
  start_cursor: string | null;
  end_cursor: string | null;
  has_next_page: boolean;
  has_previous_page: boolean;
}

/** How many customers the emulator serves. */
export const CUSTOMER_COUNT = 250;
/** `limit` when the query has none, as the provider documents. */
export const DEFAULT_PAGE_LIMIT = 100;
/** The largest `limit` accepted; more is a 400. */
export const MAX_PAGE_LIMIT = 100;

const FIRST_NAMES = ['Ada', 'Bjorn', 'Chen', 'Dara', 'Emil', 'Farah', 'Goran', 'Hana', 'Ines', 'Jonas', 'Kemal', 'Lea'];
const LAST_NAMES = ['Andersen', 'Brooks', 'Costa', 'Dubois', 'Eriksen', 'Fischer', 'Garcia', 'Horvat', 'Ivanova', 'Jensen'];
const COMPANIES = ['Acme IT', 'Northwind MSP', 'Bluefin Networks', 'Cedar Systems', 'Delta Support', 'Evergreen Tech'];

// Fixed seed and base date: every emulator, on every machine, serves the same list, so tests can
// pin exact values.
const SEED = 0x7b0c3e11;
const FIRST_CREATED_AT = Date.UTC(2024, 0, 2, 9, 0, 0);

/** The seeded customer list, oldest first (the order the cursors walk). */
export const CUSTOMERS: readonly Customer[] = Object.freeze(buildCustomers());

function buildCustomers(): Customer[] {
  const random = mulberry32(SEED);
  const pick = <T>(list: readonly T[]): T => list[Math.floor(random() * list.length)] as T;
  let createdAt = FIRST_CREATED_AT;
  const customers: Customer[] = [];
  for (let index = 0; index < CUSTOMER_COUNT; index += 1) {
    const first = pick(FIRST_NAMES);
    const last = pick(LAST_NAMES);
    const company = pick(COMPANIES);
    const idSuffix = Math.floor(random() * 0xffffffff)
      .toString(16)
      .padStart(8, '0');
    createdAt += Math.floor(random() * 36 * 3600_000) + 60_000;
    customers.push({
      id: `cus_${String(index + 1).padStart(4, '0')}${idSuffix}`,
      name: `${first} ${last} (${company})`,
      email: `${first}.${last}.${index + 1}@example.com`.toLowerCase(),
      created_at: new Date(createdAt).toISOString(),
    });
  }
  return customers;
}

/** A small, well-known PRNG: deterministic per seed, good enough for sample data. */
function mulberry32(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const POSITION_BY_ID = new Map(CUSTOMERS.map((customer, index) => [customer.id, index]));

/** The query of a list call, as raw strings from the URL. */
export interface PageQuery {
  limit: string | null;
  after: string | null;
  before: string | null;
}

/**
 * One page of customers. Cursors are customer ids: `after` starts just past one, `before` ends just
 * short of one (the `limit` items nearest to it). A bad query answers a message for a 400.
 */
export function pageOfCustomers(query: PageQuery): { ok: true; page: CustomerPage } | { ok: false; message: string } {
  let limit = DEFAULT_PAGE_LIMIT;
  if (query.limit !== null) {
    if (!/^\d{1,4}$/.test(query.limit) || Number(query.limit) < 1 || Number(query.limit) > MAX_PAGE_LIMIT) {
      return { ok: false, message: `limit must be an integer from 1 to ${MAX_PAGE_LIMIT}` };
    }
    limit = Number(query.limit);
  }
  if (query.after !== null && query.before !== null) {
    return { ok: false, message: 'after and before cannot be used together' };
  }

  let start = 0;
  let end = Math.min(limit, CUSTOMERS.length);
  if (query.after !== null) {
    const position = POSITION_BY_ID.get(query.after);
    if (position === undefined) return { ok: false, message: 'after is not a valid cursor' };
    start = position + 1;
    end = Math.min(start + limit, CUSTOMERS.length);
  } else if (query.before !== null) {
    const position = POSITION_BY_ID.get(query.before);
    if (position === undefined) return { ok: false, message: 'before is not a valid cursor' };
    end = position;
    start = Math.max(0, end - limit);
  }

  const data = CUSTOMERS.slice(start, end).map((customer) => ({ ...customer }));
  return {
    ok: true,
    page: {
      data,
      start_cursor: data[0]?.id ?? null,
      end_cursor: data.at(-1)?.id ?? null,
      has_next_page: end < CUSTOMERS.length,
      has_previous_page: start > 0,
    },
  };
}
