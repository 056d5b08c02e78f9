// The playground page: controls, the four stages of a step shown in turn, play/pause.
// Every number comes from the server (/api/…); this file only decides what to show when.

import * as api from './api.js';
import { drawChart } from './chart.js';
import { drawData } from './data.js';
import { el, fmt, pretty } from './format.js';
import { drawNetwork } from './network.js';
import { factorMarks, showDerivation, showPractice } from './panel.js';
import { watch } from './progress.js';

const STAGES = ['forward', 'loss', 'backward', 'update'];
const PLAY_MS = 250; // a request of epochs while playing
const STAGE_MS = Number(new URLSearchParams(location.search).get('stage_ms') ?? 700);
const $ = (id) => document.getElementById(id);

const ui = {
  wave: 0, zoom: 1, opener: null, marks: [],
  practice: false, revealed: new Set(), // your turn: the gradients the student has worked out
  state: null, step: null, stage: null, playing: false, busy: false, timer: null, datasets: [], param: null,
  upload: null, // the CSV the session learns: { file, columns, target } (as the server read it)
  trying: null, // a CSV chosen but refused so far: { file, columns } (as this page reads its header)
};

// -- messages -----------------------------------------------------------------------------

function say(text, kind = 'error') {
  const box = $('message');
  box.textContent = text;
  box.className = kind;
  box.hidden = !text;
}

async function act(fn) {
  if (ui.busy) return;
  ui.busy = true;
  document.body.classList.add('busy');
  try {
    await fn();
  } catch (err) {
    say(err.message);
  } finally {
    ui.busy = false;
    document.body.classList.remove('busy');
  }
}

// -- what the network shows -------------------------------------------------------------------

/** The numbers of the stage shown: each stage its own (the update: the new weights, and what
 *  they give the same row); before any step, what the current weights give the next row. */
function networkView() {
  const s = ui.state;
  if (ui.step && ui.stage) {
    const st = ui.step.stages;
    const view = {
      stage: ui.stage, x: st.forward.x[0], outputs: st.forward.outputs.map((o) => o[0]),
      weights: st.forward.weights, biases: st.forward.biases,
    };
    if (ui.stage !== 'forward') { view.target = st.loss.target[0]; view.loss = st.loss.loss; }
    if (ui.stage === 'backward') {
      view.grads = st.backward;
      if (ui.practice) view.hidden = (param) => !ui.revealed.has(param);
      view.deltas = st.backward.deltas.map((d) => d[0]);
      view.wave = ui.wave;
    }
    if (ui.stage === 'update') {
      const outputs = st.update.outputs.map((o) => o[0]);
      Object.assign(view, {
        weights: st.update.weights, biases: st.update.biases, outputs,
        old: { ...st.forward, outputs: view.outputs },
        after: { outputs, loss: st.update.loss },
      });
    }
    return view;
  }
  return {
    stage: null, x: s.preview.x[0], outputs: s.preview.outputs.map((o) => o[0]),
    weights: s.network.weights, biases: s.network.biases, maps: s.network.maps,
  };
}

const layers = () => ui.state.network.sizes.length - 1;

