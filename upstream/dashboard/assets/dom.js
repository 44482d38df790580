// DOM building and formatting helpers. Text goes in as text nodes, never as HTML: series tags and
// host names come from agents.

/** `h('td', { class: 'num', dataset: { x: '1' } }, 'text', childNode)` */
export function h(tag, props = {}, ...children) {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(props)) {
    if (value === undefined || value === null || value === false) continue;
    if (key === 'dataset') Object.assign(el.dataset, value);
    else if (key.startsWith('on')) el.addEventListener(key.slice(2), value);
    else if (key in el && key !== 'list') el[key] = value;
    else el.setAttribute(key, value === true ? '' : String(value));
  }
  el.append(...children.flat().filter((c) => c !== undefined && c !== null && c !== false));
  return el;
}

export function badge(text, kind) {
  return h('span', { className: `badge ${kind}` }, text);
}

const UNITS = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];

export function bytes(n) {
  let i = 0;
  while (n >= 1024 && i < UNITS.length - 1) {
    n /= 1024;
    i++;
  }
  return `${i === 0 ? n : n.toFixed(1)} ${UNITS[i]}`;
}

/** 950 ms, 12 s, 4 min 5 s, 3 h 20 min, 2 d 4 h */
export function duration(ms) {
  if (ms < 1000) return `${Math.round(ms)} ms`;
  const s = Math.round(ms / 1000);
  if (s < 60) return `${s} s`;
  if (s < 3600) return `${Math.floor(s / 60)} min ${s % 60} s`;
  if (s < 86400) return `${Math.floor(s / 3600)} h ${Math.floor((s % 3600) / 60)} min`;
  return `${Math.floor(s / 86400)} d ${Math.floor((s % 86400) / 3600)} h`;
}

/** A past moment as "12 s ago", with the local date and time in the title. */
export function ago(ms) {
  if (!ms) return h('span', { className: 'muted' }, 'never');
  return h(
    'time',
    { dateTime: new Date(ms).toISOString(), title: new Date(ms).toLocaleString() },
    `${duration(Math.max(0, Date.now() - ms))} ago`,
  );
}

export function count(n) {
  return typeof n === 'number' ? n.toLocaleString('en-US') : '—';
}

export function tagText(tags) {
  return Object.entries(tags)
    .map(([k, v]) => `${k}=${v}`)
    .join(' ');
}

/** A table with a fixed head; `body` is re-filled on every refresh. */
export function table(id, columns) {
  const body = h('tbody');
  const el = h(
    'table',
    { id },
    h(
      'thead',
      {},
      h(
        'tr',
        {},
        columns.map((c) => h('th', { scope: 'col' }, c)),
      ),
    ),
    body,
  );
  return { el, body };
}
