/**
 * Progress reporting on stderr: a bar with rate and ETA on a TTY, a line every few seconds
 * otherwise (CI logs), nothing when quiet. Long-running steps (data loading, each layer,
 * evaluation, training) use one of these.
 */
export interface ProgressOptions {
  label: string;
  total: number;
  unit?: string;
  quiet?: boolean;
  stream?: NodeJS.WriteStream;
}

export interface Progress {
  /** Advance by n (default 1); optional suffix replaces the status text. */
  tick(n?: number, status?: string): void;
  /** Set the absolute count. */
  update(done: number, status?: string): void;
  /** Finish: prints the final line with elapsed time. */
  done(status?: string): void;
}

function fmtTime(s: number): string {
  if (!Number.isFinite(s)) return '--';
  if (s < 60) return `${s.toFixed(s < 10 ? 1 : 0)}s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m}m${String(Math.round(s % 60)).padStart(2, '0')}s`;
  return `${Math.floor(m / 60)}h${String(m % 60).padStart(2, '0')}m`;
}

const silent: Progress = { tick() {}, update() {}, done() {} };

export function createProgress(opts: ProgressOptions): Progress {
  if (opts.quiet) return silent;
  const stream = opts.stream ?? process.stderr;
  const tty = Boolean(stream.isTTY) && process.env.CI !== 'true';
  const total = Math.max(0, opts.total);
  const unit = opts.unit ? ` ${opts.unit}` : '';
  const start = Date.now();
  let done = 0;
  let status = '';
  let lastDraw = 0;
  let finished = false;

  const line = (final: boolean): string => {
    const el = (Date.now() - start) / 1000;
    const frac = total > 0 ? Math.min(1, done / total) : 1;
    const eta = done > 0 && !final ? (el / done) * (total - done) : final ? 0 : Infinity;
    const width = 24;
    const filled = Math.round(frac * width);
    const bar = `[${'#'.repeat(filled)}${'-'.repeat(width - filled)}]`;
    const timing = final ? `${fmtTime(el)}` : `${fmtTime(el)} elapsed, ETA ${fmtTime(eta)}`;
    return `${opts.label} ${bar} ${done}/${total}${unit} ${(frac * 100).toFixed(0)}% ${timing}${status ? ` ${status}` : ''}`;
  };

  const draw = (force: boolean) => {
    const now = Date.now();
    if (tty) {
      if (!force && now - lastDraw < 100) return;
      stream.write(`\r\x1b[2K${line(false)}`);
    } else {
      if (!force && now - lastDraw < 5000) return;
      stream.write(`${line(false)}\n`);
    }
    lastDraw = now;
  };

  return {
    tick(n = 1, s?: string) {
      done += n;
      if (s !== undefined) status = s;
      draw(false);
    },
    update(d: number, s?: string) {
      done = d;
      if (s !== undefined) status = s;
      draw(false);
    },
    done(s?: string) {
      if (finished) return;
      finished = true;
      done = Math.max(done, total);
      if (s !== undefined) status = s;
      stream.write(`${tty ? '\r\x1b[2K' : ''}${line(true)}\n`);
    },
  };
}
