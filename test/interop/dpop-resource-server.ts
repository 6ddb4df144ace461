/**
 * A loopback resource server that verifies DPoP proofs (RFC 9449 §7) with jose, against oidc-provider's
 * introspection. Used by the oauth2 interop test and the broker proxy's DPoP test.
 */
import { createHash, randomBytes } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { calculateJwkThumbprint, EmbeddedJWK, jwtVerify } from 'jose';

/**
 * A resource server that checks DPoP as RFC 9449 §7 says: `Authorization: DPoP <token>`, a proof signed
 * by the key in its header, `htm`/`htu` of this request, `ath` of this token, a nonce it issued, a jti
 * never seen, and a token that oidc-provider's introspection says is active and bound to that key.
 */
export async function startDpopResourceServer(oidc: { introspect(token: string): Promise<Record<string, unknown>> }) {
  const nonce = randomBytes(16).toString('base64url');
  const jtis: string[] = [];
  let challenges = 0;
  let rejectNext = false;
  const server: Server = createServer((req, res) => {
    void handle(req, res).catch((error: unknown) => reply(res, 400, { error: String(error) }));
  });
  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    const authorization = req.headers.authorization ?? '';
    const proof = req.headers.dpop;
    if (!authorization.startsWith('DPoP ') || typeof proof !== 'string') return reply(res, 401, { error: 'invalid_token' }, 'DPoP error="invalid_token"');
    const token = authorization.slice(5);
    const { payload, protectedHeader } = await jwtVerify(proof, EmbeddedJWK, { typ: 'dpop+jwt', maxTokenAge: '60 s' });
    const htu = `http://${req.headers.host}${req.url!.split('?')[0]}`;
    if (payload.htm !== req.method || payload.htu !== htu) return reply(res, 401, { error: 'invalid_dpop_proof' }, 'DPoP error="invalid_dpop_proof"');
    if (payload.ath !== createHash('sha256').update(token).digest('base64url'))
      return reply(res, 401, { error: 'invalid_dpop_proof' }, 'DPoP error="invalid_dpop_proof"');
    if (jtis.includes(payload.jti as string)) return reply(res, 401, { error: 'invalid_dpop_proof' }, 'DPoP error="invalid_dpop_proof"');
    jtis.push(payload.jti as string);
    if (payload.nonce !== nonce) {
      challenges++;
      res.setHeader('dpop-nonce', nonce);
      return reply(res, 401, { error: 'use_dpop_nonce' }, 'DPoP error="use_dpop_nonce"');
    }
    const introspection = await oidc.introspect(token);
    const bound = (introspection.cnf as { jkt?: string } | undefined)?.jkt === (await calculateJwkThumbprint(protectedHeader.jwk!));
    if (introspection.active !== true || !bound || rejectNext) {
      rejectNext = false;
      return reply(res, 401, { error: 'invalid_token' }, 'DPoP error="invalid_token"');
    }
    const body = chunks.length > 0 ? (JSON.parse(Buffer.concat(chunks).toString('utf8')) as unknown) : undefined;
    reply(res, 200, { ok: true, method: req.method, body });
  }
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    jtis,
    nonceChallenges: () => challenges,
    rejectNextToken: () => {
      rejectNext = true;
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

function reply(res: ServerResponse, status: number, body: unknown, challenge?: string): void {
  res.writeHead(status, { 'content-type': 'application/json', ...(challenge === undefined ? {} : { 'www-authenticate': challenge }) });
  res.end(JSON.stringify(body));
}