function stageText() {
  const s = ui.state;
  if (ui.step?.stages.pending && ui.stage === 'forward') {
    return `1 · forward, with the weight you typed: row ${ui.step.stages.forward.rows[0] + 1} → ŷ = ${ui.step.stages.loss.prediction[0].map((v) => fmt(v)).join(', ')}. Nothing has moved yet: “one row” takes this step.`;
  }
  if (!ui.step || !ui.stage) {
    const row = s.preview.rows[0] + 1;
    return `Next: row ${row}${s.preview.rows.length > 1 ? ` and ${s.preview.rows.length - 1} more` : ''}. ` +
      'The neurons show what the current weights give it. Press “one row” to run the four stages.';
  }
  const st = ui.step.stages;
  const rows = st.forward.rows.map((r) => r + 1);
  const batch = rows.length > 1 ? ` (a batch of ${rows.length} rows: the first is shown; loss and gradients are the batch means)` : '';
  const x = st.forward.x[0].map((v, i) => `${pretty(`x_${i + 1}`)} = ${fmt(v)}`).join(', ');
  const yhat = st.loss.prediction[0].map((v) => fmt(v)).join(', ');
  const y = st.loss.target[0].map((v) => fmt(v)).join(', ');
  switch (ui.stage) {
    case 'forward': return `1 · forward: row ${rows[0]}${batch}: ${x} → each neuron O = f(Σ w·O + b) → ŷ = ${yhat}`;
    case 'loss': return `2 · loss: ${pretty(s.loss.formula)} with ŷ = ${yhat} and y = ${y}: L = ${fmt(st.loss.loss)}` +
      (st.loss.l2 ? `; with L2 (λ = ${fmt(st.loss.l2)}) the objective is L + (λ/2)·Σθ² = ${fmt(st.loss.loss)} + ${fmt(st.loss.penalty)} = ${fmt(st.loss.loss + st.loss.penalty)}` : '');
    case 'backward': return `3 · backward: each neuron's δ = ∂L/∂z, from the output back; a layer's δ reuses the δs above it (δᵏⱼ = f′(zₖⱼ) · Σₘ wᵏ⁺¹ⱼₘ δᵏ⁺¹ₘ), and each arrow gets ∂L/∂wᵏᵢⱼ = δᵏⱼ · O₍ₖ₋₁₎ᵢ (purple: positive, the weight goes down; green: negative).${rows.length > 1 ? ' δ is the row shown; the arrows, the batch mean.' : ''}`;
    default: {
      const after = st.update.prediction[0].map((v) => fmt(v)).join(', ');
      const l2 = st.update.l2 ? ` and λ = ${fmt(st.update.l2)} (L2: each gradient gains λ·θ)` : '';
      return `4 · update: every weight and bias moved by ${st.update.rule} with η = ${fmt(st.update.lr)}${l2}. ` +
        `The same row now gives ŷ = ${after} (was ${yhat}) and L = ${fmt(st.update.loss)} (was ${fmt(st.loss.loss)}).`;
    }
  }
}

function status() {
  const s = ui.state;
  const h = s.history;
  const last = h.epoch.length ? h.loss.length - 1 : -1;
  const metric = s.metric === 'accuracy' ? 'accuracy' : 'R²';
  const value = (key) => (s.metric === 'accuracy' ? `${(100 * h[key][last]).toFixed(1)}%` : fmt(h[key][last]));
  const parts = [`step ${s.step}`, `epoch ${s.epoch}`, `row ${s.cursor + 1} of ${s.rows_per_epoch} next`,
    `η = ${fmt(s.lr)}`, `loss ${pretty(s.loss.formula)}${s.scale !== 'none' ? `, inputs scaled (${s.scale})` : ''}`];
  if (last >= 0) {
    parts.push(`last epoch: loss ${fmt(h.loss[last])}${h.val_loss ? `, validation ${fmt(h.val_loss[last])}` : ''}`);
    if (h[s.metric]) parts.push(`${metric} ${value(s.metric)}${h[`val_${s.metric}`] ? ` (validation ${value(`val_${s.metric}`)})` : ''}`);
  }
  return parts.join(' · ');
}

/** Draw everything for the current state and stage; the element that had the focus in the
 *  diagram has it again after the redraw. */
