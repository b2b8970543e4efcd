// Runs a `source`-world connector component on Node.js through jco, the way host-runner does:
// the component gets no environment, arguments or files, reaches only the hosts the operator
// granted, and its output becomes Airbyte protocol lines identical to host-runner's.
//
// Flow: `Connector.load` transpiles the component once (cached by its hash), `run` instantiates
// it with our `host` imports over a `Run` (per-stream bookkeeping and the protocol writer),
// calls spec() to learn the host fields, grants, calls the operation, and ends the streams.

import { isUtf8 } from 'node:buffer';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync, writeSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { transpile } from '@bytecodealliance/jco';
import { WASIShim } from '@bytecodealliance/preview2-shim/instantiation';
import { outgoingHandler } from '@bytecodealliance/preview2-shim/http';
import * as line from './protocol.js';
import { Secrets, resolveReferences } from './secrets.js';
import { KeptSecrets, MIN_KEPT_BYTES } from './kept.js';
import { RequestRate } from './rate.js';
import { allowList, patternText } from './sandbox.js';
import { FileStore } from './files.js';

const HERE = dirname(fileURLToPath(import.meta.url));
const DEFAULT_CACHE = join(HERE, '..', '.cache');

/** Exit codes, as host-runner's. */
export const EXIT = { ok: 0, internal: 1, flags: 2, output: 3, config: 4, auth: 5, transient: 6, sandbox: 7 };

// The host contract's failure table, as data: `contract.json` is protocol::contract(), checked
// equal to it by `cargo test -p protocol` (tests/conformance.rs), so this host keeps no copy.
const CONTRACT = JSON.parse(readFileSync(join(HERE, 'contract.json'), 'utf8'));
const KIND_EXIT = Object.fromEntries(CONTRACT.kinds.map((row) => [row.kind, row.exit_code]));
/** The contract's row of a category (`rate-limited` without a wait for any rate limit). */
const CATEGORY = Object.fromEntries(
  CONTRACT.categories.filter((row) => row.wait_ms === null).map((row) => [row.category, row]),
);

/** A stdout (or any fd) writer that retries when a non-blocking pipe is full. */
export function fdWriter(fd) {
  return (data) => {
    const bytes = typeof data === 'string' ? Buffer.from(data) : data;
    let off = 0;
    while (off < bytes.length) {
      try {
        off += writeSync(fd, bytes, off);
      } catch (e) {
        if (e.code !== 'EAGAIN') throw e;
      }
    }
  };
}

/** A compiled component, ready to run. */
export class Connector {
  static async load(componentPath, { cacheDir = DEFAULT_CACHE } = {}) {
    const bytes = readFileSync(componentPath);
    const hash = createHash('sha256').update(bytes).digest('hex').slice(0, 16);
    const dir = join(cacheDir, hash);
    if (!existsSync(join(dir, 'component.js'))) {
      const { files } = await transpile(bytes, { name: 'component', instantiation: 'async', noTypescript: true });
      const staging = `${dir}.${process.pid}`;
      for (const [name, content] of Object.entries(files)) {
        mkdirSync(dirname(join(staging, name)), { recursive: true });
        writeFileSync(join(staging, name), content);
      }
      mkdirSync(cacheDir, { recursive: true });
      try {
        renameSync(staging, dir);
      } catch (e) {
        if (!existsSync(join(dir, 'component.js'))) throw e;
      }
    }
    const module = await import(pathToFileURL(join(dir, 'component.js')).href);
    return new Connector(dir, module);
  }

  constructor(dir, module) {
    this.dir = dir;
    this.module = module;
  }

