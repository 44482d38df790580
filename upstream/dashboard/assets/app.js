// The page set: a login form, then one view at a time (chosen by the URL's hash), refreshed every
// POLL_MS so that a relay going down shows without a reload.
import { apiGet, session, Unauthorized } from './api.js';
import { relaysView } from './relays.js';
import { hostsView } from './hosts.js';
import { seriesView } from './series.js';
import { storeView } from './store.js';
import { firmwareView } from './firmware.js';

const VIEWS = {
  relays: relaysView,
  hosts: hostsView,
  series: seriesView,
  store: storeView,
  firmware: firmwareView,
};
const POLL_MS = 2000;

const $ = (id) => document.getElementById(id);
let current = { name: '', view: undefined, timer: undefined, generation: 0 };

function viewName() {
  const name = /^#\/(\w+)/.exec(location.hash)?.[1];
  return name !== undefined && name in VIEWS ? name : 'relays';
}

function stop() {
  clearTimeout(current.timer);
  current.view?.unmount?.();
  current = { name: '', view: undefined, timer: undefined, generation: current.generation + 1 };
}

function showLogin(message = '') {
  stop();
  $('app').hidden = true;
  $('login').hidden = false;
  $('login-error').textContent = message;
  $('login-token').focus();
}

function showError(message) {
  $('error').textContent = message;
  $('error').hidden = message === '';
}

async function tick(generation) {
  try {
    await current.view.refresh();
    if (generation !== current.generation) return;
    showError('');
    $('updated').textContent = `updated ${new Date().toLocaleTimeString()}`;
  } catch (err) {
    if (err instanceof Unauthorized) {
      session.clear();
      return showLogin('The API token is no longer accepted: sign in again.');
    }
    if (generation === current.generation) showError(`Could not refresh: ${err.message}`);
  }
  if (generation === current.generation) current.timer = setTimeout(() => tick(generation), POLL_MS);
}

function show() {
  if (!session.token) return showLogin();
  $('login').hidden = true;
  $('app').hidden = false;
  const name = viewName();
  if (name === current.name) return;
  stop();
  for (const link of document.querySelectorAll('nav a'))
    link.toggleAttribute('aria-current', link.dataset.view === name);
  const root = $('view');
  root.replaceChildren();
  root.dataset.view = name;
  current.name = name;
  current.view = VIEWS[name](root);
  void tick(current.generation);
}

$('login-form').addEventListener('submit', async (event) => {
  event.preventDefault();
  const token = $('login-token').value.trim();
  try {
    await apiGet('stats', {}, token);
  } catch (err) {
    $('login-error').textContent =
      err instanceof Unauthorized ? 'That token was refused.' : `Could not reach the API: ${err.message}`;
    return;
  }
  session.set(token);
  $('login-token').value = '';
  show();
});

$('logout').addEventListener('click', () => {
  session.clear();
  showLogin();
});

window.addEventListener('hashchange', show);
show();