function render() {
  const s = ui.state;
  const svg = $('network');
  const focused = document.activeElement?.closest?.('#network g[data-param]')?.dataset.param;
  const available = $('diagram').clientWidth || 760;
  drawNetwork(svg, s.network, { ...networkView(), selected: ui.param }, available, ui.zoom);
  for (const mark of ui.param ? ui.marks : []) { // each factor of the panel's chain rule, in its colour
    const place = mark.place && svg.querySelector(mark.place);
    if (place) {
      place.classList.add('factor');
      place.style.setProperty('--factor', mark.colour);
      place.dataset.factor = mark.symbol;
    }
  }
  if (focused) svg.querySelector(`g[data-param="${focused}"]`)?.focus({ preventScroll: true });
  for (const li of $('stages').children) {
    const n = STAGES.indexOf(li.dataset.stage);
    const button = li.querySelector('button');
    li.classList.toggle('active', li.dataset.stage === ui.stage);
    li.classList.toggle('done', ui.stage !== null && n < STAGES.indexOf(ui.stage));
    button.disabled = !ui.step || (ui.step.stages.pending && li.dataset.stage === 'update');
    if (li.dataset.stage === ui.stage) button.setAttribute('aria-current', 'step'); else button.removeAttribute('aria-current');
  }
  $('stage-text').textContent = stageText();
  const waving = ui.stage === 'backward' && ui.step;
  $('wave').hidden = !waving;
  if (waving) {
    const K = layers();
    const wave = Math.min(ui.wave, K);
    $('btn-wave').textContent = wave < K ? `δ of layer ${K - wave} ←` : 'again from the output';
    $('wave-text').textContent = `the wave has reached layer ${K - wave + 1} of ${K}`;
  }
  $('status').textContent = status();
  drawChart($('chart'), s.history);
  const current = ui.step && ui.stage ? ui.step.stages.forward.rows : [];
  const data = ui.step && ui.stage && ui.stage !== 'update' ? ui.step.stages.data : s.data;
  drawData($('data'), data, current, current.length ? [] : s.preview.rows);
  $('data-title').textContent = s.source;
}

// -- controls ---------------------------------------------------------------------------------

function fillControls(settings) {
  $('dataset').value = settings.dataset;
  $('lr').value = settings.lr;
  $('l2').value = settings.l2;
  $('hidden').value = settings.hidden.length ? settings.hidden.join(',') : 'none';
  $('activation').value = settings.activation;
  $('output_activation').value = settings.output_activation;
  $('loss').value = settings.loss;
  $('init').querySelector('option[value="example"]').hidden = settings.init !== 'example';
  $('init').value = settings.init;
  $('batch_size').value = settings.batch_size;
  $('seed').value = settings.seed;
  $('shuffle').checked = settings.shuffle;
  $('noise').value = settings.noise;
  $('holdout').value = settings.holdout;
  showRanges();
  for (const box of $('crosses').querySelectorAll('input')) box.checked = settings.crosses.includes(box.value);
  const toy = kindOf(settings.dataset) === 'toy';
  for (const e of document.querySelectorAll('.toy-only')) e.hidden = !toy;
  for (const e of document.querySelectorAll('.table-only')) e.hidden = ['seed', 'example'].includes(kindOf(settings.dataset));
}

function showRanges() {
  $('noise-out').textContent = `${$('noise').value} %`;
  $('holdout-out').textContent = `${$('holdout').value} %`;
}

function readControls() {
  return {
    dataset: $('dataset').value, lr: $('lr').value, l2: $('l2').value, hidden: $('hidden').value,
    activation: $('activation').value, output_activation: $('output_activation').value,
    loss: $('loss').value, init: $('init').value, batch_size: $('batch_size').value,
    seed: $('seed').value, shuffle: $('shuffle').checked, noise: $('noise').value,
    holdout: $('holdout').value,
    crosses: [...$('crosses').querySelectorAll('input:checked')].map((box) => box.value),
  };
}

/** The column names of a CSV text's first line that isn't blank, read as Python's csv module
 * reads them: a quote opens a quoted name only at its start; "" in it is a quote; a quoted
 * name may hold commas and line breaks; lines end with \n, \r\n or \r. */
