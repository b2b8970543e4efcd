// The Airbyte protocol on the wire, byte for byte as host-runner writes it: one JSON object per
// line, keys in host-runner's order, RECORD lines spliced around the connector's own JSON, and
// U+2028 / U+2029 escaped so that no reader splits a line.

const LINE_BREAKS = /[\n\r\u2028\u2029]/g;
const ESCAPES = { '\n': ' ', '\r': ' ', '\u2028': '\\u2028', '\u2029': '\\u2029' };

/** Valid JSON text kept on one line for every reader. */
export function oneLine(json) {
  LINE_BREAKS.lastIndex = 0;
  return LINE_BREAKS.test(json) ? json.replace(LINE_BREAKS, (c) => ESCAPES[c]) : json;
}

const str = (s) => JSON.stringify(s);
const float = (n) => (Number.isInteger(n) ? `${n}.0` : String(n));

export function spec(specJson) {
  return `{"type":"SPEC","spec":${oneLine(specJson)}}`;
}

export function connectionStatus(succeeded, message) {
  const tail = message === undefined ? '' : `,"message":${str(message)}`;
  return `{"type":"CONNECTION_STATUS","connectionStatus":{"status":"${succeeded ? 'SUCCEEDED' : 'FAILED'}"${tail}}}`;
}

export function catalog(catalogJson) {
  return `{"type":"CATALOG","catalog":${oneLine(catalogJson)}}`;
}

export function log(level, message) {
  return oneLine(`{"type":"LOG","log":{"level":"${level}","message":${str(message)}}}`);
}

export function state(stream, stateJson, recordCount) {
  return (
    `{"type":"STATE","state":{"type":"STREAM","stream":{"stream_descriptor":{"name":${str(stream)}},` +
    `"stream_state":${oneLine(stateJson)}},"sourceStats":{"recordCount":${float(recordCount)}}}}`
  );
}

export function streamStatus(stream, status) {
  return (
    `{"type":"TRACE","trace":{"type":"STREAM_STATUS","emitted_at":${float(Date.now())},` +
    `"stream_status":{"stream_descriptor":{"name":${str(stream)}},"status":"${status}"}}}`
  );
}

/** A TRACE ERROR; `report` is { message, internal, failureType }. */
export function error(report, stream) {
  const descriptor = stream === undefined ? '' : `,"stream_descriptor":{"name":${str(stream)}}`;
  return oneLine(
    `{"type":"TRACE","trace":{"type":"ERROR","emitted_at":${float(Date.now())},"error":{` +
      `"message":${str(report.message)},"internal_message":${str(report.internal)},` +
      `"failure_type":"${report.failureType}"${descriptor}}}}`,
  );
}

const BREAKS_LATIN1 = /[\n\r]|\xE2\x80[\xA8\xA9]/g;
const ESCAPES_LATIN1 = { '\n': ' ', '\r': ' ', '\xE2\x80\xA8': '\\u2028', '\xE2\x80\xA9': '\\u2029' };

const LS = Buffer.from('\u2028');
const PS = Buffer.from('\u2029');

/** `bytes` (UTF-8 JSON) kept on one line; the search is native, the rewrite runs on Latin-1. */
function oneLineBytes(bytes) {
  const buffer = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (buffer.indexOf(10) < 0 && buffer.indexOf(13) < 0 && buffer.indexOf(LS) < 0 && buffer.indexOf(PS) < 0) {
    return buffer;
  }
  const text = buffer.latin1Slice(0, buffer.length);
  return Buffer.from(text.replace(BREAKS_LATIN1, (c) => ESCAPES_LATIN1[c]), 'latin1');
}

/** The RECORD lines of one page, as bytes: `records` are UTF-8 JSON objects already checked. */
export function records(stream, records) {
  const head = Buffer.from(`{"type":"RECORD","record":{"stream":${str(stream)},"data":`);
  const tail = Buffer.from(`,"emitted_at":${Date.now()}}}\n`);
  const parts = new Array(records.length * 3);
  for (let i = 0; i < records.length; i++) {
    parts[3 * i] = head;
    parts[3 * i + 1] = oneLineBytes(records[i]);
    parts[3 * i + 2] = tail;
  }
  return Buffer.concat(parts);
}
