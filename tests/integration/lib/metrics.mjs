// Prometheus text format → { series, text, get(name, labels), sum(name, filter) }.

const LINE = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s+(\S+)(?:\s+\d+)?$/;
const LABEL = /([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g;

function key(name, labels) {
  const parts = Object.keys(labels).sort().map((k) => `${k}=${JSON.stringify(labels[k])}`);
  return parts.length ? `${name}{${parts.join(",")}}` : name;
}

export function parseMetrics(text) {
  const series = [];
  const byKey = new Map();
  for (const raw of text.split("\n")) {
    const line = raw.trim();
    if (!line || line.startsWith("#")) continue;
    const m = LINE.exec(line);
    if (!m) throw new Error(`not a Prometheus sample line: ${line}`);
    const labels = {};
    for (const [, k, v] of (m[2] ?? "").matchAll(LABEL)) labels[k] = v.replace(/\\(.)/g, (_, c) => (c === "n" ? "\n" : c));
    const value = Number(m[3]);
    series.push({ name: m[1], labels, value });
    byKey.set(key(m[1], labels), value);
  }
  return {
    text,
    series,
    has: (name) => series.some((s) => s.name === name),
    /** The value of one series; 0 when it is absent (counters start at zero). */
    get: (name, labels = {}) => byKey.get(key(name, labels)) ?? 0,
    /** The sum over every series of `name` whose labels include `filter`. */
    sum: (name, filter = {}) =>
      series
        .filter((s) => s.name === name && Object.entries(filter).every(([k, v]) => s.labels[k] === v))
        .reduce((a, s) => a + s.value, 0),
  };
}
