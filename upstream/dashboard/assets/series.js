// The series browser: series by metric prefix, one chosen series drawn with uPlot over a range.
// The choice lives in the hash (#/series?metric=…&tag.k=v&range=1h), never the token.
import { apiGet } from './api.js';
import { count, h, tagText } from './dom.js';

const RANGES = { '15m': 9e5, '1h': 36e5, '6h': 216e5, '24h': 864e5, '7d': 6048e5, '30d': 2592e6 };

function sameTags(a, b) {
  const ka = Object.keys(a);
  return ka.length === Object.keys(b).length && ka.every((k) => a[k] === b[k]);
}

/** The chosen series and range from the hash. */
function fromHash() {
  const q = new URLSearchParams(location.hash.split('?')[1] ?? '');
  const tags = {};
  for (const [k, v] of q) if (k.startsWith('tag.')) tags[k.slice(4)] = v;
  const metric = q.get('metric');
  return {
    selected: metric ? { metric, tags } : undefined,
    range: q.get('range') ?? '1h',
    from: q.get('from') ?? '',
    to: q.get('to') ?? '',
    prefix: q.get('prefix') ?? '',
  };
}

/** [from, to) in ms for the range control (custom: the two datetime inputs). */
function windowOf(state) {
  if (state.range !== 'custom') return [Date.now() - RANGES[state.range], Date.now() + 1];
  const from = Date.parse(state.from);
  const to = Date.parse(state.to);
  if (Number.isNaN(from) || Number.isNaN(to) || from >= to)
    throw new Error('custom range: give a start before the end');
  return [from, to];
}

/** ms → the value of a datetime-local input (local time, to the minute). */
function localInput(ms) {
  const d = new Date(ms);
  return new Date(ms - d.getTimezoneOffset() * 60_000).toISOString().slice(0, 16);
}

function chartControls(state, redraw) {
  const from = h('input', {
    type: 'datetime-local',
    id: 'series-from',
    value: state.from,
    'aria-label': 'from',
  });
  const to = h('input', { type: 'datetime-local', id: 'series-to', value: state.to, 'aria-label': 'to' });
  const custom = h('span', { hidden: state.range !== 'custom' }, from, ' to ', to);
  const range = h(
    'select',
    { id: 'series-range', 'aria-label': 'time range' },
    [...Object.keys(RANGES), 'custom'].map((r) =>
      h('option', { value: r, selected: r === state.range }, r === 'custom' ? 'custom…' : `last ${r}`),
    ),
  );
  const apply = () => {
    // A custom range starts as the window shown, for the operator to narrow.
    if (range.value === 'custom' && from.value === '' && to.value === '') {
      const shown = windowOf(state);
      from.value = localInput(shown[0]);
      to.value = localInput(shown[1] + 60_000);
    }
    Object.assign(state, { range: range.value, from: from.value, to: to.value });
    custom.hidden = state.range !== 'custom';
    redraw();
  };
  range.addEventListener('change', apply);
  from.addEventListener('change', apply);
  to.addEventListener('change', apply);
  return h('div', { className: 'toolbar' }, range, custom);
}

