// The operator's grants, with host-runner's rules: a config field the spec marks
// `x-outbound-host` is granted when the config sets it, every --allow-host pattern is granted,
// and a spec default is only a proposal, named when a request to it is refused.

const DEFAULT_PORTS = { http: 80, https: 443 };

/** scheme, host and port of an absolute http(s) URL, or null. */
export function origin(url) {
  let parsed;
  try {
    parsed = new URL(String(url).trim());
  } catch {
    return null;
  }
  const scheme = parsed.protocol.replace(/:$/, '');
  if (!(scheme in DEFAULT_PORTS) || parsed.username || parsed.password || !parsed.hostname) return null;
  const host = parsed.hostname.replace(/^\[|\]$/g, '').toLowerCase();
  const port = parsed.port === '' ? DEFAULT_PORTS[scheme] : Number(parsed.port);
  return { scheme, host, port };
}

export function originText(o) {
  const host = o.host.includes(':') ? `[${o.host}]` : o.host;
  return `${o.scheme}://${host}${DEFAULT_PORTS[o.scheme] === o.port ? '' : `:${o.port}`}`;
}

/** Parses `scheme://host[:port]` with `*` for any scheme, host, subdomain or port. */
export function hostPattern(raw) {
  const [scheme, rest] = raw.split(/:\/\/(.*)/s);
  if (rest === undefined) throw new Error(`allowed host ${JSON.stringify(raw)} needs a scheme, as in https://${raw}`);
  const s = scheme.toLowerCase();
  if (!['*', 'http', 'https'].includes(s)) {
    throw new Error(`allowed host ${JSON.stringify(raw)} has scheme ${JSON.stringify(s)}; use http, https or *`);
  }
  const body = rest.replace(/\/$/, '');
  if (!body || /[/?#@]/.test(body)) {
    throw new Error(`allowed host ${JSON.stringify(raw)} must be scheme://host[:port] with nothing after it`);
  }
  const m = body.match(/^(\[[^\]]+\]|[^:]+)(?::(\*|\d+))?$/);
  if (!m) throw new Error(`allowed host ${JSON.stringify(raw)} has an invalid port`);
  const host = m[1].replace(/^\[|\]$/g, '').toLowerCase();
  if (host.includes('*') && host !== '*' && !(host.startsWith('*.') && host.length > 2 && !host.slice(1).includes('*'))) {
    throw new Error(`allowed host ${JSON.stringify(raw)}: \`*\` may only stand for the whole host or a leading label`);
  }
  return {
    scheme: s === '*' ? null : s,
    host,
    port: m[2] === undefined ? 'default' : m[2] === '*' ? '*' : Number(m[2]),
  };
}

export function patternText(p) {
  const host = p.host.includes(':') ? `[${p.host}]` : p.host;
  const port = p.port === 'default' ? '' : `:${p.port}`;
  return `${p.scheme ?? '*'}://${host}${port}`;
}

function allows(p, o) {
  const schemeOk = p.scheme === null || p.scheme === o.scheme;
  const hostOk = p.host === '*' || p.host === o.host || (p.host.startsWith('*.') && o.host.endsWith(p.host.slice(1)));
  const portOk = p.port === '*' || (p.port === 'default' ? DEFAULT_PORTS[o.scheme] === o.port : p.port === o.port);
  return schemeOk && hostOk && portOk;
}

/** The spec's config properties marked `x-outbound-host`: [name, default]. */
function hostFields(spec) {
  const properties = spec?.connectionSpecification?.properties ?? {};
  return Object.entries(properties)
    .filter(([, schema]) => schema?.['x-outbound-host'] === true)
    .map(([name, schema]) => [name, typeof schema.default === 'string' ? schema.default : undefined]);
}

/** What a run may reach: grants [{pattern, source}] and refused proposals [{field, origin}]. */
export function allowList(spec, config, allowHosts) {
  const grants = [];
  const proposed = [];
  for (const [field, fallback] of hostFields(spec)) {
    const value = config?.[field];
    if (typeof value === 'string') {
      const o = origin(value);
      if (o) grants.push({ pattern: hostPattern(originText(o)), source: `config field ${field}` });
    } else if (fallback !== undefined && origin(fallback)) {
      proposed.push({ field, origin: origin(fallback) });
    }
  }
  for (const raw of allowHosts) grants.push({ pattern: hostPattern(raw), source: '--allow-host' });
  return {
    grants,
    /** Whether a request to `url` is granted. */
    allowsUrl(url) {
      const o = origin(url);
      return o !== null && grants.some((g) => allows(g.pattern, o));
    },
    text: () => (grants.length === 0 ? '(none)' : grants.map((g) => patternText(g.pattern)).join(', ')),
    /** host-runner's refusal message for `url`. */
    refusal(url) {
      const o = origin(url);
      if (!o) return `sandbox refused a request to ${url}: not an http(s) URL`;
      const exact = originText(o);
      const p = proposed.find((x) => originText(x.origin) === exact);
      const field = p ? ` (the connector's default for \`${p.field}\`, which the config leaves out)` : '';
      return (
        `sandbox refused a request to ${exact}${field}: no grant allows it. ` +
        `Allow it by setting the host in the config, or with --allow-host ${exact} (allowed now: ${this.text()})`
      );
    },
  };
}
