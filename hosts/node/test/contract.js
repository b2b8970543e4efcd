// Prints this host's answers to the host contract's table given as JSON in argv[2]
// (`host_runner::contract()`): tests/e2e/node_host.rs compares them with host-runner's.
import { contractRow, exitCode } from '../src/host.js';

const table = JSON.parse(process.argv[2]);
const categories = table.categories.map((row) => ({
  category: row.category,
  wait_ms: row.wait_ms,
  ...contractRow(row.category, row.wait_ms),
}));
const kinds = table.kinds.map((row) => ({ kind: row.kind, exit_code: exitCode(row.kind) }));
process.stdout.write(JSON.stringify({ categories, kinds }));