export function seriesView(root) {
  const state = fromHash();
  let plot;
  let span = [0, 0];
  let queue = Promise.resolve();
  const search = h('input', {
    id: 'series-prefix',
    type: 'search',
    placeholder: 'metric prefix, e.g. cpu.',
    value: state.prefix,
    'aria-label': 'metric prefix',
  });
  const list = h('ul', { id: 'series-list', className: 'series-list' });
  const listNote = h('p', { className: 'muted' });
  const title = h('h2', { id: 'series-title' }, 'Choose a series');
  const chart = h('div', { id: 'chart', dataset: { points: '0', state: 'empty' } });
  const note = h('p', { className: 'muted', id: 'chart-note' });

  const saveHash = () => {
    const q = new URLSearchParams();
    if (state.prefix) q.set('prefix', state.prefix);
    if (state.selected) {
      q.set('metric', state.selected.metric);
      for (const [k, v] of Object.entries(state.selected.tags)) q.set(`tag.${k}`, v);
    }
    q.set('range', state.range);
    if (state.range === 'custom') {
      q.set('from', state.from);
      q.set('to', state.to);
    }
    history.replaceState(null, '', `#/series?${q}`);
  };

  const loadList = async () => {
    const series = await apiGet('series', { prefix: state.prefix, limit: 500 });
    list.replaceChildren(
      ...series.map((s) =>
        h(
          'li',
          {},
          h(
            'button',
            {
              type: 'button',
              className:
                state.selected && state.selected.metric === s.metric && sameTags(state.selected.tags, s.tags)
                  ? 'chosen'
                  : '',
              dataset: { metric: s.metric, tags: tagText(s.tags) },
              onclick: () => choose(s),
            },
            h('strong', {}, s.metric),
            h('span', { className: 'tags' }, tagText(s.tags)),
          ),
        ),
      ),
    );
    listNote.textContent =
      series.length === 500 ? 'First 500 series: narrow the prefix.' : `${series.length} series`;
  };

  const draw = async () => {
    if (state.selected === undefined) return;
    span = windowOf(state);
    const { metric, tags } = state.selected;
    const params = { metric, from: Math.floor(span[0]), to: Math.ceil(span[1]) };
    for (const [k, v] of Object.entries(tags)) params[`tag.${k}`] = v;
    const found = (await apiGet('query', params)).find((s) => sameTags(s.tags, tags));
    const data = [found ? found.timestampsMs.map((t) => t / 1000) : [], found ? found.values : []];
    if (plot === undefined) plot = makePlot(chart, metric, () => span, data);
    else plot.setData(data);
    const n = data[0].length;
    chart.dataset.points = String(n);
    chart.dataset.state = n === 0 ? 'empty' : 'drawn';
    const last =
      n === 0 ? '' : `, last ${data[1][n - 1]} at ${new Date(data[0][n - 1] * 1000).toLocaleString()}`;
    note.textContent = n === 0 ? 'No points in this range.' : `${count(n)} points${last}`;
  };

  // One draw at a time: a poll and a click must not both build a chart.
  const drawNext = () => {
    const next = queue.then(draw);
    queue = next.catch(() => undefined);
    return next;
  };

  const choose = (s) => {
    state.selected = { metric: s.metric, tags: s.tags };
    plot?.destroy();
    plot = undefined;
    title.replaceChildren(s.metric, ' ', h('span', { className: 'tags' }, tagText(s.tags)));
    for (const b of list.querySelectorAll('button'))
      b.classList.toggle('chosen', b.dataset.metric === s.metric && b.dataset.tags === tagText(s.tags));
    saveHash();
    void drawNext().catch((err) => (note.textContent = err.message));
  };

  let typing;
  search.addEventListener('input', () => {
    clearTimeout(typing);
    typing = setTimeout(() => {
      state.prefix = search.value.trim();
      saveHash();
      void loadList().catch((err) => (listNote.textContent = err.message));
    }, 250);
  });
  const redraw = () => {
    saveHash();
    void drawNext().catch((err) => (note.textContent = err.message));
  };
  const onResize = () => plot?.setSize({ width: chart.clientWidth, height: 320 });
  addEventListener('resize', onResize);
  root.append(
    h('h1', {}, 'Series'),
    h(
      'div',
      { className: 'series' },
      h('aside', {}, search, listNote, list),
      h('section', {}, title, chartControls(state, redraw), chart, note),
    ),
  );
  if (state.selected)
    title.replaceChildren(
      state.selected.metric,
      ' ',
      h('span', { className: 'tags' }, tagText(state.selected.tags)),
    );
  let listed = false;
  return {
    async refresh() {
      if (!listed) {
        await loadList();
        listed = true;
      }
      // A relative range follows the clock; a custom one stays as drawn.
      if (state.selected && (plot === undefined || state.range !== 'custom')) await drawNext();
    },
    unmount() {
      removeEventListener('resize', onResize);
      plot?.destroy();
    },
  };
}

function makePlot(el, label, range, data) {
  return new uPlot(
    {
      width: Math.max(300, el.clientWidth),
      height: 320,
      scales: { x: { time: true, range: () => range().map((ms) => ms / 1000) } },
      series: [{}, { label, stroke: '#1f6feb', width: 1.5, points: { show: data[0].length <= 60 } }],
      axes: [{}, { size: 60 }],
    },
    data,
    el,
  );
}
