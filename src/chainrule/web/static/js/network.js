// The network, drawn like the seed's figure: inputs on the left, one circle per neuron,
// one arrow per weight. An arrow's colour is its weight's sign and its thickness the
// weight's size; in the backward stage they show the gradient ∂L/∂w instead. Every
// weight, bias and neuron carries data-param (w^k_ij, b_kj) and opens its derivation.

import { el, fmt, pretty, symbol } from './format.js';

const W = 760;
const TOP = 96; // centre of the highest neuron: room for the captions and its name
const MAX_LABELLED_EDGES = 10; // more labels than this hide each other
const BOX = { w: 76, h: 44 }; // an input

/** Where each node goes; up to 6 neurons a layer get their names and biases written out,
 *  more are drawn smaller (their numbers are in the tooltips and the panel). */
function layout(sizes) {
  const most = Math.max(...sizes);
  const roomy = most <= 6;
  const gap = most === 1 ? 0 : roomy ? (most <= 3 ? 120 : 100) : Math.max(28, 560 / (most - 1));
  const r = roomy ? 27 : Math.min(20, gap * 0.42);
  const height = TOP + (most - 1) * gap + (roomy ? 64 : 40);
  const left = 50;
  const right = W - 100;
  const columns = sizes.map((_, k) => left + (k * (right - left)) / (sizes.length - 1));
  const span = (most - 1) * gap;
  const middle = TOP + span / 2;
  const spacing = (n) => (n <= 1 ? 0 : Math.min(n <= 3 ? 120 : 100, span / (n - 1)));
  const nodes = sizes.map((n, k) => Array.from({ length: n }, (_, j) => ({
    x: columns[k],
    y: middle + (j - (n - 1) / 2) * spacing(n),
  })));
  return { height, nodes, r, roomy, middle };
}

/** How far along the line from an input box's centre (dx, dy) the box's edge is. */
const boxExit = (dx, dy) => Math.min(BOX.w / 2 / Math.abs(dx || 1e-9), BOX.h / 2 / Math.abs(dy || 1e-9));

const width = (value, largest) => 1.2 + 6 * Math.sqrt(Math.abs(value) / (largest || 1));
const largest = (arrays) => Math.max(1e-12, ...arrays.flat(2).map((v) => Math.abs(v ?? 0)));

/**
 * Draw `net` (sizes, inputs, outputs, activations) into `svg` with the numbers of `view`:
 * {stage, x, outputs, weights, biases, grads?, old?, target?, loss?, selected?}.
 */
