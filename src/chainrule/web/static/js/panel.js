// The derivation panel: one weight or bias, by the chain rule, from explain's JSON —
// first in symbols, then with the numbers of the step, then the update it gets.

import { el, fmt, pretty } from './format.js';

/** An equation {lhs, forms[]}: lhs = forms[0], then "= form" per line, symbols to numbers. */
function equation(eq, cls = '') {
  return el('div', { class: `eq ${cls}` },
    el('span', { class: 'lhs' }, pretty(eq.lhs)),
    eq.forms.map((form, n) => el('span', { class: `rhs ${n === eq.forms.length - 1 ? 'result' : ''}` }, `= ${pretty(form)}`)),
    eq.note ? el('span', { class: 'note' }, pretty(eq.note)) : null);
}

function rowLine(row) {
  const xs = row.x.map((v, i) => `${pretty(`x_${i + 1}`)} = ${fmt(v)}`).join(', ');
  const ys = row.y.length === 1 ? `y = ${fmt(row.y[0])}` : row.y.map((v, i) => `${pretty(`y_${i + 1}`)} = ${fmt(v)}`).join(', ');
  return `row ${row.index + 1}: ${xs}; ${ys}`;
}

/** One colour per factor of a chain rule: the factor in the panel and its place in the
 *  diagram share it (none of the weights' and gradients' colours; dark enough for text on white). */
export const FACTOR_COLOURS = ['#b71c1c', '#8a6500', '#ad1457', '#37474f', '#5d6b00', '#6d4c41'];

/**
 * Where a factor of the chain rule lives in the diagram, as a CSS selector of the network
 * SVG: δᵏⱼ, ∂O/∂z, ∂L/∂z and ∂z/∂b of a neuron → that neuron; a weight wᵏᵢⱼ → its arrow; an input xᵢ or
 * an output Oₖᵢ → that input or neuron; ∂L/∂ŷⱼ → output neuron j (the loss's end).
 */
export function factorPlace(factor, K) {
  const { symbol, formula } = factor;
  let m = /^δ\^(\d+)_(\d+)$/.exec(symbol) ?? /^∂O_(\d)(\d)\/∂z_/.exec(symbol) ?? /^∂ŷ(?:_\d+)?\/∂z_(\d)(\d)$/.exec(symbol)
    ?? /^∂L\/∂z_(\d)(\d)$/.exec(symbol) ?? /^∂z_(\d)(\d)\/∂b_/.exec(symbol);
  if (m) return `g.neuron[data-param="b_${m[1]}${m[2]}"]`;
  m = /^w\^\d+_\d+,?\d+$/.exec(formula);
  if (m) return `g.weight[data-param="${formula}"]`;
  m = /^x_(\d+)$/.exec(formula);
  if (m) return `g.input[data-input="${m[1]}"]`;
  m = /^O_(\d)(\d)$/.exec(formula);
  if (m) return `g.neuron[data-param="b_${m[1]}${m[2]}"]`;
  m = /^∂L\/∂ŷ(?:_(\d+))?$/.exec(symbol);
  if (m) return `g.neuron[data-param="b_${K}${m[1] ?? 1}"]`;
  return null;
}

/** The factors of the panel's chain rule (the first row's), with their colours and places. */
export function factorMarks(data, K) {
  const row = data.explanation.parameters[0].rows[0];
  return row.factors.map((f, n) => ({ colour: FACTOR_COLOURS[n % FACTOR_COLOURS.length], place: factorPlace(f, K), symbol: f.symbol }));
}

/** The δ table of the step's first row: every neuron's δ, from the output back. */
function deltaTable(data) {
  const table = data.deltas?.[0] ?? [];
  if (!table.length) return null;
  return el('details', { class: 'delta-table' },
    el('summary', {}, 'the δ table: every neuron’s δ, from the output back (as chainrule explain writes it)'),
    table.map((eq) => equation(eq, 'step')));
}

