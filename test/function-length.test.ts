/**
 * No function in src/ is over 120 lines: a longer one does several jobs, and the next reader has to hold
 * all of them at once. Functions are found with the TypeScript compiler API (declarations, methods,
 * accessors, constructors, function expressions and arrow functions, nested ones counted on their own).
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import ts from 'typescript';
import { describe, expect, it } from 'vitest';

const SRC = new URL('../src/', import.meta.url).pathname;
const MAX_LINES = 120;

function sourceFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) =>
    entry.isDirectory() ? sourceFiles(join(dir, entry.name)) : entry.name.endsWith('.ts') ? [join(dir, entry.name)] : [],
  );
}

/** Every function of `file` longer than `max` lines, as `path:line name (N lines)`. */
function longFunctions(file: string, text: string, max: number): string[] {
  const source = ts.createSourceFile(file, text, ts.ScriptTarget.Latest, true);
  const found: string[] = [];
  const visit = (node: ts.Node): void => {
    if (ts.isFunctionLike(node) && 'body' in node && node.body !== undefined) {
      const start = source.getLineAndCharacterOfPosition(node.getStart(source)).line;
      const end = source.getLineAndCharacterOfPosition(node.getEnd()).line;
      const lines = end - start + 1;
      if (lines > max) {
        const name = node.name !== undefined && ts.isIdentifier(node.name) ? node.name.text : '(anonymous)';
        found.push(`${file}:${start + 1} ${name} (${lines} lines)`);
      }
    }
    ts.forEachChild(node, visit);
  };
  visit(source);
  return found;
}

describe('function length', () => {
  it(`no function in src/ is over ${MAX_LINES} lines`, () => {
    const long = sourceFiles(SRC)
      .map((path) => relative(SRC, path))
      .flatMap((file) => longFunctions(file, readFileSync(join(SRC, file), 'utf8'), MAX_LINES));
    expect(long).toEqual([]);
  });

  it('finds a long function of every kind (the check can fail)', () => {
    const body = Array.from({ length: 5 }, (_, i) => `  const v${i} = ${i};`).join('\n');
    const text = [
      `function declared() {\n${body}\n}`,
      `const arrow = () => {\n${body}\n};`,
      `class C {\n  method() {\n${body}\n  }\n}`,
      `function short() { return 1; }`,
    ].join('\n');
    expect(longFunctions('sample.ts', text, 5)).toEqual([
      'sample.ts:1 declared (7 lines)',
      'sample.ts:8 (anonymous) (7 lines)',
      'sample.ts:16 method (7 lines)',
    ]);
  });
});
