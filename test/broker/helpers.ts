/**
 * Shared setup of the broker tests: an emulator, a config pointing at it, a broker listening on a free
 * port, and every log line and answer kept so the tests can sweep them for secrets.
 */
import { SAMPLE_CLIENTS, startEmulator, type Emulator, type EmulatorOptions } from 'tokenbroker/emulator';
import { createBroker, keyDigest, type Broker, type BrokerConfig } from '../../src/apps/broker/index.js';

export const [AP_CLIENT, AUTOPAY_CLIENT] = SAMPLE_CLIENTS;

/** Consumer keys: long random-looking strings, so a leak is unmistakable. */
export const KEYS = {
  billing: 'tbk_billing_7f3a9c1e5b2d8046a1c3e5f7092b4d6e',
  payouts: 'tbk_payouts_0d9e8f7a6b5c4d3e2f1a0b9c8d7e6f5a',
} as const;

export const ENV = {
  AP_SECRET: AP_CLIENT.clientSecret,
  AUTOPAY_SECRET: AUTOPAY_CLIENT.clientSecret,
  WRONG_SECRET: 'wrong-secret-5e4d3c2b1a09f8e7d6c5b4a3',
};

export interface Answer {
  readonly status: number;
  readonly headers: Headers;
  readonly text: string;
  /** Parsed body (JSON answers). */
  readonly json: Record<string, unknown>;
}

export interface BrokerHarness {
  readonly emulator: Emulator;
  readonly broker: Broker;
  readonly url: string;
  /** The ops listener (`/metrics`, `/healthz`, `/readyz`). */
  readonly opsUrl: string;
  /** Every log line the broker wrote. */
  readonly logs: string[];
  /** Every answer `get` received. */
  readonly answers: Answer[];
  /** Asks the service listener, or the ops listener for `/metrics`, `/healthz` and `/readyz`. */
  get(path: string, headers?: Record<string, string>): Promise<Answer>;
  post(path: string, body: unknown, headers?: Record<string, string>): Promise<Answer>;
  close(): Promise<void>;
}

/** The config the tests start from: ap and autopay on the emulator, plus a provider with a wrong secret. */
export function baseConfig(emulator: Emulator, overrides: Partial<BrokerConfig> = {}): BrokerConfig {
  return {
    listen: { host: '127.0.0.1', port: 0 },
    ops: { host: '127.0.0.1', port: 0 },
    store: { type: 'memory' },
    providers: {
      ap: { type: 'alternative-payments', clientId: AP_CLIENT.clientId, clientSecretEnv: 'AP_SECRET', baseUrl: emulator.alternativePaymentsBaseUrl },
      autopay: {
        type: 'autopay',
        clientId: AUTOPAY_CLIENT.clientId,
        clientSecretEnv: 'AUTOPAY_SECRET',
        tokenUrl: emulator.autopayTokenUrl,
        apiBaseUrl: emulator.autopayApiBaseUrl,
      },
      'ap-wrong': { type: 'alternative-payments', clientId: AP_CLIENT.clientId, clientSecretEnv: 'WRONG_SECRET', baseUrl: emulator.alternativePaymentsBaseUrl },
    },
    consumers: [
      { name: 'billing', keySha256: keyDigest(KEYS.billing), providers: ['ap', 'autopay', 'ap-wrong'] },
      { name: 'payouts', keySha256: keyDigest(KEYS.payouts), providers: ['autopay'] },
    ],
    tokens: { retry: { attempts: 1 }, failureCooldownMs: 0 },
    ...overrides,
  };
}

export async function startHarness(options: { emulator?: EmulatorOptions; config?: (emulator: Emulator) => BrokerConfig } = {}): Promise<BrokerHarness> {
  const emulator = await startEmulator({ ban: false, alternativePaymentsRateLimitPerSecond: 0, ...options.emulator });
  const logs: string[] = [];
  const answers: Answer[] = [];
  const config = options.config?.(emulator) ?? baseConfig(emulator);
  const broker = createBroker(config, { env: ENV, logDestination: { write: (line: string) => logs.push(line) } });
  const url = await broker.listen();
  return {
    emulator,
    broker,
    url,
    opsUrl: broker.opsUrl!,
    logs,
    answers,
    get: (path, headers = {}) => ask(`${/^\/(metrics|healthz|readyz)/.test(path) ? broker.opsUrl! : url}${path}`, { headers }),
    post: (path, body, headers = {}) =>
      ask(`${url}${path}`, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: JSON.stringify(body) }),
    async close() {
      await broker.close();
      await emulator.close();
    },
  };
  async function ask(target: string, init: RequestInit): Promise<Answer> {
    const response = await fetch(target, init);
    const text = await response.text();
    let json: Record<string, unknown> = {};
    try {
      json = JSON.parse(text) as Record<string, unknown>;
    } catch {
      // not JSON (metrics)
    }
    const answer = { status: response.status, headers: response.headers, text, json };
    answers.push(answer);
    return answer;
  }
}

export const bearer = (key: string) => ({ authorization: `Bearer ${key}` });
