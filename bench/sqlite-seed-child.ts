/**
 * For bench/sqlite.ts: another process that fetches the token and stores it in the SQLite file.
 * argv: <file> <tokenUrl>.
 */
import { createTokenManager, oauth2 } from '../src/index.js';
import { sqliteStore } from '../src/stores/sqlite/index.js';
import { CLIENT_ID, CLIENT_SECRET } from './subjects.js';

const [file, tokenUrl] = process.argv.slice(2) as [string, string];
const tokens = createTokenManager({
  providers: { bench: oauth2({ tokenUrl, clientId: CLIENT_ID, clientSecret: CLIENT_SECRET }) },
  store: sqliteStore({ path: file }),
});
await tokens.getToken('bench');
await tokens.close();
