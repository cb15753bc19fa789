// The phone's pass (docs/passes.md, "Device passes"): a non-extractable ECDSA P-256 key made here
// by WebCrypto and kept in IndexedDB, a certificate from the cloud binding it to the resident, and
// a new QR every `rotateSeconds` signed with that key over certificate ‖ time. The time is the
// cloud's (the offset measured when the certificate was fetched), so a phone with a wrong clock
// still shows frames the gates accept. Nothing here needs the network once enrolled.
import { create } from '/me/pass/assets/qr-encoder.js';

// The resident side's session (cloud/me/assets/me-api.js), not the staff pages'.
const SESSION_KEY = 'anxin.me.session';
const DB_NAME = 'anxin-device-pass';
const STORE = 'keys';
const QUIET_ZONE = 4;
const ALPHABET = '0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ $%*+-./:';

const $ = (id) => document.getElementById(id);

function token() {
  try {
    return JSON.parse(sessionStorage.getItem(SESSION_KEY) ?? 'null')?.token ?? null;
  } catch {
    return null;
  }
}

async function api(method, path, body) {
  const headers = { authorization: `Bearer ${token()}` };
  if (body !== undefined) headers['content-type'] = 'application/json';
  const res = await fetch(`/api/v1/me/pass${path}`, {
    method,
    headers,
    ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
  });
  const text = await res.text();
  const json = text ? JSON.parse(text) : null;
  if (!res.ok) throw Object.assign(new Error(json?.error?.message ?? res.statusText), { status: res.status, json });
  return json;
}

// ---- the key, kept in IndexedDB (a CryptoKey is stored as itself; its private half never leaves) ----

function openDb() {
  return new Promise((resolve, reject) => {
    const request = indexedDB.open(DB_NAME, 1);
    request.onupgradeneeded = () => request.result.createObjectStore(STORE);
    request.onsuccess = () => resolve(request.result);
    request.onerror = () => reject(request.error);
  });
}

async function keyStore(mode, work) {
  const db = await openDb();
  return new Promise((resolve, reject) => {
    const tx = db.transaction(STORE, mode);
    const request = work(tx.objectStore(STORE));
    tx.oncomplete = () => resolve(request.result);
    tx.onerror = () => reject(tx.error);
  });
}

const loadKey = (personId) => keyStore('readonly', (s) => s.get(personId));
const saveKey = (personId, pair) => keyStore('readwrite', (s) => s.put(pair, personId));
const dropKey = (personId) => keyStore('readwrite', (s) => s.delete(personId));

async function rawPublicKey(pair) {
  return new Uint8Array(await crypto.subtle.exportKey('raw', pair.publicKey));
}

/** Which phone holds a pass: the first 16 hex digits of SHA-256 of the compressed key (as the cloud says). */
async function keyId(raw) {
  const compressed = new Uint8Array(33);
  compressed[0] = 2 + (raw[64] & 1);
  compressed.set(raw.subarray(1, 33), 1);
  const digest = new Uint8Array(await crypto.subtle.digest('SHA-256', compressed));
  return [...digest.subarray(0, 8)].map((b) => b.toString(16).padStart(2, '0')).join('');
}

function base64url(bytes) {
  return btoa(String.fromCharCode(...bytes))
    .replaceAll('+', '-')
    .replaceAll('/', '_')
    .replace(/=+$/, '');
}

function fromBase64url(text) {
  const binary = atob(text.replaceAll('-', '+').replaceAll('_', '/'));
  return Uint8Array.from(binary, (c) => c.charCodeAt(0));
}

/** RFC 9285, as shared/base45.ts. */
export function base45(bytes) {
  let out = '';
  for (let i = 0; i + 1 < bytes.length; i += 2) {
    let n = bytes[i] * 256 + bytes[i + 1];
    const c = n % 45;
    n = (n - c) / 45;
    const d = n % 45;
    out += ALPHABET[c] + ALPHABET[d] + ALPHABET[(n - d) / 45];
  }
  if (bytes.length % 2 === 1) {
    const n = bytes[bytes.length - 1];
    out += ALPHABET[n % 45] + ALPHABET[Math.floor(n / 45)];
  }
  return out;
}

/** One frame: `AX2:` + base45(certificate ‖ at ‖ ECDSA(certificate ‖ at)). */
async function frameText(certificate, atSeconds, privateKey) {
  const signed = new Uint8Array(certificate.length + 4);
  signed.set(certificate);
  new DataView(signed.buffer).setUint32(certificate.length, atSeconds);
  const signature = new Uint8Array(await crypto.subtle.sign({ name: 'ECDSA', hash: 'SHA-256' }, privateKey, signed));
  const all = new Uint8Array(signed.length + signature.length);
  all.set(signed);
  all.set(signature, signed.length);
  return `AX2:${base45(all)}`;
}

