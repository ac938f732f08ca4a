/**
 * The human-readable report: a heading for the run, then per suite a table
 * of its cases and the geometric mean of the ×baseline ratios.
 * @module
 */
import { formatMicros, formatParams, formatPercent, formatRatio, formatValue } from './format.js';
import type { BenchResults, CaseResult, SuiteResult } from './results.js';
import { type Column, renderTable } from './table.js';

/** The run's heading: device, build, revision, settings. */
export function renderHeading(r: BenchResults): string[] {
  const d = r.device;
  const what =
    d.kind === 'cuda'
      ? `${d.id} ${d.name} (sm_${d.computeCapability?.join('') ?? '?'}, ${d.smCount ?? '?'} SMs), driver ${r.cudaStatus.driverVersion}, runtime ${r.cudaStatus.runtimeVersion}`
      : `${d.id} ${d.name} (${d.threads ?? '?'} threads)`;
  const commit = r.git.commit === null ? 'no git commit' : `commit ${r.git.commit.slice(0, 12)}${r.git.dirty ? ' (dirty)' : ''}`;
  return [
    `moekit ${r.moekitVersion} bench on ${what}`,
    `node ${r.node}, ${commit}; warm-up ${r.options.warmup}, at least ${r.options.repeats} repeats and ${r.options.minTimeMs} ms per case${r.options.quick ? ', quick' : ''}`,
  ];
}

function row(c: CaseResult, show: { tflops: boolean; gbps: boolean; ceiling: boolean; ratio: boolean }): string[] {
  const s = c.stats;
  const cells = [c.name, formatParams(c.params)];
  if (s) {
    cells.push(formatMicros(s.median), `${formatMicros(s.p10)}–${formatMicros(s.p90)}`, `${formatMicros(s.min)}–${formatMicros(s.max)}`, formatPercent(s.relIqr));
  } else {
    cells.push('FAILED', '', '', '');
  }
  if (show.tflops) cells.push(c.tflops === null ? '' : formatValue(c.tflops));
  if (show.gbps) cells.push(c.gbps === null ? '' : formatValue(c.gbps));
  if (show.ceiling) cells.push(c.ofCeiling === null ? '' : formatPercent(c.ofCeiling));
  if (show.ratio) cells.push(c.vsBaseline === null ? '' : formatRatio(c.vsBaseline));
  cells.push(c.check.status === 'none' ? '-' : c.check.status);
  cells.push(c.warnings.some((w) => w.startsWith('host-bound')) ? 'host-bound' : '');
  return cells;
}

/** One suite: title, table, geometric mean, notes, then failures and warnings. */
export function renderSuite(s: SuiteResult): string[] {
  const show = {
    tflops: s.cases.some((c) => c.flops !== null),
    gbps: s.cases.some((c) => c.bytes !== null),
    ceiling: s.cases.some((c) => c.ceiling !== null),
    ratio: s.cases.some((c) => c.baseline !== null),
  };
  const columns: Column[] = [
    { title: 'case', align: 'left' },
    { title: 'params', align: 'left' },
    { title: 'median µs', align: 'right' },
    { title: 'p10–p90 µs', align: 'right' },
    { title: 'min–max µs', align: 'right' },
    { title: 'IQR', align: 'right' },
  ];
  if (show.tflops) columns.push({ title: 'TFLOP/s', align: 'right' });
  if (show.gbps) columns.push({ title: 'GB/s', align: 'right' });
  if (show.ceiling) columns.push({ title: 'of ceiling', align: 'right' });
  if (show.ratio) columns.push({ title: '×baseline', align: 'right' });
  columns.push({ title: 'check', align: 'left' }, { title: 'note', align: 'left' });

  const lines = [`${s.name}: ${s.description}`, ...renderTable(columns, s.cases.map((c) => row(c, show)))];
  lines.push(
    s.geomeanVsBaseline === null
      ? 'geomean ×baseline: n/a (no case with a timed baseline)'
      : `geomean ×baseline: ${formatRatio(s.geomeanVsBaseline)} over ${s.geomeanCount} case${s.geomeanCount === 1 ? '' : 's'}`,
  );
  for (const n of s.notes) lines.push(`note: ${n}`);
  for (const c of s.cases) {
    if (c.error !== null) lines.push(`FAILED ${s.name}/${c.name}: ${c.error}`);
    for (const w of c.warnings) lines.push(`warning ${s.name}/${c.name}: ${w}`);
  }
  return lines;
}

/** The whole report as text (ends with a newline). */
export function renderReport(r: BenchResults): string {
  const blocks = [renderHeading(r), ...r.suites.map(renderSuite)];
  return `${blocks.map((b) => b.join('\n')).join('\n\n')}\n`;
}
