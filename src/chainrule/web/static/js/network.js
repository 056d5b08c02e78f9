// The network, drawn like the seed's figure: inputs on the left, one circle per neuron,
// one arrow per weight. An arrow's colour is its weight's sign and its thickness the
// weight's size; in the backward stage they show the gradient ∂L/∂w, point backwards, and
// fill in layer by layer from the output (the wave: each neuron's δ, then the arrows into
// it). Every weight, bias and neuron carries data-param (w^k_ij, b_kj) and opens its
// derivation.
//
// The drawing is laid out in CSS pixels (one unit of the SVG is one CSS pixel at zoom 1),
// so its text has the stylesheet's sizes whatever the screen: browser zoom grows it, and a
// narrow screen pans the diagram instead of shrinking it. Weight labels are placed where
// they hit no other text or node; one with no free place is dropped, and its value shows
// when its arrow has the focus (and in its tooltip).

import { gridImage, valueColour } from './data.js';
import { el, fmt, pretty, symbol } from './format.js';

const TOP = 96; // centre of the highest neuron: room for the captions and its name
const BOX = { w: 76, h: 44 }; // an input
const FONT = 'system-ui, -apple-system, "Segoe UI", Roboto, sans-serif';
const LABEL_PX = 11; // weight labels (as in style.css)
const ANNOT_PX = 12; // the output's annotations
const MAX_LABELS = 40; // more arrows than this: their values show on focus and hover only
const CANDIDATES = [0.3, 0.7, 0.4, 0.6, 0.22, 0.78, 0.5, 0.15, 0.85]; // along an arrow

let ruler = null;
/** The width in CSS pixels of `text` at `px` pixels (for margins, before anything is drawn). */
function textWidth(text, px, weight = 'normal') {
  ruler ??= document.createElement('canvas').getContext('2d');
  ruler.font = `${weight} ${px}px ${FONT}`;
  return ruler.measureText(text).width;
}

/** Where each node goes, in CSS pixels; up to 6 neurons a layer get their names and biases
 *  written out, more are drawn smaller (their numbers are in the tooltips and the panel). */
function layout(sizes, net, available, annotWidth, valueWidth = 0) {
  const most = Math.max(...sizes);
  const roomy = most <= 6;
  const gap = most === 1 ? 0 : roomy ? (most <= 3 ? 120 : 100) : Math.max(30, 560 / (most - 1));
  const r = roomy ? 27 : Math.min(20, gap * 0.42);
  const box = { w: Math.max(BOX.w, Math.ceil(valueWidth) + 12), h: Math.min(BOX.h, Math.max(16, gap - 8)) };
  const height = TOP + (most - 1) * gap + (roomy ? 64 : 40);
  const inputWidth = Math.max(...net.inputs.map((n) => textWidth(pretty(n), 13)), 0);
  const left = Math.ceil(Math.max(box.w / 2 + 8, textWidth('inputs (layer 0)', 12) / 2 + 6,
    roomy ? inputWidth / 2 + 6 : 0));
  const right = Math.ceil(r + 14 + annotWidth);
  const minGap = roomy ? 220 : 130;
  const width = Math.max(Math.floor(available), left + right + (sizes.length - 1) * minGap);
  const columns = sizes.map((_, k) => left + (k * (width - left - right)) / (sizes.length - 1));
  const span = (most - 1) * gap;
  const middle = TOP + span / 2;
  const spacing = (n) => (n <= 1 ? 0 : Math.min(n <= 3 ? 120 : 100, span / (n - 1)));
  const nodes = sizes.map((n, k) => Array.from({ length: n }, (_, j) => ({
    x: columns[k],
    y: middle + (j - (n - 1) / 2) * spacing(n),
  })));
  return { width, height, nodes, r, roomy, box };
}

/** A neuron's output over the plane as a picture (orange below 0, blue above, full at ±big). */
const heatImage = (values, big) => gridImage(Math.round(Math.sqrt(values.length)), (k) => valueColour(values[k], big));

/** How far along the line from an input box's centre (dx, dy) the box's edge is. */
const boxExit = (box, dx, dy) => Math.min(box.w / 2 / Math.abs(dx || 1e-9), box.h / 2 / Math.abs(dy || 1e-9));

