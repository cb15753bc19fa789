/**
 * The floor of the cloud's own MQTT link, a peer beside `mosquitto_sub` in bench/lib/raw-ceiling.ts:
 * `CloudMqttClient` (cloud/mqtt/cloud-mqtt-client.ts) exactly as `anxin cloud` runs it — MQTT.js,
 * no Nagle, one message at a time, the PUBACKs of a turn in one write — with an `onMessage` that
 * only counts. What it costs per message is what any cloud built on that link pays before it
 * parses, judges or stores anything. Run as a child process:
 *
 *   node --import tsx bench/lib/cloud-link-floor.ts URL CLIENT_ID TOKEN EVENTS_MESSAGES
 *
 * It prints `subscribed` once its subscriptions are granted (what the bench waits for before it
 * starts the clock), and exits 0 once it has taken EVENTS_MESSAGES messages on `…/events`.
 */
import { CloudMqttClient } from '../../cloud/mqtt/cloud-mqtt-client.ts';
import { silentLogger } from '../../shared/log.ts';

const [url, clientId, token, total] = process.argv.slice(2);
if (!url || !clientId || !token || !total) {
  console.error('usage: cloud-link-floor.ts URL CLIENT_ID TOKEN EVENTS_MESSAGES');
  process.exit(2);
}
const expected = Number(total);
let taken = 0;
const link = new CloudMqttClient({
  url,
  clientId,
  token: () => token,
  logger: silentLogger,
  onMessage(topic) {
    if (!topic.endsWith('/events')) return undefined;
    taken += 1;
    if (taken === expected) setImmediate(() => void link.stop().then(() => process.exit(0)));
    return undefined;
  },
});
await link.start();
if (link.linkState === 'connected') process.stdout.write('subscribed\n');
else {
  console.error(`cloud-link-floor: not connected to ${url} (${link.linkState})`);
  process.exit(1);
}
