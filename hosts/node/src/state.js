// The --state file as host-runner takes it: a JSON array of state messages, one message, STATE
// wrappers, or the lines of a previous read (the latest STATE per stream wins). A single object
// that is no message (a legacy map) passes unchanged.

const isWrapper = (v) => v?.type === 'STATE' && typeof v.state === 'object';
const isStateMessage = (v) => v !== null && typeof v === 'object' && ('stream' in v || 'global' in v || 'data' in v) && !('record' in v);

export function normalizeState(text) {
  let documents;
  try {
    documents = [JSON.parse(text)];
  } catch {
    documents = text.split('\n').filter((l) => l.trim()).map((l, i) => {
      try {
        return JSON.parse(l);
      } catch (e) {
        throw new Error(`--state line ${i + 1} is not JSON: ${e.message}`);
      }
    });
  }
  const [single] = documents;
  if (documents.length === 1 && single && typeof single === 'object' && !Array.isArray(single) && !isWrapper(single) && !isStateMessage(single)) {
    return JSON.stringify(single);
  }
  const latest = new Map();
  documents.flatMap((d) => (Array.isArray(d) ? d : [d])).forEach((item, i) => {
    let message;
    if (isWrapper(item)) message = item.state;
    else if (isStateMessage(item)) message = item;
    else if (typeof item?.type === 'string') return;
    else throw new Error(`--state entry ${i} is not a state message`);
    latest.set(message?.stream?.stream_descriptor?.name ?? `#${i}`, message);
  });
  return JSON.stringify([...latest.values()]);
}
