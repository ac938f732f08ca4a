#!/usr/bin/env node
// Packs the local build as this platform's prebuilt binary, in the layout
// node-gyp-build loads (prebuildify's): prebuilds/<platform>-<arch>/moekit.napi.<libc>.node.
// prebuildify itself only drives node-gyp, so moekit builds with cmake-js
// (npm run build:native) and copies the result here; run this on each target
// platform before `npm publish`.
import { copyFileSync, existsSync, mkdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const built = join(root, 'build', 'Release', 'moekit.node');
if (!existsSync(built)) {
  console.error('moekit: build/Release/moekit.node is missing; run npm run build:native first');
  process.exit(1);
}
const report = process.report?.getReport?.();
const libc = report && report.header && report.header.glibcVersionRuntime ? 'glibc' : 'musl';
const dir = join(root, 'prebuilds', `${process.platform}-${process.arch}`);
mkdirSync(dir, { recursive: true });
const target = join(dir, `moekit.napi.${libc}.node`);
copyFileSync(built, target);
console.log(`moekit: wrote ${target}`);
