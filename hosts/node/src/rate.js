// The request rate, as host-runner's sandbox/request_rate.rs applies it: the component's spec
// declares its upstream's limit (`x-rate-limit.requests_per_second` beside the config schema)
// and the paths its upstream does not count (`x-uncounted-paths`); the operator's --max-rps
// replaces the declared rate (0: no limit). Requests to each host are spaced so that no sliding
// second holds more than the rate (with 50 ms of slack for uneven network delays). jco calls
// the outgoing handler synchronously, so a held request blocks this thread (Atomics.wait)
// while the HTTP worker thread goes on.

const SLACK_MS = 50;

/** What the spec declares: { requestsPerSecond, uncountedPaths }. */
export function declared(spec) {
  const schema = spec?.connectionSpecification ?? {};
  const rps = schema['x-rate-limit']?.requests_per_second;
  const paths = schema['x-uncounted-paths'];
  return {
    requestsPerSecond: Number.isInteger(rps) && rps > 0 ? rps : 0,
    uncountedPaths: Array.isArray(paths) ? paths.filter((p) => typeof p === 'string') : [],
  };
}

export class RequestRate {
  /** `maxRps`: the operator's rate (undefined: the declared one; 0: none). */
  constructor(spec, maxRps) {
    const { requestsPerSecond, uncountedPaths } = declared(spec);
    this.rate = maxRps ?? requestsPerSecond;
    this.uncountedPaths = uncountedPaths;
    this.sent = new Map();
    this.held = 0;
    this.heldMs = 0;
  }

  /** Waits, if need be, until a request to `origin` fits in the rate. */
  admit(origin) {
    if (!this.rate) return;
    const window = 1000 + SLACK_MS;
    const times = this.sent.get(origin) ?? [];
    let now = Date.now();
    while (times.length > 0 && now - times[0] >= window) times.shift();
    if (times.length >= this.rate) {
      const wait = times[0] + window - now;
      if (wait > 0) {
        Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, wait);
        this.held += 1;
        this.heldMs += wait;
      }
      now = Date.now();
      while (times.length > 0 && now - times[0] >= window) times.shift();
    }
    times.push(now);
    this.sent.set(origin, times);
  }

  /** Whether the upstream counts a request to `path` against its quota. */
  counts(path) {
    return !this.uncountedPaths.some((prefix) => path.startsWith(prefix));
  }
}
