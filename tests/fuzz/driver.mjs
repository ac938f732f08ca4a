/**
 * The child side of the fuzz test. The runner (runner.ts) writes a batch
 * module that imports the built package and this driver and hands it the
 * calls; `runBatch` runs them in order, awaits every promise they return,
 * judges each outcome and appends one JSON line per event to the log file.
 * Lines are written synchronously, so after a crash the last `start` line
 * names the call that was running.
 *
 * A call passes when it returns (or resolves), or when it throws (or
 * rejects) a TypeError, RangeError or MoekitError that carries a string
 * `code` starting with `ERR_MOEKIT_` and a message naming its op. Calls the
 * generator knows to be valid must succeed (and pass their `post` check);
 * calls it knows to be invalid must fail.
 *
 * Plain JavaScript: it runs in a plain Node process.
 * @module
 */
import { closeSync, openSync, writeSync } from 'node:fs';

const TIMEOUT = Symbol('timeout');

/** A short description of any value, for findings. */
function describeValue(x) {
  if (x === undefined) return 'undefined';
  if (x === null) return 'null';
  if (typeof x === 'symbol') return 'a symbol';
  if (typeof x !== 'object' && typeof x !== 'function') return `${typeof x} ${String(x).slice(0, 60)}`;
  try {
    if (ArrayBuffer.isView(x)) return `${x.constructor.name}(${x.length})`;
    const text = String(x);
    return text.startsWith('[object') ? `a ${x.constructor?.name ?? 'null-prototype object'}` : text.slice(0, 120);
  } catch {
    return 'an object that cannot be printed';
  }
}

function describeError(e) {
  if (!(e instanceof Error)) return { name: typeof e, message: describeValue(e) };
  return {
    name: e.constructor?.name ?? e.name,
    code: typeof e.code === 'string' ? e.code : e.code === undefined ? undefined : String(e.code),
    message: String(e.message).slice(0, 400),
    stack: String(e.stack ?? '').split('\n').slice(1, 6).join('\n'),
  };
}

/** Whether `message` names one of `ops`: `op: ...` at the start or after a space, or `op(`. */
function namesOp(message, ops) {
  return ops.some((op) => message.startsWith(`${op}:`) || message.includes(` ${op}:`) || message.includes(`${op}(`));
}

/** Why `e` is not a proper moekit error for call `c`, or undefined when it is. */
function badError(m, c, e) {
  if (c.lenient && e instanceof Error && String(e.message).startsWith('fuzz:')) return undefined;
  if (!(e instanceof Error)) return `threw a non-Error (${describeValue(e)})`;
  const name = e.constructor?.name ?? e.name;
  if (!(e instanceof TypeError || e instanceof RangeError || e instanceof m.MoekitError)) {
    return `threw a ${name}, not a TypeError, RangeError or MoekitError: ${e.message}`;
  }
  if (typeof e.code !== 'string' || !e.code.startsWith('ERR_MOEKIT_')) {
    return `threw a ${name} without an ERR_MOEKIT_ code (code ${String(e.code)}): ${e.message}`;
  }
  // A read may report a failure of earlier work on the device, named after that op.
  if (!namesOp(e.message, c.ops) && !(c.anyOp && /^[A-Za-z][\w.]*: /.test(e.message))) {
    return `threw a ${name} whose message does not name ${c.ops.join(' or ')}: ${e.message}`;
  }
  return undefined;
}