function csvHeader(text) {
  const body = text.replace(/^\uFEFF/, '');
  let names = [];
  let cell = '';
  let quoted = false;
  let fresh = true; // at the start of a name
  for (let i = 0; i <= body.length; i++) {
    const c = body[i]; // undefined past the end: ends the line
    if (quoted && c !== undefined) {
      if (c === '"' && body[i + 1] === '"') { cell += '"'; i++; } else if (c === '"') quoted = false; else cell += c;
    } else if (c === '"' && fresh) {
      quoted = true;
      fresh = false;
    } else if (c === ',') {
      names.push(cell.trim());
      cell = '';
      fresh = true;
    } else if (c === '\n' || c === '\r' || c === undefined) {
      names.push(cell.trim());
      if (names.some(Boolean)) return names;
      names = [];
      cell = '';
      fresh = true;
    } else {
      cell += c;
      fresh = false;
    }
  }
  return [];
}

/** The target list and the input boxes: the columns of `entry` ({ columns, target,
 * features? }: without features, every column but the target), shown when `visible` and
 * there is a choice to make. */
function fillTargets(entry, visible) {
  const columns = entry?.columns ?? [];
  const target = entry ? entry.target ?? columns[columns.length - 1] : null;
  $('target').replaceChildren(...columns.map((c) => el('option', { value: c }, c)));
  if (entry) $('target').value = target;
  $('inputs-boxes').replaceChildren(...columns.map((c) => el('label', {},
    el('input', {
      type: 'checkbox', value: c, checked: c !== target && (entry.features?.includes(c) ?? true),
      disabled: c === target, 'aria-label': `${c} is an input`,
    }), ` ${c}`)));
  $('target-pick').hidden = !visible || columns.length < 2;
  $('inputs-pick').hidden = $('target-pick').hidden;
}

/** The columns ticked as inputs, less `target`. */
const ticked = (target) => [...$('inputs-boxes').querySelectorAll('input:checked')]
  .map((box) => box.value).filter((c) => c !== target);

/** Send `entry`'s CSV (with `target` and `features`, or none: the server's defaults, the last
 * column from all the others) and show what the server made of it. A table never learnt keeps
 * its choices up when refused, to fix the next one; a learnt table's lists go back to what the
 * session learns (a refused choice is not left selected). */
async function sendUpload(entry, target, features) {
  const learnt = entry === ui.upload;
  ui.trying = learnt ? null : entry;
  fillTargets({ ...entry, target, features }, true);
  let state;
  try {
    state = await api.upload(entry.file, target, features);
  } catch (err) {
    if (learnt) fillTargets(ui.upload, true);
    else ui.trying = { ...entry, target, features };
    throw err;
  }
  ui.upload = { file: entry.file, ...state.upload };
  ui.datasets = await api.get('/api/datasets');
  fillDatasets();
  closePanel();
  show(state, true);
  say(state.notes.join('. '), 'info');
}

/** What a dataset is: seed, toy, upload or example (a worked example's rows). */
const kindOf = (name) => ui.datasets.find((d) => d.name === name)?.kind;

function fillDatasets() {
  $('dataset').replaceChildren(...ui.datasets.map((d) => el('option', { value: d.name }, d.title)));
  // a worked example is also a preset: its settings, then its first step
  $('preset').replaceChildren(el('option', { value: '' }, 'choose…'),
    el('option', { value: 'seed-step' }, 'the seed\'s first step'),
    ...ui.datasets.filter((d) => d.kind === 'example').map((d) => el('option', { value: `example:${d.name}` },
      `${d.title.replace(/^worked example: /, '').replace(/ \(\d+ rows?\)$/, '')}: its step`)));
}

/** The settings in the page's address, so that reloading or sharing it gives the same run
 *  (the same seed: the same data, weights and row order). An uploaded table is not in it. */
function writeAddress(settings) {
  const query = new URLSearchParams(location.search);
  for (const [key, value] of Object.entries(settings)) {
    if (settings.dataset === 'upload') query.delete(key);
    else query.set(key, Array.isArray(value) ? (value.length ? value.join(',') : 'none') : value);
  }
  history.replaceState(null, '', `${location.pathname}?${query}`);
}

/** The settings the address asks for (null: none). */
function readAddress(fields) {
  const query = new URLSearchParams(location.search);
  const asked = Object.fromEntries(fields.filter((f) => query.has(f)).map((f) => [f, query.get(f)]));
  return Object.keys(asked).length ? asked : null;
}

