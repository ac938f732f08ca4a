// Installing the packed package, as a user of the published tarball would:
// `npm pack`, then `npm install <tarball>` in a fresh project, which builds
// the addon from the files the package ships (only those: a build step that
// reaches for a file outside `files` in package.json fails here), then
// `import 'moekit'` and `npx moekit info`. It takes about a minute: the
// addon is compiled from source.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { afterAll, describe, expect, it } from 'vitest';

import { REPO_ROOT } from '../helpers/child.js';

const work = mkdtempSync(join(tmpdir(), 'moekit-install-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));

function run(command: string, args: string[], cwd: string, timeoutMs: number) {
  const r = spawnSync(command, args, {
    cwd,
    encoding: 'utf8',
    timeout: timeoutMs,
    env: { ...process.env, MOEKIT_BUILD_JOBS: '2', npm_config_audit: 'false', npm_config_fund: 'false', npm_config_update_notifier: 'false' },
  });
  return { status: r.status, out: `${r.stdout ?? ''}${r.stderr ?? ''}`, error: r.error };
}

describe('the packed package', () => {
  it('installs into a fresh project, builds its addon, imports and runs', () => {
    // --ignore-scripts: dist/ is already built (npm test builds it first), and
    // rebuilding it here would rewrite files other test files are importing.
    const packed = run('npm', ['pack', '--ignore-scripts', '--pack-destination', work], REPO_ROOT, 120_000);
    expect(packed.status, packed.out).toBe(0);
    const tarball = readdirSync(work).find((f) => f.endsWith('.tgz'));
    expect(tarball, packed.out).toBeDefined();

    const project = join(work, 'project');
    const init = run('mkdir', ['-p', project], work, 10_000);
    expect(init.status).toBe(0);
    writeFileSync(join(project, 'package.json'), JSON.stringify({ name: 'consumer', private: true, type: 'module' }));
    const installed = run('npm', ['install', '--prefer-offline', join(work, tarball!)], project, 540_000);
    expect(installed.status, `npm install failed:\n${installed.out.slice(-4000)}`).toBe(0);

    const used = run(
      process.execPath,
      [
        '--input-type=module',
        '-e',
        `import { device, devices, gemm } from 'moekit';
         const cpu = device('cpu');
         const a = cpu.tensor([1, 2, 3, 4], { shape: [2, 2] });
         const c = gemm(a, a);
         process.stdout.write(JSON.stringify({ devices: devices().map((d) => d.id), c: Array.from(await c.toArray()) }));`,
      ],
      project,
      60_000,
    );
    expect(used.status, used.out).toBe(0);
    const result = JSON.parse(used.out) as { devices: string[]; c: number[] };
    expect(result.devices[0]).toBe('cpu');
    expect(result.c).toEqual([5, 11, 11, 25]);

    const info = run('npx', ['--no-install', 'moekit', 'info'], project, 60_000);
    expect(info.status, info.out).toBe(0);
    expect(info.out).toMatch(/^moekit \d+\.\d+\.\d+/);
  }, 600_000);
});