/** Fill `box` with the derivation of the one parameter in `data` (the /api/explain answer). */
export function showDerivation(box, data) {
  const ex = data.explanation;
  const p = ex.parameters[0];
  const when = data.when === 'last'
    ? `step ${data.step}, the step just taken, on the weights it started from`
    : `step ${data.step}, the next step, on the current weights`;
  const rows = ex.rows.map(rowLine);
  const parts = [
    el('h2', { 'data-param': p.symbol }, `∂L/∂${pretty(p.symbol)}`),
    el('p', { class: 'where' }, `${pretty(p.symbol)} is ${p.kind === 'weight'
      ? `the weight on the arrow into neuron ${p.index[1] + 1} of layer ${p.layer} from ${p.layer === 1 ? 'input' : 'neuron'} ${p.index[0] + 1}${p.layer === 1 ? '' : ` of layer ${p.layer - 1}`}`
      : `the bias of neuron ${p.index[0] + 1} of layer ${p.layer}`} (${p.name}[${p.index.join(', ')}])`),
    el('p', { class: 'where' }, when, el('br'), rows.slice(0, 3).join(' · '), rows.length > 3 ? ` … (${rows.length} rows)` : ''),
    el('details', { class: 'forward' }, el('summary', {}, 'forward pass and loss'),
      ex.rows.slice(0, 3).map((row) => el('div', {}, row.forward.map((eq) => equation(eq)), equation(row.loss)))),
  ];
  const K = ex.network?.sizes ? ex.network.sizes.length - 1 : 0;
  for (const [r, row] of p.rows.slice(0, 3).entries()) {
    if (p.rows.length > 1) parts.push(el('h3', {}, `row ${row.row + 1}`));
    if (row.steps.length) {
      parts.push(el('h3', {}, 'δ, layer by layer (every path from the neuron to the loss)'));
      parts.push(row.steps.map((eq) => equation(eq, 'step')));
    }
    parts.push(el('h3', {}, 'the chain rule'));
    parts.push(equation(row.chain, 'chain'));
    if (row.factors.length) {
      parts.push(el('table', { class: 'factors' },
        el('thead', {}, el('tr', {}, el('th', {}, 'factor'), el('th', {}, 'formula'), el('th', {}, 'with the numbers'), el('th', {}, 'value'))),
        el('tbody', {}, row.factors.map((f, n) => {
          const colour = r === 0 ? FACTOR_COLOURS[n % FACTOR_COLOURS.length] : null; // the diagram shows the first row
          const place = r === 0 ? factorPlace(f, K) : null;
          return el('tr', { class: colour ? 'factor' : '', style: colour ? `--factor: ${colour}` : null, 'data-place': place },
            el('td', { class: 'symbol', title: place ? 'its place in the diagram has this colour' : null }, pretty(f.symbol)),
            el('td', {}, pretty(f.formula)), el('td', {}, pretty(f.numbers)), el('td', { class: 'num' }, fmt(f.value)));
        }))));
    }
  }
  parts.push(deltaTable(data));
  if (p.mean) parts.push(el('h3', {}, 'the batch: the mean over its rows'), equation(p.mean, 'mean'));
  if (p.l2) parts.push(el('h3', {}, 'L2 regularisation: the penalty (λ/2)·Σθ² adds λ·θ to the gradient'), equation({ ...p.l2, note: null }, 'l2'));
  parts.push(el('h3', {}, data.when === 'last' ? 'the update it got' : 'the update it will get'));
  parts.push(equation(p.update, 'update'));
  parts.push(el('p', { class: 'move' }, `${pretty(p.symbol)}: ${fmt(p.update.old)} → ${fmt(p.update.new)}`));
  if (p.flags.length) parts.push(el('ul', { class: 'flags' }, p.flags.map((f) => el('li', {}, pretty(f)))));
  parts.push(el('details', { class: 'text' }, el('summary', {}, 'as text (chainrule explain)'), el('pre', {}, data.text)));
  box.replaceChildren(...parts.flat());
}

const TOLERANCE = 0.005; // a typed number within 0.5 % is right
const close = (typed, value) => Math.abs(typed - value) <= TOLERANCE * Math.abs(value) + 1e-12;
const typedNumber = (input) => (input.value.trim() === '' ? null : Number(input.value.trim().replace(/−/g, '-')));

/**
 * Your turn: the chain rule of the parameter in `data` with a box for each factor and one
 * for the gradient; "check" says whether the gradient is right (to 0.5 %) and, when it is
 * not, points at the first factor typed that differs; `reveal()` is called once it is
 * right, or when the student asks to see it.
 */
export function showPractice(box, data, reveal) {
  const p = data.explanation.parameters[0];
  const row = p.rows[0];
  const answer = row.value;
  const factors = row.factors.map((f) => ({
    ...f, input: el('input', { inputmode: 'decimal', size: 9, 'aria-label': `${pretty(f.symbol)} =`, 'data-factor': f.symbol }),
  }));
  const result = el('input', { inputmode: 'decimal', size: 11, id: 'practice-answer', 'aria-label': `∂L/∂${pretty(p.symbol)} =` });
  const verdict = el('p', { id: 'practice-verdict', role: 'status' });
  const check = () => {
    for (const f of factors) f.input.classList.remove('differs');
    const typed = typedNumber(result);
    if (typed !== null && close(typed, answer)) {
      verdict.textContent = `right: ∂L/∂${pretty(p.symbol)} = ${fmt(answer)}`;
      verdict.className = 'right';
      reveal();
      return;
    }
    const wrong = factors.find((f) => typedNumber(f.input) !== null && !close(typedNumber(f.input), f.value));
    verdict.className = 'wrong';
    if (wrong) {
      wrong.input.classList.add('differs');
      wrong.input.focus();
      verdict.textContent = `not yet: the first factor that differs is ${pretty(wrong.symbol)} = ${pretty(wrong.formula)}`;
    } else if (factors.length && factors.every((f) => typedNumber(f.input) !== null)) {
      verdict.textContent = 'the factors are right: multiply them again';
    } else {
      verdict.textContent = factors.length
        ? 'not yet: type each factor of the chain rule to find the one that differs'
        : 'not yet';
    }
  };
  const form = el('form', { class: 'practice', onsubmit: (event) => { event.preventDefault(); check(); } },
    el('h2', { 'data-param': p.symbol }, `your turn: ∂L/∂${pretty(p.symbol)}`),
    el('p', { class: 'where' }, `step ${data.step}, row ${row.row + 1}: work out each factor of the chain rule, then the gradient (0.5 % is close enough)`),
    el('div', { class: 'eq chain' }, el('span', { class: 'lhs' }, `∂L/∂${pretty(p.symbol)}`),
      el('span', { class: 'rhs' }, `= ${pretty(row.chain.forms[0])}`)),
    el('table', { class: 'factors' }, el('tbody', {}, factors.map((f) => el('tr', {},
      el('td', {}, pretty(f.symbol)), el('td', {}, '='), el('td', {}, f.input))),
    el('tr', {}, el('td', { class: 'num' }, `∂L/∂${pretty(p.symbol)}`), el('td', {}, '='), el('td', {}, result)))),
    el('button', { type: 'submit' }, 'check'), ' ',
    el('button', { type: 'button', onclick: reveal }, 'show me'),
    verdict);
  box.replaceChildren(form);
}
