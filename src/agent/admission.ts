/**
 * Admission control of the sipsecd socket server (docs/PROTOCOL.md §6): how
 * many requests run at once, and when a refused one should come back.
 *
 * A fixed limit does not prevent congestion collapse: on a slow host the
 * requests admitted behind 31 others each wait for the CPU the others use,
 * past every timeout, and none is served in time.  The limit here adapts to
 * the latency of the requests it admitted (AIMD, as TCP's congestion window):
 * each one answered within `targetMs` raises it by 1/limit (about one per
 * round of requests); one slower than that lowers it by a quarter, at most
 * once per `targetMs`.  Beyond it requests are refused at once (`busy`),
 * which costs the daemon almost nothing, so what it admits is still served
 * within about `targetMs` however much more is asked of it.
 *
 * The handlers' own time is not all of it: sipsecd's kernel requests and
 * state saves mostly complete without yielding to the event loop, so under
 * load a request waits longest unread, in its socket, while the loop works
 * through every other connection that is ready, and its handler then runs
 * fast, with few others in flight (the load benchmark measured requests read
 * 4 to 13 s after the loop last ran its timers, handlers of at most 0.6 s and
 * an adaptive limit that never left its cap).  So the second signal is the
 * requests' queue delay, as CoDel (RFC 8289) judges a queue by its sojourn
 * time rather than its length: `tick()`, called from a short interval timer,
 * marks the start of a turn of the event loop; a request handled `now` was
 * reported readable by the time that turn began polling, so it has waited at
 * least `now - lastTick` in the daemon (less one tick interval at most, in a
 * turn whose timer was not due yet).  Past `queueTargetMs` of that, new
 * work is refused until the loop comes round again: each turn takes in about
 * `queueTargetMs` of new work and answers the rest `busy` at once, so the
 * turns, and with them the wait of every request read in them, stay short
 * however much arrives.  The first MIN_NEW_PER_TURN new requests of a turn
 * are admitted whatever the delay (a turn made long by urgent work, or by
 * other processes taking the CPU, is not itself a backlog of new work; a
 * few requests sent at once, a glare or a UA's first calls, are not
 * refused on a slow host; and the daemon always makes progress).  The
 * latency the adaptive limit learns from counts the same wait: from the
 * turn's start, not from the admission.
 *
 * Requests that finish work already begun (`urgent`: a call's confirm or activate, its
 * release) are admitted up to the hard cap `max` whatever the adaptive
 * limit: shedding them would waste what the call has cost already and keep
 * its reservations in the kernel.
 *
 * The retry hint: the demand refused over the last one to two seconds,
 * worked off at the rate requests completed meanwhile, is how long until the
 * daemon could serve it; at least the mean request latency, spread by ±50 %
 * so that refused clients do not all come back at the same instant.
 */

/** The adaptive limit never goes below this: the daemon always makes progress. */
const MIN_LIMIT = 2;
/**
 * New requests admitted in each turn of the event loop whatever their queue
 * delay: a host's few UAs sending a handful of requests at once on a slow or
 * stalled host (a turn past the target with no backlog) are all served.  At
 * least the per-connection in-flight limit (8).  The load runs 13-14 of
 * SECURITY.md §7 were measured with 4.
 */
export const MIN_NEW_PER_TURN = 8;
/** Length of one window of the refused/completed counts, ms. */
const WINDOW_MS = 1000;
/** Bounds of a retry hint, ms. */
const MIN_RETRY_MS = 100;
const MAX_RETRY_MS = 30_000;

export interface AdmissionOptions {
  /** Hard cap on requests in flight, urgent ones included. */
  readonly max: number;
  /** Latency the adaptive limit keeps admitted requests within, ms. */
  readonly targetMs: number;
  /** Queue delay (time since the event loop's turn began) past which new work is refused in that turn, ms. */
  readonly queueTargetMs: number;
  readonly now?: () => number;
  /** Uniform in [0, 1): the spread of retry hints. */
  readonly random?: () => number;
}