function withTimeout(promise, ms) {
  let timer;
  const timeout = new Promise((_, reject) => {
    timer = setTimeout(() => reject(TIMEOUT), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

function disposable(m, x) {
  return x instanceof m.Tensor || x instanceof m.Quantized || x instanceof m.baselines.PreparedFp8Gemm;
}

/**
 * Runs a batch.
 * @param m - the built package.
 * @param v - the variables calls define (`v[def] = result`).
 * @param calls - `{ i, ops, expect: 'ok'|'error'|'any', deps, def?, fn, post?, anyOp?, lenient? }`.
 * @param options - `{ log, sync, skip, callTimeoutMs }`: the log file, whether to
 *   synchronize every device after each call, call indices not to run.
 */
export async function runBatch(m, v, calls, options) {
  const fd = openSync(options.log, 'a');
  const emit = (record) => writeSync(fd, `${JSON.stringify(record)}\n`);
  const skip = new Set(options.skip ?? []);
  const devices = m.devices().map((info) => m.device(info.id));
  const memory = () => devices.map((d) => ({ id: d.id, ...d.memory() }));
  const strays = [];
  let current = -1;

  process.on('unhandledRejection', (e) => emit({ event: 'finding', i: current, kind: 'unhandled', detail: `unhandled rejection: ${JSON.stringify(describeError(e))}` }));
  process.on('uncaughtException', (e) => {
    emit({ event: 'finding', i: current, kind: 'unhandled', detail: `uncaught exception: ${JSON.stringify(describeError(e))}` });
    process.exit(70);
  });

  const before = memory();
  emit({ event: 'begin', memory: before });

  const settle = async (c, fn) => {
    let value;
    try {
      value = fn();
    } catch (e) {
      return { status: 'threw', error: e };
    }
    if (value === null || (typeof value !== 'object' && typeof value !== 'function') || typeof value.then !== 'function') {
      return { status: 'returned', value };
    }
    try {
      return { status: 'resolved', value: await withTimeout(value, options.callTimeoutMs) };
    } catch (e) {
      return e === TIMEOUT ? { status: 'timeout' } : { status: 'rejected', error: e };
    }
  };

  for (const c of calls) {
    if (skip.has(c.i)) {
      emit({ event: 'skip', i: c.i, why: 'crashed in an earlier run' });
      continue;
    }
    const missing = c.deps.filter((d) => v[d] === undefined);
    if (missing.length > 0) {
      emit({ event: 'skip', i: c.i, why: `v[${missing.join('], v[')}] missing` });
      continue;
    }
    current = c.i;
    emit({ event: 'start', i: c.i });
    const out = await settle(c, c.fn);
    const ok = out.status === 'returned' || out.status === 'resolved';
    if (ok && c.def !== undefined) v[c.def] = out.value;
    else if (ok && disposable(m, out.value)) strays.push(out.value);

    let finding;
    if (out.status === 'timeout') {
      finding = { kind: 'timeout', detail: `its promise did not settle within ${options.callTimeoutMs} ms` };
    } else if (!ok) {
      const bad = badError(m, c, out.error);
      if (bad) finding = { kind: 'bad-error', detail: bad };
      else if (c.expect === 'ok' && !(c.anyOp && !namesOp(out.error.message, c.ops))) {
        finding = { kind: 'rejected-valid', detail: `a valid call failed: ${out.error.constructor.name}: ${out.error.message}` };
      }
    } else if (c.expect === 'error') {
      finding = { kind: 'accepted-invalid', detail: `an invalid call ${out.status === 'resolved' ? 'resolved to' : 'returned'} ${describeValue(out.value)}` };
    } else if (c.post) {
      let good;
      try {
        good = c.post(out.value);
      } catch (e) {
        good = `the check threw ${describeError(e).message}`;
      }
      if (good !== true) finding = { kind: 'bad-result', detail: `${typeof good === 'string' ? good : 'unexpected result'}: ${describeValue(out.value)}` };
    }
    emit({ event: 'done', i: c.i, status: out.status, error: out.error === undefined ? undefined : describeError(out.error) });
    if (finding) emit({ event: 'finding', i: c.i, ...finding });

    if (options.sync) {
      // Queued work of this call finishes here, so a failure or crash in it is its own.
      for (const d of devices) {
        const s = await settle({ ops: ['synchronize', ...c.ops], anyOp: true }, () => d.synchronize());
        if (s.status === 'timeout') emit({ event: 'finding', i: c.i, kind: 'timeout', detail: `${d.id}.synchronize() after it did not settle` });
        else if (s.status === 'rejected') {
          const bad = badError(m, { ops: ['synchronize', ...c.ops], anyOp: true }, s.error);
          if (bad) emit({ event: 'finding', i: c.i, kind: 'bad-error', detail: `${d.id}.synchronize() after it: ${bad}` });
          else if (c.expect === 'ok' && namesOp(s.error.message, c.ops)) {
            emit({ event: 'finding', i: c.i, kind: 'rejected-valid', detail: `its queued work failed: ${s.error.constructor.name}: ${s.error.message}` });
          }
        }
      }
    }
  }

  current = -1;
  for (const x of [...v, ...strays]) {
    if (!disposable(m, x)) continue;
    try {
      x.dispose();
    } catch (e) {
      emit({ event: 'finding', i: -1, kind: 'bad-error', detail: `dispose() at the end threw ${JSON.stringify(describeError(e))}` });
    }
  }
  for (const d of devices) {
    const s = await settle({ ops: ['synchronize'], anyOp: true }, () => d.synchronize());
    if (s.status === 'timeout') emit({ event: 'finding', i: -1, kind: 'timeout', detail: `${d.id}.synchronize() at the end did not settle` });
    else if (s.status === 'rejected') {
      const bad = badError(m, { ops: ['synchronize'], anyOp: true }, s.error);
      if (bad) emit({ event: 'finding', i: -1, kind: 'bad-error', detail: `${d.id}.synchronize() at the end: ${bad}` });
    }
  }
  const after = memory();
  for (const [k, a] of after.entries()) {
    const b = before[k];
    // A GPU keeps cuBLASLt's workspace once a baseline ran there; the CPU keeps nothing.
    const bytesBack = a.id !== 'cpu' || a.bytes === b.bytes;
    if (!bytesBack || a.tensors !== b.tensors) {
      emit({
        event: 'finding',
        i: -1,
        kind: 'leak',
        detail: `${a.id}: ${a.bytes} bytes in ${a.tensors} tensors after everything was disposed, ${b.bytes} bytes in ${b.tensors} tensors before`,
      });
    }
  }
  emit({ event: 'end', memory: after });
  closeSync(fd);
}
