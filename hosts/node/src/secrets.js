// The run's secrets, masked in everything the host writes (as protocol/src/secrets.rs does for
// the Rust hosts): the config values of fields the spec marks `airbyte_secret`, and each bearer
// token the component sends.

export const MASK = '**********';
/** Shorter values are not masked: that would garble text and hide nothing worth hiding. */
export const MIN_SECRET_LEN = 6;

export class Secrets {
  #all = [];

  /** Adds a secret, and the form it takes inside a JSON string when that differs. */
  add(secret) {
    if (typeof secret !== 'string' || Buffer.byteLength(secret) < MIN_SECRET_LEN) return;
    for (const form of [secret, JSON.stringify(secret).slice(1, -1)]) {
      if (!this.#all.includes(form)) this.#all.push(form);
    }
    this.#all.sort((a, b) => b.length - a.length);
  }

  /** Adds the config's values of the fields `spec` marks `airbyte_secret`, at any depth. */
  addConfig(spec, config) {
    const walk = (schema, path) => {
      if (schema === null || typeof schema !== 'object') return;
      if (schema.airbyte_secret === true) {
        let value = config;
        for (const name of path) value = value?.[name];
        if (typeof value === 'string') this.add(value);
        else if (typeof value === 'number') this.add(String(value));
      }
      for (const [name, property] of Object.entries(schema.properties ?? {})) walk(property, [...path, name]);
      for (const key of ['oneOf', 'anyOf', 'allOf']) for (const alt of schema[key] ?? []) walk(alt, path);
    };
    walk(spec?.connectionSpecification ?? spec, []);
  }

  /** Adds the token of an `Authorization: Bearer <token>` value. */
  addBearer(value) {
    this.add(value.replace(/^bearer /i, '').trim());
  }

  /** `text` with every secret masked. */
  scrub(text) {
    let out = text;
    for (const secret of this.#all) if (out.includes(secret)) out = out.split(secret).join(MASK);
    return out;
  }

  /** `bytes` (a Buffer) with every secret masked; the same Buffer when there is none. */
  scrubBytes(bytes) {
    let out = bytes;
    for (const secret of this.#all) {
      if (out.indexOf(secret) < 0) continue;
      out = Buffer.from(out.toString('utf8').split(secret).join(MASK));
    }
    return out;
  }
}
