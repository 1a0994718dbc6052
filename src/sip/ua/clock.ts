/**
 * Time source for the transaction and dialog layers, injectable so unit tests
 * can run RFC 3261 timers (T1 = 500 ms ... 64*T1 = 32 s) without waiting.
 */
export interface Timer {
  cancel(): void;
}

export interface Clock {
  /** Milliseconds, monotonic. */
  now(): number;
  /** Run `fn` once after `ms` milliseconds. */
  after(ms: number, fn: () => void): Timer;
}

export const realClock: Clock = {
  now: () => performance.now(),
  after(ms, fn) {
    // Unref'd: the UA's sockets keep the process alive while it works; a
    // transaction timer (up to 64*T1) must not delay its exit once it closed them.
    const t = setTimeout(fn, ms).unref();
    return { cancel: () => clearTimeout(t) };
  },
};

/** A clock that moves only when told: `advance(ms)` fires due timers in order. */
export class ManualClock implements Clock {
  #now = 0;
  #seq = 0;
  readonly #timers = new Map<number, { at: number; fn: () => void }>();

  now(): number {
    return this.#now;
  }

  after(ms: number, fn: () => void): Timer {
    const id = this.#seq++;
    this.#timers.set(id, { at: this.#now + Math.max(0, ms), fn });
    return { cancel: () => this.#timers.delete(id) };
  }

  advance(ms: number): void {
    const end = this.#now + ms;
    for (;;) {
      let next: [number, { at: number; fn: () => void }] | undefined;
      for (const e of this.#timers) if (e[1].at <= end && (next === undefined || e[1].at < next[1].at)) next = e;
      if (next === undefined) break;
      this.#timers.delete(next[0]);
      this.#now = next[1].at;
      next[1].fn();
    }
    this.#now = end;
  }
}