/** Show a new state (after an epoch, a reset, an upload); `fill`: also set the controls from it. */
function show(state, fill = false) {
  clearTimeout(ui.timer);
  ui.state = state;
  if (fill) writeAddress(state.settings);
  ui.step = null;
  ui.stage = null;
  if (fill) fillControls(state.settings);
  ui.trying = null; // whatever was refused, the list shows the table the session learns
  fillTargets(ui.upload, state.settings.dataset === 'upload');
  render();
  if (ui.param) openPanel(ui.param); // the derivation of the new current step
}

/** Show the stages of the step just taken, one after the other; the backward stage one
 *  layer at a time, from the output (a typed weight's trial stops after the backward). */
function playStages(n = 0, wave = 1) {
  ui.stage = STAGES[n];
  ui.wave = ui.stage === 'backward' ? wave : layers();
  render();
  const last = ui.step.stages.pending ? 2 : STAGES.length - 1;
  if (ui.stage === 'backward' && wave < layers()) ui.timer = setTimeout(() => playStages(n, wave + 1), STAGE_MS);
  else if (n < last) ui.timer = setTimeout(() => playStages(n + 1), STAGE_MS);
}

async function reset(settings) {
  stop();
  let state;
  try {
    state = await api.post('/api/reset', settings);
  } catch (err) {
    fillControls(ui.state.settings); // the controls keep showing what the session runs
    throw err;
  }
  say('');
  closePanel();
  show(state, true);
}

function stop() {
  ui.playing = false;
  $('btn-play').textContent = 'play';
  document.body.classList.remove('playing');
}

async function play() {
  if (ui.playing) { stop(); return; }
  ui.playing = true;
  $('btn-play').textContent = 'pause';
  document.body.classList.add('playing');
  closePanel();
  let epochs = 1; // per request: as many as take about PLAY_MS, so the page keeps up
  while (ui.playing) {
    const started = performance.now();
    document.body.dataset.request = 'epochs'; // in flight: it lands even after a pause
    try {
      show(await watch(api.post('/api/epoch', { epochs }), $('status')));
    } catch (err) {
      say(err.message);
      break;
    } finally {
      delete document.body.dataset.request;
    }
    const took = Math.max(1, performance.now() - started);
    epochs = Math.max(1, Math.min(ui.maxEpochs, Math.round(epochs * PLAY_MS / took)));
    await new Promise((resolve) => setTimeout(resolve, 30));
  }
  stop();
}

// -- the derivation panel -------------------------------------------------------------------

/** The current number of `param` (w^k_ij or b_kj) in the state's network. */
function currentValue(param) {
  const m = /^(?:w\^(\d+)_(\d+),?(\d+)|b_(\d+),?(\d+))$/.exec(param);
  const net = ui.state.network;
  return m[1] ? net.weights[m[1] - 1][m[2] - 1][m[3] - 1] : net.biases[m[4] - 1][m[5] - 1];
}

async function openPanel(param) {
  try {
    const data = await api.get(`/api/explain?param=${encodeURIComponent(param)}`);
    const changed = ui.param !== param;
    ui.param = param;
    const K = ui.state.network.sizes.length - 1;
    if (ui.practice && ui.step && !ui.revealed.has(param)) {
      ui.marks = [];
      showPractice($('panel-body'), data, () => {
        ui.revealed.add(param);
        ui.marks = factorMarks(data, K);
        render();
        showDerivation($('panel-body'), data);
      });
    } else {
      const marks = factorMarks(data, K);
      const recolour = JSON.stringify(marks) !== JSON.stringify(ui.marks);
      ui.marks = marks;
      showDerivation($('panel-body'), data);
      if (recolour && !changed) render();
    }
    $('edit-name').textContent = `${pretty(param)} now`;
    if (changed || document.activeElement !== $('edit-value')) $('edit-value').value = fmt(currentValue(param), 12);
    $('panel').hidden = false;
    document.body.classList.add('panel-open');
    if (changed) render();
    keepInSight(param);
  } catch (err) {
    say(err.message);
  }
}