  /**
   * Runs `operation` ('spec' | 'check' | 'discover' | 'read') with `inputs` { config, catalog,
   * state } (JSON texts), `allowHosts` (patterns), writing protocol lines with `write`. Returns
   * the exit code.
   */
  async run(operation, inputs, { allowHosts = [], write = fdWriter(1), stderr = fdWriter(2), minLevel = 'INFO', concurrency = 4, maxRps = undefined, filesDir = null } = {}) {
    const run = new Run(write, stderr, minLevel);
    run.files = new FileStore(filesDir);
    run.streamsAtOnce = Math.max(1, Math.floor(concurrency));
    let result;
    try {
      result = await this.#execute(run, operation, inputs, allowHosts, maxRps);
    } catch (failure) {
      result = failure instanceof Failure ? failure : Failure.internal(failure);
    }
    run.files.dropAll();
    return run.finish(operation, result ?? null);
  }

  async #execute(run, operation, inputs, allowHosts, maxRps) {
    const config = inputs.config === undefined ? undefined : parseInput(inputs.config, 'config');
    let resolved = [];
    if (config !== undefined) {
      try {
        resolved = resolveReferences(config);
      } catch (e) {
        throw new Failure(e.message, 'invalid input', 'config_error', 'input');
      }
    }
    const exports = await this.#instantiate(run);
    const specText = guard(() => exports.spec(), run);
    const spec = JSON.parse(specText);
    if (config !== undefined) {
      run.secrets.addConfig(spec, config);
      for (const value of resolved) run.secrets.add(value);
      run.sandbox = allowList(spec, config, allowHosts);
      run.rate = new RequestRate(spec, maxRps);
      run.logGrants();
    }
    const { kept, tooShort } = config === undefined ? { kept: [] } : run.kept.keep(spec, config);
    for (const field of tooShort ?? []) {
      run.log('WARN', `config field \`${field}\` is too short to be kept by the host (under ${MIN_KEPT_BYTES} bytes): the component sees its value`);
    }
    const rewritten = resolved.length > 0 || kept.length > 0;
    const configText = config === undefined ? '' : rewritten ? JSON.stringify(config) : inputs.config;
    switch (operation) {
      case 'spec':
        run.emit(line.spec(JSON.stringify(spec)));
        return null;
      case 'check':
        guard(() => exports.check(configText), run);
        run.emit(line.connectionStatus(true));
        return null;
      case 'discover': {
        const catalog = guard(() => exports.discover(configText), run);
        run.emit(line.catalog(JSON.stringify(JSON.parse(catalog))));
        return null;
      }
      case 'read':
        guard(() => exports.read(configText, inputs.catalog, inputs.state), run);
        return null;
      default:
        throw new Failure(`unknown operation ${operation}`, 'invalid input', 'config_error', 'input');
    }
  }

  async #instantiate(run) {
    const shim = new WASIShim({ sandbox: { env: {}, args: ['connector'], preopens: {} } });
    const imports = shim.getImportObject();
    imports['wasi:cli/environment'] = {
      getEnvironment: () => [],
      getArguments: () => ['connector'],
      initialCwd: () => undefined,
    };
    imports['wasi:http/outgoing-handler'] = {
      handle(request, options) {
        const authority = request.authority() ?? '';
        const scheme = request.scheme();
        const name = scheme?.tag === 'HTTPS' ? 'https' : scheme?.tag === 'HTTP' ? 'http' : String(scheme?.val);
        const url = `${name}://${authority}${request.pathWithQuery() ?? '/'}`;
        run.requests += 1;
        run.noteBearer(request);
        if (!run.sandbox?.allowsUrl(url)) {
          run.refuse(url);
          throw { tag: 'HTTP-request-denied' };
        }
        request.admit?.();
        run.rate?.admit(`${name}://${authority}`);
        if (run.rate && !run.rate.counts(request.pathWithQuery() ?? '/')) run.uncounted += 1;
        return run.watch(outgoingHandler.handle(request, options));
      },
    };
    // The shim hands a body stream's failure (a connection cut mid-answer) to
    // `http-error-code` as a bare Error, which is no `error-code` and traps the component.
    const types = imports['wasi:http/types'];
    imports['wasi:http/types'] = {
      ...types,
      OutgoingRequest: run.kept.requestClass(types.OutgoingRequest),
      httpErrorCode(err) {
        const code = types.httpErrorCode(err);
        if (code === undefined || typeof code?.tag === 'string') return code;
        return { tag: 'connection-terminated' };
      },
    };
    imports['datasource:connector/types'] = {};
    imports['datasource:connector/host'] = run.hostImports();
    imports['datasource:connector/files'] = run.files.imports();
    const getCoreModule = (path) => WebAssembly.compile(readFileSync(join(this.dir, path)));
    return this.module.instantiate(getCoreModule, imports);
  }
}

