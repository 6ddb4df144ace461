// Prints the TypeScript code block under the README heading given as argv[2] (e.g. "### Autopay").
import { readFileSync } from 'node:fs';
const readme = readFileSync(new URL('../../README.md', import.meta.url), 'utf8');
const heading = process.argv[2];
const start = readme.indexOf(`\n${heading}\n`);
if (start < 0) throw new Error(`README has no heading ${heading}`);
const block = /```ts\n([\s\S]*?)```/.exec(readme.slice(start));
if (!block) throw new Error(`no ts code block under ${heading}`);
process.stdout.write(block[1]);
