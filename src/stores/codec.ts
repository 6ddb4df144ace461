/**
 * How a shared store (Redis, SQLite) writes a token: JSON, or AES-256-GCM with a key id so keys can
 * rotate. Both stores use this one codec, so the key rules are the same everywhere.
 *
 * Every stored value carries `fp`, the SHA-256 of the access token, beside the token. Compare-and-delete
 * must run atomically inside the store (in Redis, a Lua script, which cannot decrypt an encrypted
 * value); comparing a fingerprint keeps it one atomic step for both modes. An access token is a long
 * random string, so its SHA-256 tells a reader of the store nothing usable.
 */
import { createCipheriv, createDecipheriv, createHash, randomBytes } from 'node:crypto';
import { z } from 'zod';
import type { Token } from '../base/token.js';

/** Why a stored value could not be read; never contains the value or a key. */
export class UnreadableValueError extends Error {
  override readonly name = 'UnreadableValueError';
}

/** An encryption key with the id written beside each value it encrypted. */
interface EncryptionKey {
  readonly id: string;
  readonly key: Buffer;
}

const VERSION = 1;
const IV_BYTES = 12;

const tokenSchema = z.strictObject({
  accessToken: z.string().min(1),
  tokenType: z.enum(['Bearer', 'DPoP']),
  expiresAt: z.number().finite(),
  issuedAt: z.number().finite(),
  scope: z.string().optional(),
});

const envelopeSchema = z.union([
  z.strictObject({ v: z.literal(VERSION), fp: z.string(), token: z.unknown() }),
  z.strictObject({
    v: z.literal(VERSION),
    fp: z.string(),
    enc: z.strictObject({ kid: z.string(), iv: z.string(), tag: z.string(), ct: z.string() }),
  }),
]);

/** One `encryptionKeys` entry: a base64-encoded 32-byte key (`openssl rand -base64 32`). */
export const encryptionKeySchema = z
  .string()
  .refine((value) => /^[A-Za-z0-9+/]+={0,2}$/.test(value) && Buffer.from(value, 'base64').length === 32, 'must be a base64-encoded 32-byte key');

/** The fingerprint compare-and-delete matches on. */
export function fingerprint(accessToken: string): string {
  return createHash('sha256').update(accessToken, 'utf8').digest('base64url');
}

/** Turns tokens into stored strings and back, encrypting when keys are given. */
export class TokenCodec {
  readonly #keys: readonly EncryptionKey[];

  /** @param keys raw 32-byte keys; the first encrypts, all decrypt. Empty: plain JSON. */
  constructor(keys: readonly Buffer[]) {
    this.#keys = keys.map((key) => ({ id: keyId(key), key }));
  }

  /** Whether values are encrypted. */
  get encrypted(): boolean {
    return this.#keys.length > 0;
  }

  /** The stored form of `token` under `cacheKey` (the additional authenticated data when encrypting). */
  encode(cacheKey: string, token: Token): string {
    const plain = {
      accessToken: token.accessToken,
      tokenType: token.tokenType,
      expiresAt: token.expiresAt,
      issuedAt: token.issuedAt,
      ...(token.scope === undefined ? {} : { scope: token.scope }),
    };
    const fp = fingerprint(token.accessToken);
    const current = this.#keys[0];
    if (current === undefined) return JSON.stringify({ v: VERSION, fp, token: plain });
    const iv = randomBytes(IV_BYTES);
    const cipher = createCipheriv('aes-256-gcm', current.key, iv);
    // The cache key as AAD: a value copied to another credential's key fails to decrypt.
    cipher.setAAD(aad(cacheKey));
    const ct = Buffer.concat([cipher.update(JSON.stringify(plain), 'utf8'), cipher.final()]);
    const enc = { kid: current.id, iv: iv.toString('base64'), tag: cipher.getAuthTag().toString('base64'), ct: ct.toString('base64') };
    return JSON.stringify({ v: VERSION, fp, enc });
  }

  /**
   * The token stored in `raw` under `cacheKey`.
   * @throws {@link UnreadableValueError} for anything malformed, undecryptable or mismatched.
   */
  decode(cacheKey: string, raw: string): Token {
    let json: unknown;
    try {
      json = JSON.parse(raw);
    } catch {
      throw new UnreadableValueError('stored value is not JSON');
    }
    const envelope = envelopeSchema.safeParse(json);
    if (!envelope.success) throw new UnreadableValueError('stored value has an unknown shape');
    const value = envelope.data;
    let tokenJson: unknown;
    if ('enc' in value) {
      if (!this.encrypted) throw new UnreadableValueError('stored value is encrypted but no encryptionKeys are configured');
      const key = this.#keys.find((candidate) => candidate.id === value.enc.kid);
      if (key === undefined) throw new UnreadableValueError('stored value was encrypted with a key that is not in encryptionKeys');
      tokenJson = decrypt(key.key, cacheKey, value.enc);
    } else {
      // With encryption on, a plaintext value is refused: whoever could write it could plant a token.
      if (this.encrypted) throw new UnreadableValueError('stored value is not encrypted but encryptionKeys are configured');
      tokenJson = value.token;
    }
    const token = tokenSchema.safeParse(tokenJson);
    if (!token.success) throw new UnreadableValueError('stored token has an invalid shape');
    if (fingerprint(token.data.accessToken) !== value.fp) throw new UnreadableValueError('stored fingerprint does not match its token');
    const { scope, ...rest } = token.data;
    return Object.freeze(scope === undefined ? rest : { ...rest, scope });
  }
}

function decrypt(key: Buffer, cacheKey: string, enc: { iv: string; tag: string; ct: string }): unknown {
  try {
    const iv = Buffer.from(enc.iv, 'base64');
    const tag = Buffer.from(enc.tag, 'base64');
    if (iv.length !== IV_BYTES || tag.length !== 16) throw new Error('bad sizes');
    const decipher = createDecipheriv('aes-256-gcm', key, iv, { authTagLength: 16 });
    decipher.setAAD(aad(cacheKey));
    decipher.setAuthTag(tag);
    const plain = Buffer.concat([decipher.update(Buffer.from(enc.ct, 'base64')), decipher.final()]).toString('utf8');
    return JSON.parse(plain);
  } catch {
    throw new UnreadableValueError('stored value failed to decrypt (tampered, or written for another credential)');
  }
}

function aad(cacheKey: string): Buffer {
  return Buffer.from(`tokenbroker:v${VERSION}:${cacheKey}`, 'utf8');
}

/** A short public id of a key: a hash, so it reveals nothing about the key. */
function keyId(key: Buffer): string {
  return createHash('sha256').update('tokenbroker key id\0').update(key).digest('base64url').slice(0, 12);
}
