// Which op and CUDA kernel version a test belongs to, from its full name
// ("gemm v2 on NVIDIA H100 ... > ragged shapes"): the name starts with the
// op and names the version. Shared by kernel-test-summary.mjs (a GPU run)
// and emulate.mjs (the emulated GPU).

/**
 * A classifier over the registry's ops and versions (kernelVersions()).
 * Returns { op, version } for a test of one version, or undefined.
 */
export function versionClassifier(registry) {
  // Longest op names first, so "fp8Gemm" is not taken for "gemm".
  const ops = Object.keys(registry).sort((a, b) => b.length - a.length);
  if (ops.length === 0) return () => undefined;
  const pattern = new RegExp(`^(${ops.join('|')})\\b.*?\\b(v\\d+)\\b`);
  const known = new Set(Object.entries(registry).flatMap(([op, list]) => list.map((v) => `${op} ${v.name}`)));
  return (fullName) => {
    const m = pattern.exec(fullName);
    if (!m || !known.has(`${m[1]} ${m[2]}`)) return undefined;
    return { op: m[1], version: m[2] };
  };
}

/** Every test of a vitest JSON report: { file, name, status } (status: passed, failed, skipped, ...). */
export function reportTests(report) {
  const out = [];
  for (const suite of report.testResults ?? []) {
    for (const t of suite.assertionResults ?? []) {
      const name = t.fullName ?? [...(t.ancestorTitles ?? []), t.title].join(' ');
      out.push({ file: suite.name, name, status: t.status, failureMessages: t.failureMessages ?? [] });
    }
    // A file that failed to load has no assertions: count it as one failure.
    if ((suite.assertionResults ?? []).length === 0 && suite.status === 'failed') {
      out.push({ file: suite.name, name: `${suite.name} (the file failed to run)`, status: 'failed', failureMessages: [suite.message ?? ''] });
    }
  }
  return out;
}
