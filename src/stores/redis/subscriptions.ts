/**
 * Channel subscriptions on one lazily opened subscriber connection, shared by every waiter of a store;
 * a channel is subscribed while at least one waiter listens on it. Under Cluster the channels are
 * sharded (SSUBSCRIBE): each lives on the node of its credential's slot, as the keys do.
 */
import type { RedisSubscriber } from './connection.js';

/** The subscriptions of one store. */
export class Subscriptions {
  readonly #listeners = new Map<string, Set<() => void>>();
  readonly #create: () => RedisSubscriber;
  readonly #onError: (error: Error) => void;
  readonly #sharded: boolean;
  #subscriber: RedisSubscriber | undefined;
  #closed = false;

  constructor(create: () => RedisSubscriber, sharded: boolean, onError: (error: Error) => void) {
    this.#create = create;
    this.#sharded = sharded;
    this.#onError = onError;
  }

  /** Calls `listener` on each message on `channel`; returns the function that stops it. */
  add(channel: string, listener: () => void): () => void {
    if (this.#closed) return () => {};
    let listeners = this.#listeners.get(channel);
    if (listeners === undefined) {
      listeners = new Set();
      this.#listeners.set(channel, listeners);
      // Not awaited: until it is subscribed (or if it never is, e.g. no sharded pub/sub before
      // Redis 7), polling finds the token.
      const subscriber = this.#connection();
      (this.#sharded ? subscriber.ssubscribe(channel) : subscriber.subscribe(channel)).catch(() => {});
    }
    listeners.add(listener);
    const set = listeners;
    return () => {
      set.delete(listener);
      if (set.size === 0 && this.#listeners.get(channel) === set) {
        this.#listeners.delete(channel);
        const subscriber = this.#subscriber;
        if (!this.#closed && subscriber !== undefined) {
          (this.#sharded ? subscriber.sunsubscribe(channel) : subscriber.unsubscribe(channel)).catch(() => {});
        }
      }
    };
  }

  async close(): Promise<void> {
    this.#closed = true;
    this.#listeners.clear();
    this.#subscriber?.disconnect();
    this.#subscriber = undefined;
  }

  #connection(): RedisSubscriber {
    if (this.#subscriber === undefined) {
      const subscriber = this.#create();
      subscriber.on('error', this.#onError);
      subscriber.on(this.#sharded ? 'smessage' : 'message', (channel: string) => {
        const listeners = this.#listeners.get(channel);
        if (listeners !== undefined) for (const listener of [...listeners]) listener();
      });
      this.#subscriber = subscriber;
    }
    return this.#subscriber;
  }
}