/** Why a run failed: the protocol's report and the kind (which sets the exit code). */
export class Failure {
  constructor(message, internal, failureType, kind) {
    Object.assign(this, { message, internal, failureType, kind });
  }

  /** A failure of the host or of the component's code (a trap), not a connector error. */
  static internal(error, prefix = '') {
    const message = `${prefix}${error instanceof Error ? error.message : String(error)}`;
    const failure = new Failure(message, String(error?.stack ?? message), 'system_error', 'internal');
    failure.host = true;
    return failure;
  }

  /** The connector returned while `stream` was still open (the contract's own words). */
  static unfinished(stream) {
    const message = `the connector returned without finishing stream \`${stream}\``;
    const failure = new Failure(message, message, 'system_error', 'internal');
    failure.host = true;
    return failure;
  }

  /** A connector-error record from the component; `refusal` when the sandbox refused meanwhile. */
  static connector(error, refusal) {
    const tag = error.category.tag;
    const row = CATEGORY[tag] ?? CATEGORY.internal;
    const wait = error.category.val;
    let internal = tag === 'rate-limited' && wait !== undefined
      ? row.internal.replace('(None)', `(Some(${wait}))`)
      : row.internal;
    if (error.upstreamCode !== undefined) internal += `; upstream code ${error.upstreamCode}`;
    if (error.requestId !== undefined) internal += `; request id ${error.requestId}`;
    return new Failure(
      refusal ? `${error.message}. ${refusal}` : error.message,
      internal,
      row.failure_type,
      refusal ? 'sandbox' : row.kind,
    );
  }
}

/**
 * This host's answer for a row of the host contract's table (protocol/src/report.rs): the kind,
 * failure type and internal text of a connector error of WIT category `tag` (with `waitMs`
 * for rate-limited), and the exit code of its kind. A test checks them against host-runner's.
 */
export function contractRow(tag, waitMs) {
  const category = { tag, val: waitMs === null ? undefined : BigInt(waitMs) };
  const failure = Failure.connector({ category, message: '' }, null);
  return { kind: failure.kind, failure_type: failure.failureType, internal: failure.internal };
}

/** The exit code a run failing with `kind` ends with. */
export const exitCode = (kind) => KIND_EXIT[kind] ?? EXIT.internal;

/** Calls into the component; its error becomes a Failure, a trap an internal one. */
function guard(call, run) {
  try {
    return call();
  } catch (e) {
    if (e?.payload?.category) throw Failure.connector(e.payload, run.takeRefusal());
    throw Failure.internal(e, 'the component failed: ');
  }
}

function parseInput(text, what) {
  try {
    return JSON.parse(text);
  } catch (e) {
    throw new Failure(`the ${what} is not valid JSON: ${e.message}`, 'invalid input', 'config_error', 'input');
  }
}

const SEVERITY = { TRACE: 0, DEBUG: 1, INFO: 2, WARN: 3, ERROR: 4 };

/** One run's output: the protocol writer and each stream's progress. */
export class Run {
  constructor(write, stderr, minLevel) {
    Object.assign(this, { write, stderr, minLevel });
    this.streams = new Map();
    this.failed = [];
    this.refusal = null;
    this.sandbox = null;
    this.requests = 0;
    this.uncounted = 0;
    this.retried = 0;
    this.rate = null;
    this.started = Date.now();
    this.secrets = new Secrets();
    this.kept = new KeptSecrets();
    this.streamsAtOnce = 1;
    this.files = new FileStore(null);
  }