const strokeWidth = (value, largest) => 1.2 + 6 * Math.sqrt(Math.abs(value ?? 0) / (largest || 1));
const largest = (arrays) => Math.max(1e-12, ...arrays.flat(2).map((v) => Math.abs(v ?? 0)));
const overlaps = (a, b) => a.x0 < b.x1 && b.x0 < a.x1 && a.y0 < b.y1 && b.y0 < a.y1;

/** Which weights and neurons carry the chain rule of `selected` (w^k_ij or b_kj): the arrow
 *  itself and every path from its neuron to the output. */
function chainPaths(selected, K) {
  const m = /^(?:w\^(\d+)_(\d+),?(\d+)|b_(\d+),?(\d+))$/.exec(selected ?? '');
  if (!m) return { edge: () => false, neuron: () => false };
  const k = Number(m[1] ?? m[4]);
  const j = Number(m[3] ?? m[5]);
  const i = m[1] ? Number(m[2]) : null;
  return {
    edge: (kk, ii, jj) => (kk === k && ii === i && jj === j) || (kk === k + 1 && ii === j) || kk > k + 1,
    neuron: (kk, jj) => (kk === k && jj === j) || (kk > k && kk <= K),
  };
}

/**
 * Draw `net` (sizes, inputs, outputs, activations) into `svg` with the numbers of `view`:
 * {stage, x, outputs, weights, biases, grads?, deltas?, wave?, old?, target?, loss?,
 *  after?, selected?}, `available` CSS pixels wide, times `zoom`.
 */
