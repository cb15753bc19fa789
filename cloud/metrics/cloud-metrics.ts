/** The cloud's metrics, one place for their names (served by `GET /metrics`). */
import { MetricsRegistry } from './metrics-registry.ts';

export function createCloudMetrics(registry = new MetricsRegistry()) {
  return {
    registry,
    ingestEvents: registry.counter(
      'anxin_ingest_events_total',
      'Entry events received by outcome (stored: new; duplicate: replay of a stored (gateId, seq)).',
    ),
    ingestMessages: registry.counter('anxin_ingest_messages_total', 'MQTT messages received by topic kind.'),
    ingestRejects: registry.counter('anxin_ingest_rejects_total', 'Messages or events rejected at ingest, by reason.'),
    ingestQueueDepth: registry.gauge('anxin_ingest_queue_depth', 'Events waiting for the next batch insert.'),
    ingestLagSeconds: registry.gauge(
      'anxin_ingest_lag_seconds',
      'Age of the oldest event waiting to be stored (0 when the queue is empty).',
    ),
    ingestBackpressure: registry.counter(
      'anxin_ingest_backpressure_total',
      'Times ingest held back the MQTT connection because its queue was full.',
    ),
    ingestBatchSeconds: registry.histogram(
      'anxin_ingest_batch_seconds',
      'Duration of one batch insert transaction.',
      [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1],
    ),
    ingestBatchSize: registry.histogram(
      'anxin_ingest_batch_size',
      'Events per batch insert.',
      [1, 5, 10, 50, 100, 500, 1000, 2000],
    ),
    mqttRejects: registry.counter(
      'anxin_mqtt_rejects_total',
      'Non-event MQTT messages rejected (status, alarms, cmd results, sync requests), by kind and reason.',
    ),
    mqttHoldsOverCap: registry.counter(
      'anxin_mqtt_holds_over_cap_total',
      "Ingest holds that outlasted the cap after which the MQTT keepalive judges the cloud's link again.",
    ),
    mqttPubacksWithheld: registry.counter(
      'anxin_mqtt_pubacks_withheld_total',
      'Held messages sent no PUBACK because their MQTT link ended during the hold (the gates resend them).',
    ),
    acksPublished: registry.counter('anxin_ingest_acks_total', 'Cumulative acks published to gates.'),
    gateJournalDepth: registry.gauge('anxin_gate_journal_depth', 'Events in a gate journal not yet acknowledged.'),
    gateOnline: registry.gauge('anxin_gate_online', '1 when the gate last reported online.'),
    alarms: registry.counter('anxin_alarms_total', 'Alarms received by kind.'),
    changesPublished: registry.counter('anxin_sync_changes_published_total', 'Registry changes published to gates.'),
    syncRequests: registry.counter('anxin_sync_requests_total', 'Sync requests answered, by answer (delta|snapshot).'),
    httpDuration: registry.histogram(
      'anxin_http_request_duration_seconds',
      'HTTP request duration by method, route and status.',
      [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
    ),
    liveClients: registry.gauge('anxin_live_clients', 'Open /live (Server-Sent Events) streams.'),
  };
}

export type CloudMetrics = ReturnType<typeof createCloudMetrics>;
