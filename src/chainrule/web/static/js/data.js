// The data: a table (the seed's students, a CSV) with the model's predictions, or, for two
// inputs and classes, the points over the decision regions the network draws.

import { el, fmt } from './format.js';

export const CLASS_COLOURS = ['#e07a1f', '#2f6fb5', '#3a9a5b', '#9b4dca', '#c43c5c', '#7a6a2f', '#1f9aa8', '#666'];
const S = 360;

const rgb = (hex) => [1, 3, 5].map((i) => parseInt(hex.slice(i, i + 2), 16));

/** A picture of an n × n grid over the plane, one pixel per cell (the browser smooths it):
 *  `colour(k)` gives cell k's [r, g, b]; the grid's rows run upwards, the pixels' downwards. */
export function gridImage(n, colour) {
  const canvas = document.createElement('canvas');
  canvas.width = n;
  canvas.height = n;
  const ctx = canvas.getContext('2d');
  const img = ctx.createImageData(n, n);
  for (let b = 0; b < n; b++) {
    for (let a = 0; a < n; a++) {
      const at = 4 * ((n - 1 - b) * n + a);
      colour(b * n + a).forEach((c, m) => { img.data[at + m] = c; });
      img.data[at + 3] = 255;
    }
  }
  ctx.putImageData(img, 0, 0);
  return canvas.toDataURL();
}

/** `rgb` faded towards white: `alpha` 0 is white, 1 the colour itself. */
const fade = (rgbColour, alpha) => rgbColour.map((c) => Math.round(255 + (c - 255) * alpha));

/** The decision regions: the colour of the class the network picks, stronger where it is surer. */
function regionImage(r, classes) {
  const chance = 1 / Math.max(2, classes);
  return gridImage(r.n, (k) => fade(rgb(CLASS_COLOURS[r.cls[k] % CLASS_COLOURS.length]),
    0.1 + 0.45 * ((r.p[k] - chance) / (1 - chance))));
}

/** A number's colour on a regression set: orange below 0, white at 0, blue above, full at
 *  ±`big`. */
export function valueColour(v, big) {
  const t = Math.max(-1, Math.min(1, (v ?? 0) / (big || 1)));
  return fade(rgb(t < 0 ? '#e07a1f' : '#2f6fb5'), Math.abs(t));
}

/** The network's predicted value over the plane. */
const valueImage = (r, big) => gridImage(r.n, (k) => fade(valueColour(r.value[k], big), 0.6));

export function drawData(box, view, current = [], next = []) {
  box.replaceChildren(view.kind === 'scatter' ? scatter(view, current, next) : table(view, current, next));
}

function table(view, current, next) {
  const head = el('tr', {}, el('th', {}, '#'), view.columns.map((c) => el('th', {}, c)));
  const body = view.rows.map((row, n) => el('tr', {
    class: current.includes(n) ? 'current' : next.includes(n) ? 'next' : null,
  }, el('td', {}, n + 1), row.map((v) => el('td', {}, typeof v === 'number' ? fmt(v) : v))));
  const more = view.total > view.rows.length ? el('p', { class: 'more' }, `first ${view.rows.length} of ${view.total} training rows`) : null;
  return el('div', {}, el('table', { class: 'rows' }, el('thead', {}, head), el('tbody', {}, body)), more);
}

function scatter(view, current, next) {
  const r = view.regions;
  const sx = (v) => ((v - r.x[0]) / (r.x[1] - r.x[0])) * S;
  const sy = (v) => S - ((v - r.y[0]) / (r.y[1] - r.y[0])) * S;
  const svg = el('svg', { viewBox: `0 0 ${S} ${S}`, class: 'scatter', 'data-kind': 'scatter' });
  const regression = view.task === 'regression';
  const big = regression ? Math.max(Math.abs(view.range[0]), Math.abs(view.range[1])) : 0;
  svg.append(el('image', {
    href: regression ? valueImage(r, big) : regionImage(r, view.classes.length), x: 0, y: 0, width: S, height: S,
    preserveAspectRatio: 'none', class: 'regions',
  }));
  const dots = el('g', { class: 'points' });
  view.points.forEach(([x, y, cls, val], n) => {
    const colour = regression ? `rgb(${valueColour(cls, big).join(',')})` : CLASS_COLOURS[cls % CLASS_COLOURS.length];
    dots.append(el('circle', {
      cx: sx(x), cy: sy(y), r: 3.6, class: val ? 'val' : 'train',
      fill: val && !regression ? '#fff' : colour, stroke: regression ? '#3b4658' : val ? colour : '#fff',
      'stroke-dasharray': regression && val ? '2 1.5' : null,
    }));
  });
  svg.append(dots);
  for (const n of current) {
    const [x, y] = view.points[n];
    svg.append(el('circle', { cx: sx(x), cy: sy(y), r: 8, class: 'ring' }));
  }
  const legend = regression ? el('div', { class: 'legend' },
    el('span', {}, el('i', { style: 'background:#e07a1f' }), `y below 0 (to ${fmt(view.range[0])})`),
    el('span', {}, el('i', { style: 'background:#2f6fb5' }), `above 0 (to ${fmt(view.range[1])})`),
    el('span', {}, el('i', { class: 'hollow' }), 'validation'),
    el('span', {}, 'shade: the network’s ŷ')) : el('div', { class: 'legend' },
    view.classes.map((c, k) => el('span', {}, el('i', { style: `background:${CLASS_COLOURS[k % CLASS_COLOURS.length]}` }), `class ${c}`)),
    el('span', {}, el('i', { class: 'hollow' }), 'validation'),
    el('span', {}, 'shade: the network’s decision'));
  return el('div', {}, svg, legend);
}
