// The operator API, same origin, with the token kept in sessionStorage (never in the URL).
const KEY = 'owl.apiToken';

export class Unauthorized extends Error {
  constructor() {
    super('the API token was refused');
  }
}

export const session = {
  get token() {
    return sessionStorage.getItem(KEY);
  },
  set(token) {
    sessionStorage.setItem(KEY, token);
  },
  clear() {
    sessionStorage.removeItem(KEY);
  },
};

/** GET /api/v1/<path>?<params>; throws Unauthorized on 401, an Error with the API's code otherwise. */
export async function apiGet(path, params = {}, token = session.token) {
  const url = new URL(`/api/v1/${path}`, location.origin);
  for (const [key, value] of Object.entries(params))
    if (value !== undefined && value !== null && value !== '') url.searchParams.set(key, String(value));
  const res = await fetch(url, {
    headers: { authorization: `Bearer ${token}`, accept: 'application/json' },
    cache: 'no-store',
  });
  if (res.status === 401) throw new Unauthorized();
  const body = await res.json();
  if (!res.ok) throw new Error(`${body.code ?? res.status}: ${body.message ?? res.statusText}`);
  return body;
}