  emit(text) {
    this.write(Buffer.from(`${this.secrets.scrub(text)}\n`));
  }

  /** `future` (an answer on its way), counting an answer that asks for a retry (429, 5xx). */
  watch(future) {
    const get = future.get.bind(future);
    let seen = false;
    future.get = () => {
      const answer = get();
      const response = answer?.tag === 'ok' && answer.val?.tag === 'ok' ? answer.val.val : null;
      if (response && !seen) {
        seen = true;
        const status = response.status();
        if (status === 429 || status >= 500) this.retried += 1;
      }
      return answer;
    };
    return future;
  }

  /** Adds the bearer token an outgoing request carries to the secrets masked. */
  noteBearer(request) {
    try {
      for (const value of request.headers().get('authorization')) {
        this.secrets.addBearer(Buffer.from(value).toString('utf8'));
      }
    } catch {
      // A request without readable headers carries no token to mask.
    }
  }

  note(level, message) {
    message = this.secrets.scrub(message);
    if (SEVERITY[level] >= SEVERITY[this.minLevel] || level === 'ERROR') {
      // Control characters escaped, as host-runner does on stderr.
      this.stderr(`${level.padEnd(5)} ${JSON.stringify(message).slice(1, -1)}\n`);
    }
  }

  log(level, message) {
    if (SEVERITY[level] < SEVERITY[this.minLevel] && level !== 'ERROR') return;
    if (level === 'DEBUG' || level === 'TRACE') return this.note(level, message);
    this.emit(line.log(level, message));
    this.note(level, message);
  }

  logGrants() {
    const { grants } = this.sandbox;
    if (grants.length === 0) {
      this.note('INFO', 'outgoing HTTP allowed to: nothing (set the host in the config or pass --allow-host)');
    }
    for (const g of grants) this.note('INFO', `outgoing HTTP allowed to ${patternText(g.pattern)} (from ${g.source})`);
  }

  refuse(url) {
    const message = this.sandbox ? this.sandbox.refusal(url) : `sandbox refused a request to ${url}: no config, no grants`;
    this.log('WARN', message);
    this.refusal = message;
  }

  takeRefusal() {
    const r = this.refusal;
    this.refusal = null;
    return r;
  }

  stream(name) {
    let s = this.streams.get(name);
    if (!s) {
      s = { status: null, sinceState: 0, total: 0, started: 0, took: 0, requests: null };
      this.streams.set(name, s);
    }
    return s;
  }

  status(name, status) {
    const s = this.stream(name);
    s.status = status;
    if (status === 'STARTED') s.started = Date.now();
    else s.took = Date.now() - s.started;
    this.emit(line.streamStatus(name, status));
    if (status !== 'STARTED') {
      const shown = status === 'COMPLETE' ? 'Complete' : 'Incomplete';
      this.note('INFO', `stream \`${name}\` ${shown} after ${s.total} records`);
    }
  }

  /** Our `datasource:connector/host` interface. */
  hostImports() {
    return {
      emitRecords: (stream, records) => this.records(stream, records),
      emitState: (stream, state) => this.state(stream, state),
      setStreamStatus: (stream, status) => this.status(stream, status.toUpperCase()),
      failStream: (stream, error) => {
        const failure = Failure.connector(error, this.takeRefusal());
        this.status(stream, 'INCOMPLETE');
        this.error(failure, stream);
        this.failed.push(failure.kind);
      },
      log: (level, message) => this.log(level.toUpperCase(), message),
      streamsAtOnce: () => this.streamsAtOnce,
      streamRequests: (stream, requests) => {
        // Only a stream the run has seen: a name never started adds nothing to the summary.
        const s = this.streams.get(stream);
        if (s) s.requests = Number(requests);
      },
    };
  }

