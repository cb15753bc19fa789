// New-alarm alerts on the guard console: a sound (mutable, the choice kept in localStorage), an
// optional desktop notification, and wall mode (readable from 2 m).
import { clock, el } from './format.js';
import { ALARM_LABELS, labelOf } from './labels.js';
import { $, gateName } from './console-common.js';

const prefs = {
  get: (key, fallback) => {
    try {
      return JSON.parse(localStorage.getItem(`anxin.console.${key}`) ?? JSON.stringify(fallback));
    } catch {
      return fallback;
    }
  },
  set: (key, value) => localStorage.setItem(`anxin.console.${key}`, JSON.stringify(value)),
};
let soundOn = prefs.get('sound', true);
let notifyOn = prefs.get('notify', false);
let audio = null;

export function renderToggles() {
  const sound = $('sound-toggle');
  sound.setAttribute('aria-pressed', String(soundOn));
  sound.replaceChildren(...(soundOn ? ['声音开 ', el('small', {}, 'Sound on')] : ['静音 ', el('small', {}, 'Muted')]));
  const notify = $('notify-toggle');
  const allowed = 'Notification' in window && Notification.permission === 'granted';
  notify.setAttribute('aria-pressed', String(notifyOn && allowed));
  notify.hidden = !('Notification' in window);
  const wall = document.body.classList.contains('wall');
  $('wall-toggle').setAttribute('aria-pressed', String(wall));
}

/** Two short tones through Web Audio (no sound file to load). */
function ring() {
  if (!soundOn) return;
  const button = $('sound-toggle');
  button.dataset.played = String(Number(button.dataset.played) + 1);
  try {
    audio ??= new AudioContext();
    audio.resume().catch(() => undefined);
    for (const at of [0, 0.35]) {
      const osc = audio.createOscillator();
      const gain = audio.createGain();
      osc.frequency.value = 880;
      gain.gain.setValueAtTime(0.25, audio.currentTime + at);
      gain.gain.exponentialRampToValueAtTime(0.001, audio.currentTime + at + 0.3);
      osc.connect(gain).connect(audio.destination);
      osc.start(audio.currentTime + at);
      osc.stop(audio.currentTime + at + 0.3);
    }
  } catch (err) {
    console.warn('alarm sound not played', err);
  }
}

export function announce(alarms) {
  ring();
  if (notifyOn && 'Notification' in window && Notification.permission === 'granted') {
    for (const alarm of alarms.slice(0, 3)) {
      const [zh, en] = labelOf(ALARM_LABELS, alarm.kind);
      new Notification(`告警 ${zh} · ${en}`, {
        body: `${gateName(alarm.gateId)} · ${clock(alarm.ts)}${alarm.detail ? ` · ${alarm.detail}` : ''}`,
        tag: `anxin-alarm-${alarm.id}`,
      });
    }
  }
}

$('sound-toggle').addEventListener('click', () => {
  soundOn = !soundOn;
  prefs.set('sound', soundOn);
  // The click is the user gesture browsers want before audio may play.
  if (soundOn) {
    audio ??= new AudioContext();
    audio.resume().catch(() => undefined);
  }
  renderToggles();
});
$('notify-toggle').addEventListener('click', async () => {
  if (!notifyOn && Notification.permission !== 'granted') {
    const answer = await Notification.requestPermission().catch(() => 'denied');
    if (answer !== 'granted') {
      notifyOn = false;
      prefs.set('notify', false);
      renderToggles();
      return;
    }
  }
  notifyOn = !notifyOn;
  prefs.set('notify', notifyOn);
  renderToggles();
});
$('wall-toggle').addEventListener('click', () => {
  const wall = !document.body.classList.contains('wall');
  document.body.classList.toggle('wall', wall);
  prefs.set('wall', wall);
  renderToggles();
});
if (prefs.get('wall', false) || new URLSearchParams(location.search).get('wall') === '1') {
  document.body.classList.add('wall');
}
