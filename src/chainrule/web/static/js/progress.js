// While a long request runs (an epoch over a big table), show how far the server has got.
// The server answers /api/progress between the epoch's slices of work (app.py).

import * as api from './api.js';

/** `request` (a promise) as it settles; meanwhile, every `every` ms, the epoch's progress
 * in `element` ("epoch 3: row 41,200 of 112,000 …"), with the row in `data-progress`. */
export async function watch(request, element, every = 300) {
  let done = false;
  const timer = setInterval(async () => {
    try {
      const p = await api.get('/api/progress');
      if (done || !p.running) return;
      element.textContent = `epoch ${p.epoch}: row ${p.row.toLocaleString('en')} of ${p.rows.toLocaleString('en')} …`;
      element.dataset.progress = p.row;
    } catch { /* the request's own answer says what went wrong */ }
  }, every);
  try {
    return await request;
  } finally {
    done = true;
    clearInterval(timer);
    delete element.dataset.progress;
  }
}