export function drawNetwork(svg, net, view) {
  const { sizes } = net;
  const { height, nodes, r: NODE_R, roomy, middle } = layout(sizes);
  const K = sizes.length - 1;
  const backward = view.stage === 'backward' && view.grads;
  const edgeValues = backward ? view.grads.weights : view.weights;
  const big = largest(edgeValues);
  const edgesTotal = sizes.slice(1).reduce((sum, n, k) => sum + n * sizes[k], 0);
  const labelled = edgesTotal <= MAX_LABELLED_EDGES;
  const num = (v) => fmt(v, labelled ? 6 : 3); // a big network gets short numbers

  svg.replaceChildren();
  svg.setAttribute('viewBox', `0 0 ${W} ${height}`);
  svg.dataset.stage = view.stage ?? 'idle';
  const defs = el('defs', {},
    ['pos', 'neg', 'gpos', 'gneg'].map((kind) => el('marker', {
      id: `arrow-${kind}`, viewBox: '0 0 10 10', refX: 8, refY: 5, markerWidth: roomy ? 11 : 7, markerHeight: roomy ? 11 : 7,
      orient: 'auto-start-reverse', markerUnits: 'userSpaceOnUse',
    }, el('path', { d: 'M0,0 L10,5 L0,10 z', class: `head ${kind}` }))));
  svg.append(defs);

  // Layer captions.
  for (let k = 0; k <= K; k++) {
    const caption = k === 0 ? 'inputs (layer 0)' : k === K ? `output (layer ${k})` : `hidden layer ${k}`;
    const act = k > 0 ? net.activations[k - 1] : null;
    svg.append(el('text', { x: nodes[k][0].x, y: 18, class: 'caption' }, caption));
    if (act) svg.append(el('text', { x: nodes[k][0].x, y: 34, class: 'caption act' }, `f = ${act}`));
  }

  // One arrow per weight w^k_ij, from neuron i of layer k−1 to neuron j of layer k.
  const edges = el('g', { class: 'edges' });
  const labels = el('g', { class: 'edge-labels' });
  for (let k = 1; k <= K; k++) {
    nodes[k - 1].forEach((a, i) => nodes[k].forEach((b, j) => {
      const param = symbol('w', k, i + 1, j + 1);
      const value = view.weights[k - 1][i][j];
      const shown = backward ? view.grads.weights[k - 1][i][j] : value;
      const sign = (shown ?? 0) >= 0 ? 'pos' : 'neg';
      const kind = backward ? `g${sign}` : sign;
      const dx = b.x - a.x;
      const dy = b.y - a.y;
      const len = Math.hypot(dx, dy);
      const startGap = k === 1 ? len * boxExit(dx, dy) + 2 : NODE_R + 2;
      const x1 = a.x + (dx * startGap) / len;
      const y1 = a.y + (dy * startGap) / len;
      const x2 = b.x - (dx * (NODE_R + 3)) / len;
      const y2 = b.y - (dy * (NODE_R + 3)) / len;
      const tip = backward
        ? `∂L/∂${pretty(param)} = ${fmt(shown)}`
        : `${pretty(param)} = ${fmt(value)}`;
      const was = view.stage === 'update' && view.old ? ` (was ${fmt(view.old.weights[k - 1][i][j])})` : '';
      const line = el('line', {
        x1, y1, x2, y2, class: `edge ${kind}`, 'stroke-width': width(shown, big),
        'marker-end': `url(#arrow-${kind})`,
      });
      const hit = el('line', { x1, y1, x2, y2, class: 'hit' });
      const picked = param === view.selected ? 'selected' : '';
      edges.append(el('g', { class: `weight ${picked}`, 'data-param': param, tabindex: 0, role: 'button' },
        el('title', {}, tip + was), line, hit));
      if (labelled) {
        // Along the arrow near its source, clear of the arrows that cross mid-way, on the side
        // away from the drawing's middle (where arrows cross): above in the upper half.
        const t = Math.min(0.45, (18 + tip.length * 3) / Math.hypot(x2 - x1, y2 - y1));
        const lx = x1 + (x2 - x1) * t;
        const ly = y1 + (y2 - y1) * t;
        const angle = (Math.atan2(y2 - y1, x2 - x1) * 180) / Math.PI;
        const text = el('text', {
          x: lx, y: ly <= middle + 1 ? ly - 4 : ly + 12, transform: `rotate(${angle.toFixed(2)} ${lx} ${ly})`,
          class: `wlabel ${backward ? 'grad' : ''}`, 'data-param': param,
          'data-value': value, 'data-grad': backward ? shown : null,
        }, tip);
        labels.append(text);
      }
    }));
  }
  svg.append(edges);

  // Inputs.
  nodes[0].forEach((p, i) => {
    const name = net.inputs[i] ?? `x_${i + 1}`;
    svg.append(el('g', { class: 'input' },
      el('rect', { x: p.x - BOX.w / 2, y: p.y - BOX.h / 2, width: BOX.w, height: BOX.h, rx: 8 }),
      el('text', { x: p.x, y: p.y - 28, class: 'name' }, pretty(name)),
      el('text', { x: p.x, y: p.y + 5, class: 'value' }, `${pretty(`x_${i + 1}`)} = ${fmt(view.x?.[i], 4)}`),
      el('title', {}, `${name}: x_${i + 1} = ${fmt(view.x?.[i])}`)));
  });

  // Neurons: output O_kj inside, bias b_kj below (in the backward stage its gradient).
  for (let k = 1; k <= K; k++) {
    nodes[k].forEach((p, j) => {
      const param = symbol('b', k, 0, j + 1);
      const out = view.outputs?.[k - 1]?.[j];
      const bias = view.biases[k - 1][j];
      const label = k === K && sizes[K] === 1 ? `ŷ = ${pretty(`O_${k}${j + 1}`)}` : pretty(symbol('b', k, 0, j + 1).replace('b', 'O'));
      const biasText = backward
        ? `∂L/∂${pretty(param)} = ${num(view.grads.biases[k - 1][j])}`
        : `${pretty(param)} = ${num(bias)}`;
      const picked = param === view.selected ? 'selected' : '';
      const g = el('g', { class: `neuron ${picked}`, 'data-param': param, tabindex: 0, role: 'button' },
        el('title', {}, `neuron ${j + 1} of layer ${k}: output ${fmt(out)}, bias ${fmt(bias)}`),
        el('circle', { cx: p.x, cy: p.y, r: NODE_R, class: view.stage === 'forward' ? 'lit' : '' }),
        roomy ? el('text', { x: p.x, y: p.y - NODE_R - 6, class: 'name' }, label) : null,
        NODE_R >= 16 ? el('text', { x: p.x, y: p.y + 4, class: `value ${roomy ? '' : 'small'}`, 'data-output': `O_${k}${j + 1}` }, fmt(out, roomy ? 4 : 2)) : null);
      const biasLabel = el('text', {
        x: p.x, y: p.y + NODE_R + 16, class: `blabel ${backward ? 'grad' : ''}`, 'data-param': param,
        'data-value': bias,
      }, biasText);
      if (view.stage === 'update' && view.old && labelled) {
        biasLabel.append(el('tspan', { class: 'old' }, ` (was ${fmt(view.old.biases[k - 1][j])})`));
      }
      if (roomy) g.append(biasLabel);
      svg.append(g);
      if (k === K) {
        const name = net.outputs[j] ?? '';
        const extra = view.target ? `y = ${fmt(view.target[j])}` : name;
        svg.append(el('text', { x: p.x + NODE_R + 10, y: p.y + 5, class: 'target' }, extra));
      }
    });
  }
  svg.append(labels);
  if (view.stage === 'loss' && view.loss !== undefined) {
    const last = nodes[K][nodes[K].length - 1];
    svg.append(el('text', { x: last.x, y: Math.min(height - 8, last.y + NODE_R + 40), class: 'loss-badge' },
      `L = ${fmt(view.loss)}`));
  }
}