export function drawNetwork(svg, net, view, available = 760, zoom = 1) {
  const { sizes } = net;
  const K = sizes.length - 1;
  const backward = view.stage === 'backward' && view.grads;
  const wave = backward ? Math.min(view.wave ?? K, K) : 0; // layers K … K−wave+1 have their δ
  const reached = (k) => !backward || k > K - wave;
  const annotations = outputAnnotations(net, view, K);
  const annotWidth = Math.max(180, ...annotations.flat().map((t) => textWidth(t.text, ANNOT_PX, 'bold') + 4));
  const inputText = (i) => `${pretty(`x_${i + 1}`)} = ${fmt(view.x?.[i], 4)}`; // inside its box
  const valueWidth = Math.max(0, ...sizes.slice(0, 1).flatMap((n) => Array.from({ length: n }, (_, i) => textWidth(inputText(i), 12))));
  const { width: W, height, nodes, r: NODE_R, roomy, box } = layout(sizes, net, available / zoom, annotWidth, valueWidth);
  const edgeValues = backward ? view.grads.weights : view.weights;
  const big = largest(edgeValues);
  const num = (v) => fmt(v, roomy ? 6 : 3);
  const paths = chainPaths(view.selected, K);

  svg.replaceChildren();
  svg.setAttribute('viewBox', `0 0 ${W} ${height}`);
  svg.setAttribute('width', W * zoom);
  svg.setAttribute('height', height * zoom);
  svg.dataset.stage = view.stage ?? 'idle';
  svg.dataset.wave = wave;
  svg.toggleAttribute('data-selected', Boolean(view.selected));
  const defs = el('defs', {},
    ['pos', 'neg', 'gpos', 'gneg', 'wait'].map((kind) => el('marker', {
      id: `arrow-${kind}`, viewBox: '0 0 10 10', refX: 8, refY: 5, markerWidth: roomy ? 11 : 7, markerHeight: roomy ? 11 : 7,
      orient: 'auto-start-reverse', markerUnits: 'userSpaceOnUse',
    }, el('path', { d: 'M0,0 L10,5 L0,10 z', class: `head ${kind}` }))));
  svg.append(defs);
  const texts = []; // every text drawn so far, for the labels to keep clear of
  const biasLabels = []; // given a background, as the arrows pass under them
  const shapes = []; // node boxes

  // Layer captions.
  for (let k = 0; k <= K; k++) {
    const caption = k === 0 ? 'inputs (layer 0)' : k === K ? `output (layer ${k})` : `hidden layer ${k}`;
    const act = k > 0 ? net.activations[k - 1] : null;
    texts.push(svg.appendChild(el('text', { x: nodes[k][0].x, y: 18, class: 'caption' }, caption)));
    if (act) texts.push(svg.appendChild(el('text', { x: nodes[k][0].x, y: 34, class: 'caption act' }, `f = ${act}`)));
  }

  // One arrow per weight w^k_ij, from neuron i of layer k−1 to neuron j of layer k; in the
  // backward stage it points back, from the neuron whose δ it carries.
  const edges = el('g', { class: 'edges' });
  const labels = [];
  for (let k = 1; k <= K; k++) {
    nodes[k - 1].forEach((a, i) => nodes[k].forEach((b, j) => {
      const param = symbol('w', k, i + 1, j + 1);
      const value = view.weights[k - 1][i][j];
      const shown = backward ? view.grads.weights[k - 1][i][j] : value;
      const sign = (shown ?? 0) >= 0 ? 'pos' : 'neg';
      const secret = backward && view.hidden?.(param); // your turn: not worked out yet
      const kind = !reached(k) || secret ? 'wait' : backward ? `g${sign}` : sign;
      const dx = b.x - a.x;
      const dy = b.y - a.y;
      const len = Math.hypot(dx, dy);
      const startGap = k === 1 ? len * boxExit(box, dx, dy) + 2 : NODE_R + 2;
      const x1 = a.x + (dx * startGap) / len;
      const y1 = a.y + (dy * startGap) / len;
      const x2 = b.x - (dx * (NODE_R + 3)) / len;
      const y2 = b.y - (dy * (NODE_R + 3)) / len;
      const text = backward
        ? `∂L/∂${pretty(param)} = ${reached(k) && !secret ? num(shown) : '?'}`
        : `${pretty(param)} = ${num(value)}`;
      const was = view.stage === 'update' && view.old ? ` (was ${fmt(view.old.weights[k - 1][i][j])})` : '';
      const line = el('line', {
        x1, y1, x2, y2, class: `edge ${kind}`, 'stroke-width': reached(k) && !secret ? strokeWidth(shown, big) : 1.2,
        [backward ? 'marker-start' : 'marker-end']: `url(#arrow-${kind})`,
      });
      const hit = el('line', { x1, y1, x2, y2, class: 'hit' });
      const classes = ['weight', param === view.selected ? 'selected' : '', paths.edge(k, i + 1, j + 1) ? 'path' : ''];
      edges.append(el('g', {
        class: classes.join(' ').trim(), 'data-param': param, tabindex: 0, role: 'button',
        'aria-label': `${text}${was}: the weight from ${k === 1 ? `input ${i + 1}` : `neuron ${i + 1} of layer ${k - 1}`} to neuron ${j + 1} of layer ${k}`,
      }, el('title', {}, text + was), line, hit));
      if (reached(k)) labels.push({ param, text, value, grad: backward && !secret ? shown : null, x1, y1, x2, y2 });
    }));
  }
  svg.append(edges);

  // Inputs.
  nodes[0].forEach((p, i) => {
    const name = net.inputs[i] ?? `x_${i + 1}`;
    shapes.push({ x0: p.x - box.w / 2, y0: p.y - box.h / 2, x1: p.x + box.w / 2, y1: p.y + box.h / 2 });
    const g = el('g', { class: 'input', 'data-input': i + 1 },
      el('rect', { x: p.x - box.w / 2, y: p.y - box.h / 2, width: box.w, height: box.h, rx: 8 }),
      roomy ? el('text', { x: p.x, y: p.y - box.h / 2 - 6, class: 'name' }, pretty(name)) : null,
      box.h >= 18 ? el('text', { x: p.x, y: p.y + 4, class: 'value' }, inputText(i)) : null,
      el('title', {}, `${name}: x_${i + 1} = ${fmt(view.x?.[i])}`));
    svg.append(g);
    texts.push(...g.querySelectorAll('text'));
  });

  // Neurons: output O_kj inside (in the backward stage δ^k_j), bias b_kj below (∂L/∂b_kj).
  for (let k = 1; k <= K; k++) {
    nodes[k].forEach((p, j) => {
      const param = symbol('b', k, 0, j + 1);
      const out = view.outputs?.[k - 1]?.[j];
      const bias = view.biases[k - 1][j];
      const secret = backward && view.hidden?.(param); // δ^k_j = ∂L/∂b_kj: shown once worked out
      const known = reached(k) && !secret;
      const delta = view.deltas?.[k - 1]?.[j];
      const oName = k === K && sizes[K] === 1 ? `ŷ = ${pretty(`O_${k}${j + 1}`)}` : pretty(symbol('b', k, 0, j + 1).replace('b', 'O'));
      const name = backward ? pretty(`δ^${k}_${j + 1}`) : oName;
      const inside = backward ? (known ? fmt(delta, roomy ? 4 : 2) : '?') : fmt(out, roomy ? 4 : 2);
      const biasText = backward
        ? `∂L/∂${pretty(param)} = ${known ? num(view.grads.biases[k - 1][j]) : '?'}`
        : `${pretty(param)} = ${num(bias)}`;
      const classes = ['neuron', param === view.selected ? 'selected' : '', paths.neuron(k, j + 1) ? 'path' : ''];
      const tip = backward
        ? `neuron ${j + 1} of layer ${k}: δ^${k}_${j + 1} = ∂L/∂z = ${known ? fmt(delta) : secret ? 'your turn' : 'not yet: the wave has not reached it'}`
        : `neuron ${j + 1} of layer ${k}: output ${fmt(out)}, bias ${fmt(bias)}`;
      const map = view.maps?.[k - 1]?.[j];
      const clip = `clip-${k}-${j + 1}`;
      const g = el('g', {
        class: classes.join(' ').trim(), 'data-param': param, tabindex: 0, role: 'button', 'aria-label': `${tip}; ${biasText}`,
        'data-delta': backward && known ? delta : null,
      },
      el('title', {}, tip),
      el('circle', { cx: p.x, cy: p.y, r: NODE_R + 5, class: 'focus-ring' }),
      el('circle', { cx: p.x, cy: p.y, r: NODE_R, class: `body ${view.stage === 'forward' ? 'lit' : ''} ${backward && known ? 'delta' : ''}` }),
      map ? el('clipPath', { id: clip }, el('circle', { cx: p.x, cy: p.y, r: NODE_R - 1 })) : null,
      map ? el('image', {
        href: heatImage(map, Math.max(1e-9, ...view.maps[k - 1].flat().map(Math.abs))), x: p.x - NODE_R, y: p.y - NODE_R,
        width: 2 * NODE_R, height: 2 * NODE_R, preserveAspectRatio: 'none', 'clip-path': `url(#${clip})`, class: 'heat',
      }) : null,
      roomy ? el('text', { x: p.x, y: p.y - NODE_R - 6, class: 'name' }, name) : null,
      NODE_R >= 16 ? el('text', {
        x: p.x, y: p.y + 4, class: `value ${roomy ? '' : 'small'} ${map ? 'on-map' : ''}`,
        'data-output': backward ? null : `O_${k}${j + 1}`,
      }, inside) : null);
      if (roomy) {
        const biasLabel = el('text', {
          x: p.x, y: p.y + NODE_R + 16, class: `blabel ${backward ? 'grad' : ''}`, 'data-param': param, 'data-value': bias,
        }, biasText);
        if (view.stage === 'update' && view.old) {
          biasLabel.append(el('tspan', { class: 'old' }, ` (was ${fmt(view.old.biases[k - 1][j])})`));
        }
        g.append(biasLabel);
        biasLabels.push(biasLabel);
      }
      shapes.push({ x0: p.x - NODE_R, y0: p.y - NODE_R, x1: p.x + NODE_R, y1: p.y + NODE_R });
      svg.append(g);
      texts.push(...g.querySelectorAll('text'));
      if (k === K) {
        const lines = annotations[j];
        lines.forEach((line, n) => {
          texts.push(svg.appendChild(el('text', {
            x: p.x + NODE_R + 10, y: p.y + 4 + (n - (lines.length - 1) / 2) * 16, class: line.cls,
          }, line.text)));
        });
      }
    });
  }

  for (const label of biasLabels) {
    const b = label.getBBox();
    label.before(el('rect', { x: b.x - 2, y: b.y + 1, width: b.width + 4, height: b.height - 2, rx: 3, class: 'wlabel-bg' }));
  }
  placeLabels(svg, labels, texts, shapes, W, height);
}

