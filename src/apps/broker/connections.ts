/**
 * Connections that never sent a request, closed when the broker stops.
 *
 * On close, Node's HTTP server ends idle keep-alive connections and waits for requests under way; a
 * connection that was opened but has not sent a request yet (a client's pre-opened pool connection, a
 * load balancer's TCP check) is neither, and Node waits for it until the client hangs up — an idle
 * broker then took as long as that client to exit on SIGTERM (30 s in a test whose client waited 30 s).
 * Such a connection has no request to finish: it is closed at once.
 */
import type { Server } from 'node:http';
import type { Socket } from 'node:net';

/** The server's open connections; `closeUnused()` ends those with no request under way. */
export interface ConnectionTracker {
  closeUnused(): void;
}

/** Starts tracking `server`'s connections (plain or TLS). */
export function trackConnections(server: Server): ConnectionTracker {
  const sockets = new Set<Socket>();
  const track = (socket: Socket) => {
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
  };
  // Over TLS the request is served on the TLS socket; the TCP socket under it stays tracked only until
  // its handshake completes (a connection still shaking hands has no request either).
  server.on('connection', track);
  server.on('secureConnection', (socket: Socket & { _parent?: Socket }) => {
    if (socket._parent !== undefined) sockets.delete(socket._parent);
    track(socket);
  });
  return {
    closeUnused() {
      // `_httpMessage` is the response of the request the socket is serving; none means no request under way.
      for (const socket of sockets) if ((socket as Socket & { _httpMessage?: unknown })._httpMessage == null) socket.destroy();
    },
  };
}
