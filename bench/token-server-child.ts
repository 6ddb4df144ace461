/** Runs the bench token server in its own process (see spawnTokenServer) and reports its origin. */
import { startTokenServer } from './token-server.js';

const server = await startTokenServer();
process.send?.({ origin: server.origin });
process.on('SIGTERM', () => {
  void server.close().then(() => process.exit(0));
});
process.on('disconnect', () => {
  void server.close().then(() => process.exit(0));
});