export class Admission {
  readonly #max: number;
  readonly #targetMs: number;
  readonly #queueTargetMs: number;
  readonly #now: () => number;
  readonly #random: () => number;
  #limit: number;
  #inFlight = 0;
  #lastDecrease = -Infinity;
  #lastTick: number;
  /** New work admitted since the last tick. */
  #sinceTick = 0;
  #refusedFor = '';
  #meanMs: number | undefined;
  #window: { start: number; done: number; refused: number };
  #previous = { done: 0, refused: 0 };

  constructor(o: AdmissionOptions) {
    this.#max = o.max;
    this.#targetMs = o.targetMs;
    this.#queueTargetMs = o.queueTargetMs;
    this.#now = o.now ?? (() => performance.now());
    this.#random = o.random ?? Math.random;
    this.#limit = o.max;
    this.#window = { start: this.#now(), done: 0, refused: 0 };
    this.#lastTick = this.#now();
  }

  /** The event loop got round to its timers: a new turn begins, and a request read later in it has waited at least since now. */
  tick(): void {
    this.#lastTick = this.#now();
    this.#sinceTick = 0;
  }

  /** Why the last refusal happened, for its message. */
  get refusedFor(): string {
    return this.#refusedFor;
  }

  get inFlight(): number {
    return this.#inFlight;
  }

  /** The adaptive limit now (requests that are not urgent). */
  get limit(): number {
    return Math.max(MIN_LIMIT, Math.floor(this.#limit));
  }

  /** Admit a request: returns the function to call when it is over, or undefined (refused: answer `busy`). */
  admit(urgent: boolean): (() => void) | undefined {
    const queued = this.#now() - this.#lastTick > this.#queueTargetMs && this.#sinceTick >= MIN_NEW_PER_TURN;
    if (this.#inFlight >= this.#max || (!urgent && (queued || this.#inFlight >= this.limit))) {
      this.#roll().refused++;
      this.#refusedFor =
        !queued || this.#inFlight >= this.#max
          ? `${this.#inFlight} requests in flight, limit ${urgent ? this.#max : this.limit}`
          : `requests waited over ${this.#queueTargetMs} ms unread`;
      return undefined;
    }
    if (!urgent) this.#sinceTick++;
    this.#inFlight++;
    const t0 = this.#lastTick;
    let over = false;
    return () => {
      if (over) return;
      over = true;
      this.#inFlight--;
      this.#done(this.#now() - t0);
    };
  }

  /** When a refused request should be sent again, ms (PROTOCOL.md §5 `busy`). */
  retryAfterMs(): number {
    const w = this.#roll();
    const spanS = (this.#now() - w.start + WINDOW_MS) / 1000;
    const done = w.done + this.#previous.done;
    const refused = w.refused + this.#previous.refused;
    const backlogMs = done > 0 ? ((refused * spanS) / done) * 1000 : 0;
    const base = Math.max(MIN_RETRY_MS, this.#meanMs ?? 0, backlogMs);
    return Math.round(Math.min(MAX_RETRY_MS, base * (0.5 + this.#random())));
  }

  #done(ms: number): void {
    this.#roll().done++;
    this.#meanMs = this.#meanMs === undefined ? ms : 0.9 * this.#meanMs + 0.1 * ms;
    if (ms <= this.#targetMs) {
      this.#limit = Math.min(this.#max, this.#limit + 1 / this.#limit);
      return;
    }
    const now = this.#now();
    if (now - this.#lastDecrease < this.#targetMs) return;
    this.#lastDecrease = now;
    this.#limit = Math.max(MIN_LIMIT, this.#limit * 0.75);
  }

  /** The current window, after starting a new one if it is over. */
  #roll(): { start: number; done: number; refused: number } {
    const now = this.#now();
    const w = this.#window;
    if (now - w.start < WINDOW_MS) return w;
    this.#previous = now - w.start < 2 * WINDOW_MS ? { done: w.done, refused: w.refused } : { done: 0, refused: 0 };
    this.#window = { start: now - ((now - w.start) % WINDOW_MS), done: 0, refused: 0 };
    return this.#window;
  }
}
