/**
 * Progress on stderr, so a long run shows it is alive without mixing into
 * the tables on stdout. On a terminal: a status line redrawn in place
 * (case i/n, name, phase, elapsed) plus one line per finished case. Not on a
 * terminal (CI logs, pipes): only the line per finished case.
 * @module
 */

/** Redraw interval of the status line on a terminal. */
const REDRAW_MS = 250;

function seconds(ms: number): string {
  return `${(ms / 1000).toFixed(1)} s`;
}

/** Reports a run's progress case by case. */
export class Progress {
  readonly #stream: NodeJS.WritableStream & { isTTY?: boolean };
  readonly #live: boolean;
  readonly #total: number;
  readonly #runStart = performance.now();
  #caseStart = 0;
  #label = '';
  #phase = '';
  #timer: NodeJS.Timeout | undefined;

  /**
   * @param stream - usually `process.stderr`; the status line is drawn only when it is a TTY.
   * @param total - cases in the run.
   */
  constructor(stream: NodeJS.WritableStream & { isTTY?: boolean }, total: number) {
    this.#stream = stream;
    this.#live = stream.isTTY === true;
    this.#total = total;
  }

  /** A case starts; `index` counts from 1. */
  startCase(index: number, name: string): void {
    this.#caseStart = performance.now();
    this.#label = `[${index}/${this.#total}] ${name}`;
    this.#phase = 'setup';
    if (this.#live) {
      this.#draw();
      this.#timer ??= setInterval(() => this.#draw(), REDRAW_MS);
      this.#timer.unref();
    }
  }

  /** What the current case is doing: 'check', 'warm-up 2/3', 'timing 5/20'. */
  phase(text: string): void {
    this.#phase = text;
  }

  /** The current case finished; `summary` is e.g. 'median 123 µs' or 'FAILED: …'. */
  endCase(summary: string): void {
    const now = performance.now();
    this.#clear();
    this.#stream.write(`${this.#label}  ${summary}  (${seconds(now - this.#caseStart)}, total ${seconds(now - this.#runStart)})\n`);
  }

  /** Stops redrawing. */
  finish(): void {
    if (this.#timer) clearInterval(this.#timer);
    this.#timer = undefined;
    this.#clear();
  }

  #draw(): void {
    this.#stream.write(`\r\x1b[2K${this.#label}  ${this.#phase}  ${seconds(performance.now() - this.#caseStart)}`);
  }

  #clear(): void {
    if (this.#live) this.#stream.write('\r\x1b[2K');
  }
}