/** What is written to the right of each output neuron: its target (or name), after an
 *  update the same row's ŷ before → after, and beside the last one the loss. */
function outputAnnotations(net, view, K) {
  const n = net.sizes[K];
  return Array.from({ length: n }, (_, j) => {
    const y = n === 1 ? 'y' : pretty(`y_${j + 1}`);
    const lines = [{ text: view.target ? `${y} = ${fmt(view.target[j])}` : (net.outputs[j] ?? ''), cls: 'target' }];
    if (view.stage === 'update' && view.after) {
      const yhat = n === 1 ? 'ŷ' : pretty(`ŷ_${j + 1}`);
      lines.push({ text: `${yhat}: ${fmt(view.old.outputs[K - 1][j])} → ${fmt(view.after.outputs[K - 1][j])}`, cls: 'after' });
    }
    if (j === n - 1 && view.loss !== undefined && view.stage !== 'forward') {
      lines.push(view.stage === 'update' && view.after
        ? { text: `L: ${fmt(view.loss)} → ${fmt(view.after.loss)}`, cls: 'loss-badge' }
        : { text: `L = ${fmt(view.loss)}`, cls: 'loss-badge' });
    }
    return lines;
  });
}

/** Put each weight's label on its arrow where it overlaps no text, node or other label
 *  (the first free place of CANDIDATES along the arrow); drop it where there is none. */
