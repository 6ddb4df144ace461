/**
 * The layers of docs/architecture.md, enforced: every import in src/ points down (or stays in its
 * layer), the emulator imports nothing of the client side, and no import cycle exists. Imports are read
 * as text (static `import`/`export … from`, type-only ones included, and dynamic `import()`).
 */
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const SRC = fileURLToPath(new URL('../src', import.meta.url));

/** Lowest first. A module may import from its own layer or any below it. */
const LAYERS: readonly { readonly name: string; readonly matches: (path: string) => boolean }[] = [
  {
    name: 'leaves',
    matches: (p) =>
      [
        'logger.ts',
        'url-policy.ts',
        'timers.ts',
        'zod-issues.ts',
        'errors.ts',
        'redact.ts',
        'token.ts',
        'headers.ts',
        'retry.ts',
        'stats.ts',
        'validate.ts',
        'http.ts',
      ].includes(p),
  },
  { name: 'storage', matches: (p) => p.startsWith('stores/') },
  { name: 'wire', matches: (p) => p === 'provider.ts' || p.startsWith('providers/') || p === 'client.ts' },
  {
    name: 'policy',
    matches: (p) => ['manager.ts', 'issuer.ts', 'fleet.ts', 'clock-watch.ts', 'guard.ts', 'options.ts', 'telemetry.ts', 'otel.ts', 'index.ts'].includes(p),
  },
  { name: 'apps', matches: (p) => p.startsWith('cli/') || p.startsWith('broker/') || p.startsWith('emulator/') || p === 'config-file.ts' },
];

function sourceFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) =>
    entry.isDirectory() ? sourceFiles(join(dir, entry.name)) : entry.name.endsWith('.ts') ? [join(dir, entry.name)] : [],
  );
}

const IMPORT = /(?:^|\n)\s*(?:import|export)\s[^;]*?from\s+'([^']+)'|import\(\s*'([^']+)'\s*\)/g;

/** The project files a file imports, as paths relative to src/. */
function importsOf(file: string): string[] {
  const text = readFileSync(file, 'utf8');
  const found: string[] = [];
  for (const match of text.matchAll(IMPORT)) {
    const specifier = match[1] ?? match[2]!;
    if (!specifier.startsWith('.')) continue;
    found.push(relative(SRC, resolve(dirname(file), specifier)).replace(/\.js$/, '.ts'));
  }
  return found;
}

const files = sourceFiles(SRC).map((file) => relative(SRC, file));
const graph = new Map(files.map((file) => [file, importsOf(join(SRC, file))]));
const layerOf = (path: string): number => LAYERS.findIndex((layer) => layer.matches(path));

describe('architecture', () => {
  it('every file of src/ belongs to a layer', () => {
    expect(files.filter((file) => layerOf(file) < 0)).toEqual([]);
  });

  it('every import resolves to a file of src/', () => {
    const missing = [...graph].flatMap(([file, imports]) => imports.filter((target) => !graph.has(target)).map((target) => `${file} -> ${target}`));
    expect(missing).toEqual([]);
  });

  it('no module imports from a higher layer', () => {
    const upward = [...graph].flatMap(([file, imports]) =>
      imports
        .filter((target) => layerOf(target) > layerOf(file))
        .map((target) => `${file} (${LAYERS[layerOf(file)]!.name}) -> ${target} (${LAYERS[layerOf(target)]!.name})`),
    );
    expect(upward).toEqual([]);
  });

  it('the emulator imports nothing of the client side: only leaves and itself', () => {
    const crossing = [...graph]
      .filter(([file]) => file.startsWith('emulator/'))
      .flatMap(([file, imports]) =>
        imports.filter((target) => !target.startsWith('emulator/') && layerOf(target) !== 0).map((target) => `${file} -> ${target}`),
      );
    expect(crossing).toEqual([]);
  });

  it('the leaves import no third-party package but zod and ky (http.ts)', () => {
    const thirdParty = files
      .filter((file) => layerOf(file) === 0)
      .flatMap((file) =>
        [...readFileSync(join(SRC, file), 'utf8').matchAll(/from\s+'([^.'][^']*)'/g)]
          .map((match) => match[1]!)
          .filter((name) => !name.startsWith('node:') && name !== 'zod' && !(file === 'http.ts' && name === 'ky'))
          .map((name) => `${file} -> ${name}`),
      );
    expect(thirdParty).toEqual([]);
  });

  it('no import cycle exists', () => {
    const cycles: string[] = [];
    const state = new Map<string, 'visiting' | 'done'>();
    const stack: string[] = [];
    const visit = (file: string): void => {
      if (state.get(file) === 'done') return;
      if (state.get(file) === 'visiting') {
        cycles.push([...stack.slice(stack.indexOf(file)), file].join(' -> '));
        return;
      }
      state.set(file, 'visiting');
      stack.push(file);
      for (const target of graph.get(file) ?? []) visit(target);
      stack.pop();
      state.set(file, 'done');
    };
    for (const file of files) visit(file);
    expect(cycles).toEqual([]);
  });

  it('no file in src/ is over 450 lines', () => {
    const long = files.map((file) => [file, readFileSync(join(SRC, file), 'utf8').split('\n').length] as const).filter(([, lines]) => lines > 450);
    expect(long).toEqual([]);
  });
});