  records(stream, records) {
    for (let i = 0; i < records.length; i++) {
      const why = invalidObject(records[i]);
      if (why) return { tag: 'err', val: { tag: 'invalid-record', val: { index: i, reason: why } } };
    }
    const s = this.stream(stream);
    if (s.status === null) this.status(stream, 'STARTED');
    else if (s.status !== 'STARTED') {
      return { tag: 'err', val: { tag: 'closed', val: `stream \`${stream}\` is already ${s.status}; no more records are accepted` } };
    }
    this.write(this.secrets.scrubBytes(line.records(stream, records)));
    s.sinceState += records.length;
    s.total += records.length;
    return undefined;
  }

  state(stream, state) {
    try {
      JSON.parse(state);
    } catch (e) {
      return { tag: 'err', val: { tag: 'invalid-record', val: { index: 0, reason: e.message } } };
    }
    const s = this.stream(stream);
    this.emit(line.state(stream, state, s.sinceState));
    s.sinceState = 0;
    return undefined;
  }

  error(report, stream) {
    this.note('ERROR', report.message);
    this.emit(line.error(report, stream));
  }

  /** Ends the run as host-runner does; returns the exit code. */
  finish(operation, failure) {
    const open = [...this.streams].filter(([, s]) => s.status === 'STARTED').map(([name]) => name);
    for (const name of open) this.status(name, 'INCOMPLETE');
    if (!failure && open.length > 0) {
      failure = Failure.unfinished(open[0]);
    }
    if (operation === 'check' && failure) {
      this.emit(line.connectionStatus(false, failure.message));
      if (failure.host) {
        this.error(failure, undefined);
        return EXIT.internal;
      }
      this.note('INFO', `check failed: ${failure.message}`);
      return EXIT.ok;
    }
    if (failure) {
      if (open.length === 0) this.error(failure, undefined);
      for (const name of open) this.error(failure, name);
    }
    if (operation === 'read') this.summary();
    const kind = this.failed[0] ?? failure?.kind;
    return kind === undefined ? EXIT.ok : exitCode(kind);
  }

  summary() {
    let records = 0;
    const parts = [];
    // By name, as the contract's summary lists them.
    const byName = [...this.streams].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    for (const [name, s] of byName) {
      records += s.total;
      const requests = s.requests === null ? '' : ` with ${s.requests} requests`;
      parts.push(`stream \`${name}\`: ${s.total} records${requests} in ${(s.took / 1000).toFixed(1)} s, ${s.status ?? 'NOT STARTED'}`);
    }
    const held = this.rate?.held ?? 0;
    const heldSecs = ((this.rate?.heldMs ?? 0) / 1000).toFixed(1);
    const total = `read ${records} records of ${this.streams.size} streams in ${((Date.now() - this.started) / 1000).toFixed(1)} s: ` +
      `${this.requests} requests, ${this.requests - this.uncounted} of them counted by the upstream's quota, ` +
      `${this.retried} answers retried (429 or 5xx), ${held} requests held by the rate limiter (${heldSecs} s)`;
    for (const p of parts) this.note('INFO', `summary: ${p}`);
    this.note('INFO', `summary: ${total}`);
    this.log('INFO', parts.length === 0 ? `summary: ${total}` : `summary: ${total}; ${parts.join('; ')}`);
  }
}

/**
 * Why `bytes` is not a JSON object in UTF-8, or null when it is. The cheap way: Node's native
 * UTF-8 check, then JSON.parse of the bytes read as Latin-1 (a one-byte string, no decoding).
 * That is exact: bytes of multi-byte characters are all >= 0x80, which JSON allows inside
 * strings and nowhere else, the same as the characters they encode.
 */
function invalidObject(bytes) {
  const buffer = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (!isUtf8(buffer)) return 'not valid UTF-8';
  let value;
  try {
    value = JSON.parse(buffer.latin1Slice(0, buffer.length));
  } catch (e) {
    return e.message;
  }
  return value !== null && typeof value === 'object' && !Array.isArray(value) ? null : 'not a JSON object';
}
