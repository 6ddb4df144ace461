import type { IncomingMessage, ServerResponse } from 'node:http';
import type { EmulatorState } from './state.js';
import { parseJsonObject, sendJson, type RequestBody } from './wire.js';

// `/_emulator/*`: the same controls as the `Emulator` object, over HTTP, for tests that run the
// emulator in another process (`tokenbroker emulate`). Nothing here reveals a secret or a token.

function controlError(response: ServerResponse, status: number, message: string): void {
  sendJson(response, status, { error: 'invalid_request', message });
}

/** An optional JSON object body: empty means `{}`. */
function optionalJsonObject(request: IncomingMessage, body: RequestBody): Record<string, unknown> | string {
  if (body.tooLarge) return 'Request body too large';
  if (body.text.trim() === '') return {};
  return parseJsonObject(body.text) ?? 'Request body must be a JSON object';
}

/** `GET /_emulator/stats`. */
export function handleStats(state: EmulatorState, _request: IncomingMessage, response: ServerResponse): void {
  sendJson(response, 200, state.stats(), { 'cache-control': 'no-store' });
}

/** `POST /_emulator/reset`. */
export function handleReset(state: EmulatorState, _request: IncomingMessage, response: ServerResponse): void {
  state.reset();
  sendJson(response, 200, { ok: true });
}

/** `POST /_emulator/revoke` with an optional `{ "clientId": "…" }`. */
export function handleRevoke(state: EmulatorState, request: IncomingMessage, response: ServerResponse, body: RequestBody): void {
  const json = optionalJsonObject(request, body);
  if (typeof json === 'string') return controlError(response, 400, json);
  const { clientId } = json;
  if (clientId !== undefined && typeof clientId !== 'string') return controlError(response, 400, 'clientId must be a string');
  state.revokeTokens(clientId);
  sendJson(response, 200, { ok: true });
}

/** `POST /_emulator/configure` with a knobs patch, validated like `Emulator.configure`. */
export function handleConfigure(state: EmulatorState, request: IncomingMessage, response: ServerResponse, body: RequestBody): void {
  const json = optionalJsonObject(request, body);
  if (typeof json === 'string') return controlError(response, 400, json);
  try {
    state.configure(json);
  } catch (error) {
    return controlError(response, 400, error instanceof Error ? error.message : 'Invalid knobs');
  }
  sendJson(response, 200, { ok: true, knobs: state.knobs });
}

/**
 * `POST /_emulator/rotate-secret` with `{ "clientId", "clientSecret", "graceMs"?, "provider"? }`: the
 * client's secret changes; the old one is refused at once, or after `graceMs`.
 */
export function handleRotateSecret(state: EmulatorState, request: IncomingMessage, response: ServerResponse, body: RequestBody): void {
  const json = optionalJsonObject(request, body);
  if (typeof json === 'string') return controlError(response, 400, json);
  const { clientId, clientSecret, graceMs, provider } = json;
  if (typeof clientId !== 'string' || clientId === '') return controlError(response, 400, 'clientId must be a non-empty string');
  if (typeof clientSecret !== 'string' || clientSecret === '') return controlError(response, 400, 'clientSecret must be a non-empty string');
  if (graceMs !== undefined && (typeof graceMs !== 'number' || !Number.isInteger(graceMs) || graceMs < 0)) {
    return controlError(response, 400, 'graceMs must be a non-negative integer');
  }
  if (provider !== undefined && provider !== 'alternative-payments' && provider !== 'autopay') {
    return controlError(response, 400, 'provider must be "alternative-payments" or "autopay"');
  }
  try {
    state.clients.rotateSecret({ clientId, clientSecret, graceMs, provider });
  } catch (error) {
    return controlError(response, 404, error instanceof Error ? error.message : 'No such client');
  }
  sendJson(response, 200, { ok: true });
}
