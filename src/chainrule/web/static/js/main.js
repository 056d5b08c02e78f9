// The playground page: controls, the four stages of a step shown in turn, play/pause.
// Every number comes from the server (/api/…); this file only decides what to show when.

import * as api from './api.js';
import { drawChart } from './chart.js';
import { drawData } from './data.js';
import { el, fmt, pretty } from './format.js';
import { drawNetwork } from './network.js';
import { showDerivation } from './panel.js';
import { watch } from './progress.js';

const STAGES = ['forward', 'loss', 'backward', 'update'];
const STAGE_MS = Number(new URLSearchParams(location.search).get('stage_ms') ?? 700);
const $ = (id) => document.getElementById(id);

const ui = {
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

function networkView() {
  const s = ui.state;
  if (ui.step && ui.stage) {
    const st = ui.step.stages;
    const view = {
      stage: ui.stage, x: st.forward.x[0], outputs: st.forward.outputs.map((o) => o[0]),
      weights: st.forward.weights, biases: st.forward.biases,
    };
    if (ui.stage !== 'forward') { view.target = st.loss.target[0]; view.loss = st.loss.loss; }
    if (ui.stage === 'backward') view.grads = st.backward;
    if (ui.stage === 'update') {
      Object.assign(view, { weights: st.update.weights, biases: st.update.biases, old: st.forward });
    }
    return view;
  }
  return {
    stage: null, x: s.preview.x[0], outputs: s.preview.outputs.map((o) => o[0]),
    weights: s.network.weights, biases: s.network.biases,
  };
}

function stageText() {
  const s = ui.state;
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
    case 'loss': return `2 · loss: ${pretty(s.loss.formula)} with ŷ = ${yhat} and y = ${y}: L = ${fmt(st.loss.loss)}`;
    case 'backward': return '3 · backward: the arrows and biases now show ∂L/∂θ (purple: positive, the weight goes down; green: negative). Click one for its chain rule.';
    default: return `4 · update: every weight and bias moved by θ ← θ − η · ∂L/∂θ with η = ${fmt(st.update.lr)}.`;
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

function render() {
  const s = ui.state;
  drawNetwork($('network'), s.network, { ...networkView(), selected: ui.param });
  for (const li of $('stages').children) {
    const n = STAGES.indexOf(li.dataset.stage);
    li.classList.toggle('active', li.dataset.stage === ui.stage);
    li.classList.toggle('done', ui.stage !== null && n < STAGES.indexOf(ui.stage));
  }
  $('stage-text').textContent = stageText();
  $('status').textContent = status();
  drawChart($('chart'), s.history);
  const current = ui.step && ui.stage ? ui.step.stages.forward.rows : [];
  drawData($('data'), s.data, current, current.length ? [] : s.preview.rows);
  $('data-title').textContent = s.source;
}

// -- controls ---------------------------------------------------------------------------------

function fillControls(settings) {
  $('dataset').value = settings.dataset;
  $('lr').value = settings.lr;
  $('hidden').value = settings.hidden.length ? settings.hidden.join(',') : 'none';
  $('activation').value = settings.activation;
  $('init').value = settings.init;
  $('batch_size').value = settings.batch_size;
  $('seed').value = settings.seed;
  $('shuffle').checked = settings.shuffle;
}

function readControls() {
  return {
    dataset: $('dataset').value, lr: $('lr').value, hidden: $('hidden').value,
    activation: $('activation').value, init: $('init').value, batch_size: $('batch_size').value,
    seed: $('seed').value, shuffle: $('shuffle').checked,
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

/** The target list: the columns of `entry` ({ columns, target }), shown when `visible`
 * and there is a choice to make. */
function fillTargets(entry, visible) {
  const columns = entry?.columns ?? [];
  $('target').replaceChildren(...columns.map((c) => el('option', { value: c }, c)));
  if (entry) $('target').value = entry.target ?? columns[columns.length - 1];
  $('target-pick').hidden = !visible || columns.length < 2;
}

/** Send `entry`'s CSV (with `target`, or none: the server's default, the last column) and
 * show what the server made of it. A refused table keeps its target list up, to try another. */
async function sendUpload(entry, target) {
  ui.trying = entry;
  fillTargets({ ...entry, target }, true);
  const state = await api.upload(entry.file, target);
  ui.upload = { file: entry.file, ...state.upload };
  ui.datasets = await api.get('/api/datasets');
  fillDatasets();
  closePanel();
  show(state, true);
  say(state.notes.join('. '), 'info');
}

function fillDatasets() {
  $('dataset').replaceChildren(...ui.datasets.map((d) => el('option', { value: d.name }, d.title)));
}

/** Show a new state (after an epoch, a reset, an upload); `fill`: also set the controls from it. */
function show(state, fill = false) {
  clearTimeout(ui.timer);
  ui.state = state;
  ui.step = null;
  ui.stage = null;
  if (fill) fillControls(state.settings);
  ui.trying = null; // whatever was refused, the list shows the table the session learns
  fillTargets(ui.upload, state.settings.dataset === 'upload');
  render();
  if (ui.param) openPanel(ui.param); // the derivation of the new current step
}

/** Show the stages of the step just taken, one after the other. */
function playStages(n = 0) {
  ui.stage = STAGES[n];
  render();
  if (n + 1 < STAGES.length) ui.timer = setTimeout(() => playStages(n + 1), STAGE_MS);
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
  while (ui.playing) {
    try {
      show(await watch(api.post('/api/epoch'), $('status')));
    } catch (err) {
      say(err.message);
      break;
    }
    await new Promise((resolve) => setTimeout(resolve, 30));
  }
  stop();
}

// -- the derivation panel -------------------------------------------------------------------

async function openPanel(param) {
  try {
    const data = await api.get(`/api/explain?param=${encodeURIComponent(param)}`);
    const changed = ui.param !== param;
    ui.param = param;
    showDerivation($('panel-body'), data);
    $('panel').hidden = false;
    if (changed) render();
  } catch (err) {
    say(err.message);
  }
}

function closePanel() {
  const open = ui.param !== null;
  ui.param = null;
  $('panel').hidden = true;
  if (open && ui.state) render();
}

function picked(event) {
  const target = event.target.closest('[data-param]');
  if (target && !ui.playing) openPanel(target.dataset.param);
}

// -- start ----------------------------------------------------------------------------------

async function start() {
  const options = await api.get('/api/options');
  $('activation').replaceChildren(...options.activations.map((a) => el('option', { value: a }, a)));
  $('init').replaceChildren(...options.initialisers.map((a) => el('option', { value: a }, a)));
  $('hidden').title = `neurons per hidden layer, comma-separated (1 to ${options.max_neurons} each, at most ${options.max_hidden_layers} layers); none for no hidden layer`;
  ui.datasets = await api.get('/api/datasets');
  fillDatasets();
  show(await api.get('/api/state'), true);

  $('btn-row').addEventListener('click', () => act(async () => {
    const r = await api.post('/api/step');
    say('');
    ui.state = r.state;
    ui.step = r;
    clearTimeout(ui.timer);
    playStages(0);
    if (ui.param) openPanel(ui.param);
  }));
  $('btn-epoch').addEventListener('click', () => act(async () => { show(await watch(api.post('/api/epoch'), $('status'))); say(''); }));
  $('btn-play').addEventListener('click', () => play());
  $('btn-reset').addEventListener('click', () => act(() => reset(readControls())));
  $('dataset').addEventListener('change', () => act(() => reset({ dataset: $('dataset').value })));
  for (const id of ['lr', 'hidden', 'activation', 'init', 'batch_size', 'seed', 'shuffle']) {
    $(id).addEventListener('change', () => act(() => reset(readControls())));
  }
  $('upload').addEventListener('change', () => act(async () => {
    const file = $('upload').files[0];
    $('upload').value = ''; // the same file may be chosen again after a fix
    if (!file) return;
    stop();
    await sendUpload({ file, columns: csvHeader(await file.text()) });
  }));
  $('target').addEventListener('change', () => act(() => {
    stop();
    return sendUpload(ui.trying ?? ui.upload, $('target').value);
  }));
  $('stages').addEventListener('click', (event) => {
    const li = event.target.closest('li');
    if (li && ui.step) { clearTimeout(ui.timer); ui.stage = li.dataset.stage; render(); }
  });
  $('network').addEventListener('click', picked);
  $('network').addEventListener('keydown', (event) => { if (event.key === 'Enter') picked(event); });
  $('panel-close').addEventListener('click', closePanel);
  document.body.dataset.ready = 'true';
}

start().catch((err) => say(`the playground could not start: ${err.message}`));
