// Runs the host contract's conformance cases (protocol/conformance/cases.json, path in argv[2])
// through this host's own Run (the `host` imports a component calls, and the run's end) and
// prints, for each case, the lines written (as text), the exit code and each call's refusal, as JSON;
// tests/e2e/node_host.rs compares them with what the cases hold.
import { readFileSync } from 'node:fs';
import { Failure, Run } from '../src/host.js';
import * as line from '../src/protocol.js';

/** A case's error as the component's `connector-error` (jco's shape). */
function witError(error) {
  const category = typeof error.category === 'string'
    ? { tag: error.category }
    : { tag: 'rate-limited', val: BigInt(error.category['rate-limited']) };
  return {
    category,
    message: error.message,
    upstreamCode: error.upstream_code === null ? undefined : BigInt(error.upstream_code),
    requestId: error.request_id === null ? undefined : error.request_id,
  };
}

/** A refusal as the cases spell it. */
function refusalOf(result) {
  if (result === undefined) return null;
  const { tag, val } = result.val;
  return tag === 'invalid-record' ? { invalid: val.index } : val;
}

function runCase(kase) {
  const written = [];
  const run = new Run((bytes) => written.push(Buffer.from(bytes).toString('utf8')), () => {}, 'INFO');
  const host = run.hostImports();
  const refusals = [];
  for (const call of kase.calls) {
    const [name, args] = Object.entries(call).find(([key]) => key !== 'refused');
    let result;
    switch (name) {
      case 'status': host.setStreamStatus(args[0], args[1]); break;
      case 'records': result = host.emitRecords(args[0], args[1].map((text) => new Uint8Array(Buffer.from(text)))); break;
      case 'state': result = host.emitState(args[0], args[1]); break;
      case 'fail': host.failStream(args[0], witError(args[1])); break;
      case 'log': host.log(args[0], args[1]); break;
      case 'requests': host.streamRequests(args[0], BigInt(args[1])); break;
      default: throw new Error(`unknown call ${name}`);
    }
    refusals.push(refusalOf(result));
  }
  let failure = null;
  if (kase.end?.error) failure = Failure.connector(witError(kase.end.error), null);
  if (kase.end?.runner) {
    failure = new Failure(kase.end.runner, kase.end.runner, 'system_error', 'internal');
    failure.host = true;
  }
  if (kase.operation === 'check' && failure === null) run.emit(line.connectionStatus(true));
  const exit = run.finish(kase.operation, failure);
  // The lines as written (parsed by the Rust side, so numbers keep their form: `2.0`).
  const lines = written.join('').split('\n').filter((l) => l !== '');
  return { name: kase.name, lines, exit, refusals };
}

const cases = JSON.parse(readFileSync(process.argv[2], 'utf8'));
process.stdout.write(JSON.stringify(cases.map(runCase)));
