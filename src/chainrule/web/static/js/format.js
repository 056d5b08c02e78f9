// Numbers and the seed's notation, written for people: 30096, 0.69904, 1e−05, w²₁₁, O₁₁.

const SUP = { 0: '⁰', 1: '¹', 2: '²', 3: '³', 4: '⁴', 5: '⁵', 6: '⁶', 7: '⁷', 8: '⁸', 9: '⁹', ',': '˒' };
const SUB = {
  0: '₀', 1: '₁', 2: '₂', 3: '₃', 4: '₄', 5: '₅', 6: '₆', 7: '₇', 8: '₈', 9: '₉', ',': '‚',
  i: 'ᵢ', j: 'ⱼ', k: 'ₖ', m: 'ₘ', n: 'ₙ',
};
const map = (text, table) => [...text].map((c) => table[c] ?? c).join('');

/** A number with six significant digits (as explain writes them) or `digits`; a real minus sign. */
export function fmt(v, digits = 6) {
  if (v === null || v === undefined) return '—';
  if (typeof v !== 'number') return String(v);
  if (!Number.isFinite(v)) return v > 0 ? '∞' : v < 0 ? '−∞' : 'NaN';
  if (v === 0) return '0';
  const a = Math.abs(v);
  let text = a >= 1e6 || a < 1e-4
    ? v.toExponential(digits - 1).replace(/\.?0+e/, 'e').replace('e+', 'e')
    : String(parseFloat(v.toPrecision(digits)));
  return text.replace(/-/g, '−');
}

/** Read back a number written by fmt (for tests and tooltips). */
export const unfmt = (text) => parseFloat(String(text).replace(/−/g, '-'));

/** The seed's notation in plain text → sub- and superscripts: w^2_11 → w²₁₁, O_11 → O₁₁. */
export function pretty(text) {
  return String(text)
    .replace(/(^|[^A-Za-z])([wδ])\^(\d+)_([\dijkmn]+(?:,\d+)?)/g, (m, pre, l, k, ij) => pre + l + map(k, SUP) + map(ij, SUB))
    .replace(/(^|[^A-Za-z])([A-Za-zŷΣ])_([\dijkmn]+(?:,\d+)?)(?![A-Za-z])/g, (m, pre, l, ij) => pre + l + map(ij, SUB));
}

/** The symbol of a weight or bias in the seed's notation: w^k_ij, b_kj (indices ≥ 10 get a comma). */
export function symbol(kind, k, i, j) {
  const pair = (a, b) => (a < 10 && b < 10 ? `${a}${b}` : `${a},${b}`);
  return kind === 'w' ? `w^${k}_${pair(i, j)}` : `b_${pair(k, j)}`;
}

/** Make an element: el('div', {class: 'x'}, 'text', child). Names in ns make SVG. */
export function el(tag, attrs = {}, ...children) {
  const svg = ['svg', 'g', 'line', 'path', 'circle', 'rect', 'text', 'tspan', 'polyline', 'title',
    'defs', 'marker', 'clipPath', 'image'].includes(tag);
  const node = svg ? document.createElementNS('http://www.w3.org/2000/svg', tag) : document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (value === null || value === undefined || value === false) continue;
    if (key.startsWith('on')) node.addEventListener(key.slice(2), value);
    else node.setAttribute(key, value === true ? '' : value);
  }
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === false) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}