/** On a phone the panel is a sheet over the bottom of the screen: scroll so the chosen
 *  weight or neuron stays in sight above it. */
function keepInSight(param) {
  const node = $('network').querySelector(`g[data-param="${param}"]`);
  const sheet = $('panel').getBoundingClientRect();
  if (!node || sheet.top < 40) return; // the panel is beside the page, not under it
  const box = node.getBoundingClientRect();
  const diagram = $('diagram');
  const d = diagram.getBoundingClientRect();
  if (box.left < d.left || box.right > d.right) diagram.scrollLeft += (box.left + box.right) / 2 - (d.left + d.right) / 2;
  const top = $('network').getBoundingClientRect().top;
  const fits = $('network').getBoundingClientRect().height < sheet.top - 8;
  const shift = fits ? top - 4 : (box.top + box.bottom) / 2 - sheet.top / 2;
  if (Math.abs(shift) > 2) window.scrollBy({ top: shift, behavior: 'instant' });
}

function closePanel() {
  const open = ui.param !== null;
  const param = ui.param;
  ui.param = null;
  $('panel').hidden = true;
  document.body.classList.remove('panel-open');
  if (open && ui.state) {
    render();
    if (ui.opener === param) $('network').querySelector(`g[data-param="${param}"]`)?.focus();
  }
}

function picked(event) {
  const target = event.target.closest('[data-param]');
  if (target && !ui.playing) {
    ui.opener = target.dataset.param;
    openPanel(target.dataset.param);
  }
}

/** Type a weight or bias: the server computes the next step's forward, loss and backward on
 *  the new weights, and the page shows them stage by stage. */
// A step's answer (a row stepped, or a weight typed): its stages played from the first.
function showStep(r) {
  say('');
  ui.revealed = new Set();
  ui.state = r.state;
  ui.step = r;
  clearTimeout(ui.timer);
  playStages(0);
}

async function setParam(event) {
  event.preventDefault();
  const param = ui.param;
  if (!param) return;
  await act(async () => {
    showStep(await api.post('/api/param', { param, value: $('edit-value').value }));
    await openPanel(param);
  });
}

// -- start ----------------------------------------------------------------------------------

