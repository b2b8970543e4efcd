// The run's secrets, masked in everything the host writes (as protocol/src/secrets.rs does for
// the Rust hosts): the config values of fields the spec marks `airbyte_secret`, and each bearer
// token the component sends.

import { readFileSync } from 'node:fs';

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

/**
 * Resolves the config's secret references in place (a string value that is exactly
 * `${env:NAME}` or `${file:PATH}`), as host-runner does; returns the values put in. Throws an
 * Error naming the field when a variable is not set or a file cannot be read.
 */
export function resolveReferences(config) {
  const resolved = [];
  const walk = (value, path, set) => {
    if (typeof value === 'string') {
      const m = /^\$\{(env|file):(.*)\}$/s.exec(value);
      if (!m) return;
      let secret;
      if (m[1] === 'env') {
        secret = process.env[m[2]];
        if (secret === undefined) {
          throw new Error(`config field \`${path}\` refers to environment variable ${m[2]}, which is not set (or not valid UTF-8): set it, or put the value in the config`);
        }
      } else {
        try {
          secret = readFileSync(m[2], 'utf8').replace(/\r?\n$/, '');
        } catch (e) {
          // Worded as every host words it (not the platform's error text).
          const why = e.code === 'ENOENT' ? 'it does not exist'
            : e.code === 'EACCES' ? 'permission denied'
              : 'it is not a readable UTF-8 text file';
          throw new Error(`config field \`${path}\` refers to file ${m[2]}, which cannot be read: ${why}`);
        }
      }
      resolved.push(secret);
      set(secret);
    } else if (Array.isArray(value)) {
      value.forEach((item, i) => walk(item, `${path}[${i}]`, (v) => { value[i] = v; }));
    } else if (value !== null && typeof value === 'object') {
      for (const [name, member] of Object.entries(value)) {
        walk(member, path ? `${path}.${name}` : name, (v) => { value[name] = v; });
      }
    }
  };
  walk(config, '', () => {});
  return resolved;
}
