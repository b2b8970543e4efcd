#!/usr/bin/env node
// feishu-node-host COMPONENT spec|check|discover|read [--config F] [--catalog F] [--state F]
//                  [--allow-host P]... [--log-level error|warn|info|debug] [--concurrency N]
//                  [--max-rps N] [--files-dir DIR]
// Same arguments, stdout and exit codes as host-runner; logs go to stderr.

import { readFileSync } from 'node:fs';
import { Connector, EXIT, fdWriter } from './host.js';
import { hostPattern } from './sandbox.js';
import { normalizeState } from './state.js';

const USAGE =
  'usage: feishu-node-host COMPONENT spec|check|discover|read [--config FILE] [--catalog FILE] ' +
  '[--state FILE] [--allow-host PATTERN]... [--log-level error|warn|info|debug] [--concurrency N] [--max-rps N] ' +
  '[--files-dir DIR]';
const OPERATIONS = ['spec', 'check', 'discover', 'read'];
const LEVELS = { error: 'ERROR', warn: 'WARN', info: 'INFO', debug: 'DEBUG' };

function parseArgs(argv) {
  const args = { allowHosts: [], minLevel: 'INFO', concurrency: 4, filesDir: 'files' };
  const positional = [];
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    const value = () => {
      const v = argv[++i];
      if (v === undefined) throw new Error(`${arg} needs a value`);
      return v;
    };
    switch (arg) {
      case '--config': args.config = value(); break;
      case '--catalog': args.catalog = value(); break;
      case '--state': args.state = value(); break;
      case '--files-dir': args.filesDir = value(); break;
      case '--allow-host': {
        const pattern = value();
        hostPattern(pattern); // a bad pattern is a flag error, said before anything runs
        args.allowHosts.push(pattern);
        break;
      }
      case '--log-level': {
        const level = LEVELS[value()];
        if (!level) throw new Error('--log-level takes error, warn, info or debug');
        args.minLevel = level;
        break;
      }
      case '--max-rps': {
        const n = Number(value());
        if (!Number.isInteger(n) || n < 0) throw new Error('--max-rps takes a whole number (0: no limit)');
        args.maxRps = n;
        break;
      }
      case '--concurrency': {
        const n = Number(value());
        if (!Number.isInteger(n) || n < 1) throw new Error('--concurrency takes a whole number of at least 1');
        args.concurrency = n;
        break;
      }
      case '-h': case '--help': process.stdout.write(`${USAGE}\n`); process.exit(EXIT.ok); break;
      default:
        if (arg.startsWith('-')) throw new Error(`unknown flag ${arg}`);
        positional.push(arg);
    }
  }
  const [component, operation, extra] = positional;
  if (!component || !OPERATIONS.includes(operation) || extra !== undefined) throw new Error(USAGE);
  if (operation !== 'spec' && args.config === undefined) throw new Error(`${operation} needs --config FILE`);
  return { ...args, component, operation };
}

function readInput(path, flag) {
  try {
    return readFileSync(path, 'utf8');
  } catch (e) {
    throw new Error(`cannot read ${flag} file ${path}: ${e.message}`);
  }
}

async function main() {
  let args;
  let inputs;
  try {
    args = parseArgs(process.argv.slice(2));
    inputs = {
      config: args.config === undefined ? undefined : readInput(args.config, '--config'),
      catalog: args.catalog === undefined ? undefined : readInput(args.catalog, '--catalog'),
      state: args.state === undefined ? undefined : normalizeState(readInput(args.state, '--state')),
    };
  } catch (e) {
    process.stderr.write(`ERROR ${e.message}\n`);
    return EXIT.flags;
  }
  const connector = await Connector.load(args.component);
  return connector.run(args.operation, inputs, {
    allowHosts: args.allowHosts,
    minLevel: args.minLevel,
    concurrency: args.concurrency,
    maxRps: args.maxRps,
    filesDir: args.filesDir,
    write: fdWriter(1),
    stderr: fdWriter(2),
  });
}

main().then(
  (code) => process.exit(code),
  (e) => {
    process.stderr.write(`ERROR ${e?.message ?? e}\n`);
    process.exit(EXIT.internal);
  },
);