async function start() {
  const options = await api.get('/api/options');
  ui.maxEpochs = options.max_epochs;
  $('activation').replaceChildren(...options.activations.map((a) => el('option', { value: a }, a)));
  $('output_activation').replaceChildren(...options.activations.map((a) => el('option', { value: a }, a)));
  $('loss').replaceChildren(...options.losses.map((a) => el('option', { value: a }, a)));
  $('init').replaceChildren(...options.initialisers.map((a) => el('option', { value: a }, a)),
    el('option', { value: 'example', hidden: true }, 'the example\'s own'));
  const crossNames = { 'x1^2': 'x₁²', 'x2^2': 'x₂²', x1x2: 'x₁x₂', 'sin(x1)': 'sin x₁', 'sin(x2)': 'sin x₂' };
  $('crosses').append(...options.crosses.map((c) => el('label', {},
    el('input', { type: 'checkbox', value: c }), ` ${crossNames[c] ?? c}`)));
  $('hidden').title = `neurons per hidden layer, comma-separated (1 to ${options.max_neurons} each, at most ${options.max_hidden_layers} layers); none for no hidden layer`;
  ui.datasets = await api.get('/api/datasets');
  fillDatasets();
  const asked = readAddress(options.settings);
  let first = await api.get('/api/state');
  if (asked) {
    try {
      first = await api.post('/api/reset', asked);
    } catch (err) {
      say(`the address asks for settings the playground can't use: ${err.message}`);
    }
  }
  show(first, true);

  const oneRow = async () => {
    showStep(await api.post('/api/step'));
    if (ui.param) openPanel(ui.param);
  };
  $('btn-row').addEventListener('click', () => act(oneRow));
  const PRESETS = { // a worked example: its settings, then its first step in four stages
    'seed-step': { dataset: 'seed' },
  };
  $('preset').addEventListener('change', () => act(async () => {
    const chosen = $('preset').value;
    const preset = chosen.startsWith('example:') ? { dataset: chosen.slice(8) } : PRESETS[chosen];
    $('preset').value = '';
    if (!preset) return;
    await reset(preset);
    await oneRow();
  }));
  $('btn-epoch').addEventListener('click', () => act(async () => { show(await watch(api.post('/api/epoch'), $('status'))); say(''); }));
  $('btn-play').addEventListener('click', () => play());
  const fold = (folded) => { // on a phone the settings fold away, leaving the diagram in sight
    $('controls').classList.toggle('folded', folded);
    $('settings-toggle').setAttribute('aria-expanded', String(!folded));
  };
  fold(matchMedia('(max-width: 700px)').matches);
  $('settings-toggle').addEventListener('click', () => fold(!$('controls').classList.contains('folded')));
  $('btn-reset').addEventListener('click', () => act(() => reset(readControls())));
  $('dataset').addEventListener('change', () => act(() => reset({ dataset: $('dataset').value })));
  for (const id of ['lr', 'l2', 'hidden', 'activation', 'output_activation', 'loss', 'init', 'batch_size', 'seed', 'shuffle', 'noise', 'holdout', 'crosses']) {
    $(id).addEventListener('change', () => act(() => reset(readControls())));
  }
  $('noise').addEventListener('input', showRanges);
  $('holdout').addEventListener('input', showRanges);
  $('upload').addEventListener('change', () => act(async () => {
    const file = $('upload').files[0];
    $('upload').value = ''; // the same file may be chosen again after a fix
    if (!file) return;
    stop();
    await sendUpload({ file, columns: csvHeader(await file.text()) });
  }));
  $('target').addEventListener('change', () => act(() => {
    stop();
    const target = $('target').value;
    return sendUpload(ui.trying ?? ui.upload, target, ticked(target));
  }));
  $('inputs-boxes').addEventListener('change', () => act(() => {
    stop();
    const target = $('target').value;
    return sendUpload(ui.trying ?? ui.upload, target, ticked(target));
  }));
  $('stages').addEventListener('click', (event) => {
    const li = event.target.closest('li');
    if (!li || !ui.step || li.querySelector('button').disabled) return;
    clearTimeout(ui.timer);
    ui.stage = li.dataset.stage;
    ui.wave = layers();
    render();
  });
  $('btn-wave').addEventListener('click', () => {
    clearTimeout(ui.timer);
    ui.wave = ui.wave >= layers() ? 1 : ui.wave + 1;
    render();
  });
  $('network').addEventListener('click', picked);
  $('network').addEventListener('keydown', (event) => {
    if ((event.key === 'Enter' || event.key === ' ') && event.target.matches('g[data-param]')) {
      event.preventDefault(); // Space would scroll the page
      picked(event);
    }
  });
  document.addEventListener('keydown', (event) => {
    if (event.key === 'Escape' && ui.param) {
      event.preventDefault();
      closePanel();
    }
  });
  $('panel-close').addEventListener('click', closePanel);
  $('practice').addEventListener('change', () => {
    ui.practice = $('practice').checked;
    render();
    if (ui.param) openPanel(ui.param);
  });
  $('edit').addEventListener('submit', setParam);
  const zoom = (factor) => { ui.zoom = Math.min(3, Math.max(0.5, ui.zoom * factor)); render(); };
  $('zoom-in').addEventListener('click', () => zoom(1.25));
  $('zoom-out').addEventListener('click', () => zoom(0.8));
  let resized = null;
  window.addEventListener('resize', () => {
    clearTimeout(resized);
    resized = setTimeout(() => ui.state && render(), 100);
  });
  document.body.dataset.ready = 'true';
}

start().catch((err) => say(`the playground could not start: ${err.message}`));