function placeLabels(svg, labels, texts, shapes, W, H) {
  const group = el('g', { class: 'edge-labels' });
  svg.append(group);
  const taken = [...shapes, ...texts.map((t) => {
    const b = t.getBBox();
    return { x0: b.x - 1, y0: b.y - 1, x1: b.x + b.width + 1, y1: b.y + b.height + 1 };
  })];
  const h = LABEL_PX + 4;
  const all = labels.length <= MAX_LABELS;
  for (const label of labels) {
    if (!all) {
      svg.querySelector(`g.weight[data-param="${label.param}"]`)?.classList.add('dropped');
      continue;
    }
    const node = el('text', {
      class: `wlabel ${label.grad !== null ? 'grad' : ''}`, 'data-param': label.param,
      'data-value': label.value, 'data-grad': label.grad,
    }, label.text);
    group.append(node);
    const w = node.getComputedTextLength() + 4;
    const spot = CANDIDATES.map((t) => ({
      x: label.x1 + (label.x2 - label.x1) * t, y: label.y1 + (label.y2 - label.y1) * t,
    })).map(({ x, y }) => ({ x, y, box: { x0: x - w / 2, y0: y - h / 2, x1: x + w / 2, y1: y + h / 2 } }))
      .find(({ box }) => box.x0 >= 0 && box.x1 <= W && box.y0 >= 0 && box.y1 <= H && !taken.some((b) => overlaps(b, box)));
    if (!spot) {
      node.remove();
      svg.querySelector(`g.weight[data-param="${label.param}"]`)?.classList.add('dropped');
      continue;
    }
    group.insertBefore(el('rect', {
      x: spot.box.x0, y: spot.box.y0 + 1, width: w, height: h - 2, rx: 3, class: 'wlabel-bg', 'data-param': label.param,
    }), node);
    node.setAttribute('x', spot.x);
    node.setAttribute('y', spot.y + LABEL_PX * 0.36); // the middle of the digits on the arrow
    taken.push(spot.box);
  }
  // The value of an arrow whose label was dropped, shown while it has the focus.
  const tip = el('text', { class: 'focus-tip', visibility: 'hidden' });
  svg.append(tip);
  const show = (event) => {
    const g = event.target.closest?.('g.weight.dropped');
    if (!g) return;
    const line = g.querySelector('line');
    const x = (Number(line.getAttribute('x1')) + Number(line.getAttribute('x2'))) / 2;
    const y = (Number(line.getAttribute('y1')) + Number(line.getAttribute('y2'))) / 2;
    tip.textContent = g.querySelector('title').textContent;
    tip.setAttribute('x', x);
    tip.setAttribute('y', y + 4);
    tip.setAttribute('visibility', 'visible');
  };
  svg.showTip = show;
  svg.hideTip = () => tip.setAttribute('visibility', 'hidden');
  if (!svg.dataset.tips) { // once per svg: the handlers call the latest drawing's functions
    svg.dataset.tips = 'on';
    svg.addEventListener('focusin', (event) => svg.showTip(event));
    svg.addEventListener('focusout', () => svg.hideTip());
  }
}
