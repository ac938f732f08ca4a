// Using moekit from another local project, as a user would: a bare
// `import 'moekit'` resolved through node_modules, at run time and in the
// type checker. Needs dist/ (npm ci builds it; npm run build otherwise).
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { REPO_ROOT, builtEntry, runModule } from '../helpers/child.js';

// A TypeScript consumer: ESM, strict, and @types/node, which moekit's
// declarations need (they name node:util's inspect.custom and Symbol.dispose).
const CONSUMER_TS = `
import { type DType, type DeviceInfo, type Tensor, DisposedError, MoekitError, device, devices, fp8 } from 'moekit';

const dev = device('cpu');
using t = dev.tensor([1, 2, 3], { shape: [3], dtype: 'bf16' });
const bf16: Tensor<'bf16'> = t;
const values: Float32Array = await bf16.toArray();
const ints: Int32Array = await dev.tensor(Int32Array.of(1, 2)).toArray();
const dtype: DType = t.dtype;
const infos: DeviceInfo[] = devices();
const codes: Uint8Array = fp8.encode(new Float32Array([1, 500]), 'e4m3', { saturate: false });
const isMoekit: boolean = new DisposedError('x') instanceof MoekitError;
// Each line below must be an error; were the types 'any', tsc would report the unused directive.
// @ts-expect-error 'f64' is not a dtype
dev.zeros([1], 'f64');
// @ts-expect-error an i32 tensor reads back as an Int32Array
const wrong: Float32Array = await dev.tensor(Int32Array.of(1)).toArray();
console.log(values, ints, dtype, infos, codes, isMoekit, wrong);
`;

describe('moekit from another project', () => {
  let project = '';

  beforeAll(() => {
    builtEntry(); // fails early, with the fix, when dist/ was not built
    project = mkdtempSync(join(tmpdir(), 'moekit-consumer-'));
    mkdirSync(join(project, 'node_modules', '@types'), { recursive: true });
    symlinkSync(REPO_ROOT, join(project, 'node_modules', 'moekit'), 'dir');
    symlinkSync(join(REPO_ROOT, 'node_modules', '@types', 'node'), join(project, 'node_modules', '@types', 'node'), 'dir');
    writeFileSync(join(project, 'package.json'), JSON.stringify({ name: 'consumer', private: true, type: 'module' }));
    writeFileSync(join(project, 'check.ts'), CONSUMER_TS);
  });

  afterAll(() => {
    if (project) rmSync(project, { recursive: true, force: true });
  });

  it("import('moekit') creates a tensor and reads it back", () => {
    const source = `import('moekit').then(async (m) => {
      const t = m.device('cpu').tensor([1, 2.5, -3], { dtype: 'bf16' });
      const out = { values: Array.from(await t.toArray()), bytes: Array.from(await t.bytes()), exports: Object.keys(m).sort() };
      t.dispose();
      process.stdout.write(JSON.stringify(out));
    });`;
    const r = runModule(source, {}, project);
    expect(r.status, r.stderr).toBe(0);
    const out = JSON.parse(r.stdout) as { values: number[]; bytes: number[]; exports: string[] };
    expect(out.values).toEqual([1, 2.5, -3]);
    // bf16 little-endian: 1 = 0x3F80, 2.5 = 0x4020, -3 = 0xC040.
    expect(out.bytes).toEqual([0x80, 0x3f, 0x20, 0x40, 0x40, 0xc0]);
    expect(out.exports).toEqual(expect.arrayContaining(['device', 'devices', 'cudaStatus', 'buildInfo', 'fp8', 'Tensor', 'Device', 'MoekitError', 'DisposedError', 'UnsupportedError']));
  });

  it('the exported types resolve under tsc --strict --module node16', () => {
    const tsc = join(REPO_ROOT, 'node_modules', 'typescript', 'bin', 'tsc');
    const r = spawnSync(process.execPath, [tsc, '--noEmit', '--strict', '--module', 'node16', 'check.ts'], { cwd: project, encoding: 'utf8', timeout: 110_000 });
    expect(r.status, `${r.stdout}${r.stderr}`).toBe(0);
  });
});