/** Draws the symbol on whole device pixels (no blurred module edges), about `cssWidth` wide. */
function draw(canvas, text) {
  const qr = create([{ data: text, mode: 'alphanumeric' }], { errorCorrectionLevel: 'Q' });
  const size = qr.modules.size;
  const total = size + 2 * QUIET_ZONE;
  const ratio = window.devicePixelRatio || 1;
  const cssWidth = Math.min(canvas.parentElement.clientWidth, 320);
  const px = Math.max(1, Math.floor((cssWidth * ratio) / total));
  canvas.width = canvas.height = total * px;
  canvas.style.width = canvas.style.height = `${(total * px) / ratio}px`;
  const g = canvas.getContext('2d');
  g.fillStyle = '#fff';
  g.fillRect(0, 0, canvas.width, canvas.height);
  g.fillStyle = '#000';
  for (let row = 0; row < size; row++) {
    for (let col = 0; col < size; col++) {
      if (qr.modules.get(row, col)) g.fillRect((col + QUIET_ZONE) * px, (row + QUIET_ZONE) * px, px, px);
    }
  }
  canvas.dataset.version = String(qr.version);
  canvas.dataset.modulePx = String(px);
}

// ---- the panel ----

const state = { view: null, pair: null, offsetMs: 0, lastAt: 0, timer: 0, tick: 0, medium: null, personId: null };

function show(which) {
  for (const id of ['pass-live', 'pass-printed', 'pass-enrol', 'pass-other-phone', 'pass-signed-out']) {
    $(id).hidden = id !== which;
  }
}

function say(zh, en) {
  $('pass-message').textContent = zh ? `${zh} ${en}` : '';
}

async function renderFrame() {
  const { view, pair } = state;
  const now = Date.now() + state.offsetMs;
  // Strictly increasing: a gate refuses a frame not newer than one it let through.
  const at = Math.max(Math.floor(now / 1000), state.lastAt + 1);
  state.lastAt = at;
  const text = await frameText(fromBase64url(view.certificate), at, pair.privateKey);
  const canvas = $('pass-qr');
  draw(canvas, text);
  canvas.dataset.frameAt = String(at);
  canvas.dataset.frame = text;
  state.nextAt = Date.now() + view.rotateSeconds * 1000;
}

function countdown() {
  const left = Math.max(0, Math.ceil((state.nextAt - Date.now()) / 1000));
  $('pass-countdown').textContent = `${left} 秒后自动更新 · refreshes in ${left} s`;
}

function stopLive() {
  clearInterval(state.timer);
  clearInterval(state.tick);
}

async function startLive() {
  stopLive();
  show('pass-live');
  const until = new Date(state.view.expiresAt);
  $('pass-expires').textContent = `有效期至 Valid until ${until.toLocaleDateString('zh-CN')}`;
  await renderFrame();
  countdown();
  state.timer = setInterval(() => void renderFrame().catch(fail), state.view.rotateSeconds * 1000);
  state.tick = setInterval(countdown, 1000);
}

function fail(error) {
  if (error?.status === 401) {
    stopLive();
    show('pass-signed-out');
    return;
  }
  say('出错了，请稍后重试。', `Something went wrong: ${error?.message ?? error}`);
}

async function load() {
  if (!token()) return show('pass-signed-out');
  const started = Date.now();
  const answer = await api('GET', '/device');
  // The cloud's clock, less half the round trip: what frames are timed by.
  state.offsetMs = answer.serverTime - Math.round((started + Date.now()) / 2);
  state.medium = answer.medium;
  state.view = answer.devicePass;
  state.personId = answer.devicePass?.personId ?? null;
  const personKey = state.personId ?? 'me';
  state.pair = (await loadKey(personKey)) ?? null;
  if (answer.medium !== 'phone') return show('pass-printed');
  if (!state.view) return show('pass-enrol');
  if (!state.pair || (await keyId(await rawPublicKey(state.pair))) !== state.view.deviceKeyId) {
    return show('pass-other-phone');
  }
  await startLive();
}

async function enrol() {
  say('', '');
  const pair = await crypto.subtle.generateKey({ name: 'ECDSA', namedCurve: 'P-256' }, false, ['sign', 'verify']);
  const started = Date.now();
  const view = await api('POST', '/device', { publicKey: base64url(await rawPublicKey(pair)), label: 'phone' });
  state.offsetMs = view.serverTime - Math.round((started + Date.now()) / 2);
  await saveKey(view.personId, pair);
  state.view = view;
  state.pair = pair;
  state.lastAt = 0;
  await startLive();
}

async function remove() {
  stopLive();
  await api('DELETE', '/device').catch((error) => {
    if (error?.status !== 404) throw error;
  });
  if (state.view) await dropKey(state.view.personId);
  state.view = null;
  show('pass-enrol');
}

for (const id of ['pass-enrol-button', 'pass-move-button']) $(id).addEventListener('click', () => enrol().catch(fail));
$('pass-remove-button').addEventListener('click', () => remove().catch(fail));
$('pass-large').addEventListener('change', (e) => document.body.classList.toggle('large', e.target.checked));
document.addEventListener('visibilitychange', () => {
  if (document.visibilityState === 'visible' && state.view && state.pair) void startLive().catch(fail);
  else stopLive();
});
load().catch(fail);
