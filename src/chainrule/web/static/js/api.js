// The playground's JSON endpoints; a 4xx answer becomes an Error with the server's message.

async function call(method, path, body, headers = {}) {
  const response = await fetch(path, { method, body, headers });
  let data = null;
  try { data = await response.json(); } catch { /* not JSON */ }
  if (!response.ok) throw new Error(data?.error ?? `${method} ${path} failed (${response.status})`);
  return data;
}

export const get = (path) => call('GET', path);
export const post = (path, json) => call('POST', path, json === undefined ? undefined : JSON.stringify(json),
  { 'Content-Type': 'application/json' });
export const upload = (file, target, features) => call('POST',
  `/api/upload?name=${encodeURIComponent(file.name)}${target ? `&target=${encodeURIComponent(target)}` : ''}` +
  `${features ? `&features=${encodeURIComponent(JSON.stringify(features))}` : ''}`,
  file, { 'Content-Type': 'text/csv' });
