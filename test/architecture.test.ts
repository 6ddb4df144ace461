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

/**
 * The layers, lowest first: the folders of src/ are the layers, so a file's layer is read from its
 * path. A module may import from its own layer or any below it. `src/index.ts`, the package's root
 * entry point, re-exports the core and sits with it.
 */
const LAYERS = [
  { name: 'base', folder: 'base/' },
  { name: 'stores', folder: 'stores/' },
  { name: 'providers', folder: 'providers/' },
  { name: 'core', folder: 'core/' },
  { name: 'apps', folder: 'apps/' },
] as const;

/** The layer index of a path relative to src/, or -1 when the path is in no layer's folder. */
function layerOfPath(path: string): number {
  if (path === 'index.ts') return LAYERS.findIndex((layer) => layer.name === 'core');
  return LAYERS.findIndex((layer) => path.startsWith(layer.folder));
}

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
const layerOf = layerOfPath;

/** Every import of `imports` that points to a higher layer than its file's, as "from (layer) -> to (layer)". */
function upwardImports(imports: ReadonlyMap<string, readonly string[]>): string[] {
  return [...imports].flatMap(([file, targets]) =>
    targets
      .filter((target) => layerOf(target) > layerOf(file))
      .map((target) => `${file} (${LAYERS[layerOf(file)]!.name}) -> ${target} (${LAYERS[layerOf(target)]!.name})`),
  );
}

describe('architecture', () => {
  it('every file of src/ belongs to a layer', () => {
    expect(files.filter((file) => layerOf(file) < 0)).toEqual([]);
  });

  it('every import resolves to a file of src/', () => {
    const missing = [...graph].flatMap(([file, imports]) => imports.filter((target) => !graph.has(target)).map((target) => `${file} -> ${target}`));
    expect(missing).toEqual([]);
  });

  it('no module imports from a higher layer', () => {
    expect(upwardImports(graph)).toEqual([]);
  });

  it('the rule catches an upward import: a base file importing the core fails it', () => {
    const planted = new Map(graph);
    planted.set('base/errors.ts', [...(graph.get('base/errors.ts') ?? []), 'core/manager.ts']);
    expect(upwardImports(planted)).toEqual(['base/errors.ts (base) -> core/manager.ts (core)']);
    expect(layerOfPath('stores/redis/store.ts')).toBe(1);
    expect(layerOfPath('apps/cli/main.ts')).toBe(4);
    expect(layerOfPath('loose.ts')).toBe(-1);
  });

  it('the emulator imports nothing of the client side: only leaves and itself', () => {
    const crossing = [...graph]
      .filter(([file]) => file.startsWith('apps/emulator/'))
      .flatMap(([file, imports]) =>
        imports.filter((target) => !target.startsWith('apps/emulator/') && layerOf(target) !== 0).map((target) => `${file} -> ${target}`),
      );
    expect(crossing).toEqual([]);
  });

  it('the leaves import no third-party package but zod and ky (base/http.ts)', () => {
    const thirdParty = files
      .filter((file) => layerOf(file) === 0)
      .flatMap((file) =>
        [...readFileSync(join(SRC, file), 'utf8').matchAll(/from\s+'([^.'][^']*)'/g)]
          .map((match) => match[1]!)
          .filter((name) => !name.startsWith('node:') && name !== 'zod' && !(file === 'base/http.ts' && name === 'ky'))
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
