// The loss per epoch: training (solid) and validation (dashed), on a log scale when the
// loss spans more than two orders of magnitude.

import { el, fmt } from './format.js';

const W = 420;
const H = 230;
const M = { left: 56, right: 14, top: 14, bottom: 34 };

export function drawChart(svg, history) {
  svg.replaceChildren();
  svg.setAttribute('viewBox', `0 0 ${W} ${H}`);
  const epochs = history.epoch ?? [];
  const series = [
    { key: 'loss', name: 'training', cls: 'train' },
    { key: 'val_loss', name: 'validation', cls: 'val' },
  ].filter((s) => history[s.key]?.length);
  svg.dataset.points = epochs.length;
  if (!epochs.length) {
    svg.append(el('text', { x: W / 2, y: H / 2, class: 'empty' }, 'press “one epoch” or “play” to draw the loss'));
    return;
  }
  const values = series.flatMap((s) => history[s.key]).filter((v) => v !== null && Number.isFinite(v));
  let lo = Math.min(...values);
  let hi = Math.max(...values);
  const log = lo > 0 && hi / lo > 100;
  const f = log ? Math.log10 : (v) => v;
  if (!log) { lo = Math.min(0, lo); }
  if (f(hi) === f(lo)) hi = log ? lo * 10 : lo + 1;
  const x0 = epochs[0];
  const x1 = Math.max(epochs[epochs.length - 1], x0 + 1);
  const sx = (e) => M.left + ((e - x0) / (x1 - x0)) * (W - M.left - M.right);
  const sy = (v) => H - M.bottom - ((f(v) - f(lo)) / (f(hi) - f(lo))) * (H - M.top - M.bottom);

  const axes = el('g', { class: 'axes' });
  axes.append(el('line', { x1: M.left, y1: H - M.bottom, x2: W - M.right, y2: H - M.bottom }));
  axes.append(el('line', { x1: M.left, y1: M.top, x2: M.left, y2: H - M.bottom }));
  for (let t = 0; t <= 4; t++) {
    const v = log ? 10 ** (f(lo) + (t / 4) * (f(hi) - f(lo))) : lo + (t / 4) * (hi - lo);
    axes.append(el('line', { x1: M.left, x2: W - M.right, y1: sy(v), y2: sy(v), class: 'grid' }));
    axes.append(el('text', { x: M.left - 6, y: sy(v) + 4, class: 'tick y' }, fmt(Number(v.toPrecision(3)))));
  }
  const step = Math.max(1, Math.ceil((x1 - x0) / 6));
  for (let e = x0; e <= x1; e += step) {
    axes.append(el('text', { x: sx(e), y: H - M.bottom + 16, class: 'tick x' }, e));
  }
  axes.append(el('text', { x: (W + M.left) / 2, y: H - 4, class: 'axis-name' }, `epoch${log ? ' (loss on a log scale)' : ''}`));
  svg.append(axes);

  for (const s of series) {
    const pts = epochs.map((e, n) => [e, history[s.key][n]]).filter(([, v]) => v !== null && Number.isFinite(v));
    svg.append(el('polyline', { points: pts.map(([e, v]) => `${sx(e)},${sy(v)}`).join(' '), class: `series ${s.cls}` }));
    const dots = el('g', { class: `dots ${s.cls}` });
    for (const [e, v] of pts) {
      dots.append(el('circle', { cx: sx(e), cy: sy(v), r: pts.length > 60 ? 1.5 : 3, class: `pt-${s.cls}` },
        el('title', {}, `epoch ${e}: ${s.name} loss ${fmt(v)}`)));
    }
    svg.append(dots);
  }
}
