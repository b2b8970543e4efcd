// Embedding the component in your own Node.js program: load it once (jco transpiles it and
// caches the result), read with a writer of your own, and count the records of each stream
// instead of printing protocol lines. Outgoing HTTP goes only to the config's `lark_host`
// (and any `allowHosts` you pass).
//
//   node examples/count-records.js feishu.wasm config.json

import { readFileSync } from 'node:fs';
import { Connector } from '../src/host.js';

const [componentPath, configPath] = process.argv.slice(2);
const connector = await Connector.load(componentPath);
const counts = new Map();
let pending = '';
const code = await connector.run(
  'read',
  { config: readFileSync(configPath, 'utf8') },
  {
    // Protocol lines arrive a page at a time (a string or a Buffer, whole lines).
    write(chunk) {
      pending += chunk.toString();
      const lines = pending.split('\n');
      pending = lines.pop();
      for (const line of lines) {
        const message = JSON.parse(line);
        if (message.type === 'RECORD') {
          counts.set(message.record.stream, (counts.get(message.record.stream) ?? 0) + 1);
        }
      }
    },
    stderr: () => {},
  },
);
for (const [stream, count] of counts) console.log(`${stream}\t${count}`);
process.exit(code);
