// Secrets the host keeps (as host-runner's placeholders.rs does): top-level config fields the
// component's spec marks `"x-host-secret": true` reach the component as placeholders, and the
// host puts the real value back only into the headers and body of requests the sandbox lets
// through, never into a URL or an answer.
//
// jco's HTTP sends a request body with the content-length its headers gave when the request was
// built, before the component writes the body; so here a placeholder is exactly as long (in
// UTF-8 bytes) as the value it stands for, and the body keeps its length. A value shorter than
// MIN_KEPT_BYTES has too few bytes for an unguessable placeholder: it is handed over as it is,
// with a warning.

import { randomBytes } from 'node:crypto';

export const PREFIX = 'hs-';
/** 13 random base64url characters after the prefix at least: 78 bits. */
export const MIN_KEPT_BYTES = 16;

/** The top-level config fields `spec` marks `x-host-secret`. */
export function hostSecretFields(spec) {
  const properties = (spec?.connectionSpecification ?? spec)?.properties ?? {};
  return Object.entries(properties)
    .filter(([, schema]) => schema?.['x-host-secret'] === true)
    .map(([name]) => name);
}

export class KeptSecrets {
  /** [placeholder, real value], as Buffers of the same length. */
  #pairs = [];

  /**
   * Replaces, in `config`, the string value of each field `spec` marks with a placeholder.
   * Returns the fields kept and those too short to keep.
   */
  keep(spec, config) {
    const kept = [];
    const tooShort = [];
    for (const field of hostSecretFields(spec)) {
      const real = config?.[field];
      if (typeof real !== 'string') continue;
      const bytes = Buffer.from(real, 'utf8');
      if (bytes.length < MIN_KEPT_BYTES) {
        tooShort.push(field);
        continue;
      }
      const random = randomBytes(bytes.length).toString('base64url');
      const placeholder = (PREFIX + random).slice(0, bytes.length);
      this.#pairs.push([Buffer.from(placeholder), bytes]);
      config[field] = placeholder;
      kept.push(field);
    }
    return { kept, tooShort };
  }

  get isEmpty() {
    return this.#pairs.length === 0;
  }

  /** `bytes` (a Uint8Array) with every placeholder replaced by its value (same length). */
  putBack(bytes) {
    let out = null;
    for (const [placeholder, real] of this.#pairs) {
      const source = out ?? Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
      let at = source.indexOf(placeholder);
      if (at < 0) continue;
      out ??= Buffer.from(source);
      while (at >= 0) {
        real.copy(out, at);
        at = out.indexOf(placeholder, at + real.length);
      }
    }
    return out === null ? bytes : new Uint8Array(out.buffer, out.byteOffset, out.byteLength);
  }

  /**
   * The `wasi:http/types` OutgoingRequest class to hand the component: its requests put the
   * real values back into their headers and body once `admit(request)` marks them (the
   * sandbox granted their host); requests never admitted keep the placeholders.
   */
  requestClass(OutgoingRequest) {
    const kept = this;
    return class KeptOutgoingRequest extends OutgoingRequest {
      #admitted = false;

      body() {
        const body = super.body();
        const write = body.write.bind(body);
        const request = this;
        body.write = () => {
          const stream = write();
          for (const name of ['write', 'blockingWriteAndFlush']) {
            const original = stream[name].bind(stream);
            stream[name] = (bytes) => original(request.#admitted ? kept.putBack(bytes) : bytes);
          }
          return stream;
        };
        return body;
      }

      /** The sandbox let this request through: its headers and body carry the real values. */
      admit() {
        if (kept.isEmpty || this.#admitted) return;
        this.#admitted = true;
        const fields = this.headers();
        const entries = fields.entries.bind(fields);
        fields.entries = () => entries().map(([name, value]) => [name, kept.putBack(value)]);
      }
    };
  }
}
