import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { InvalidIdError, TopicError } from '../../shared/errors.ts';
import { filters, GATE_TOPIC_KINDS, parseGateTopic, parseTopic, topics } from '../../shared/topics.ts';

describe('topic builders', () => {
  it('build every contract topic', () => {
    expect(topics.gateEvents('gate-3')).toBe('anxin/v1/gates/gate-3/events');
    expect(topics.gateAck('g1')).toBe('anxin/v1/gates/g1/ack');
    expect(topics.gateStatus('g1')).toBe('anxin/v1/gates/g1/status');
    expect(topics.gateAlarms('g1')).toBe('anxin/v1/gates/g1/alarms');
    expect(topics.gateCmd('g1')).toBe('anxin/v1/gates/g1/cmd');
    expect(topics.gateCmdResult('g1')).toBe('anxin/v1/gates/g1/cmd/result');
    expect(topics.gateSyncRequest('g1')).toBe('anxin/v1/gates/g1/sync/request');
    expect(topics.gateSync('g1')).toBe('anxin/v1/gates/g1/sync');
    expect(topics.compoundChanges('c-1')).toBe('anxin/v1/compounds/c-1/changes');
    expect(filters.allGates('events')).toBe('anxin/v1/gates/+/events');
  });

  it('refuse wildcards, slashes and empty or long ids', () => {
    for (const bad of ['', '+', '#', 'a/b', 'G1', 'a b', '$SYS', 'x'.repeat(65)]) {
      expect(() => topics.gateEvents(bad)).toThrow(InvalidIdError);
      expect(() => topics.compoundChanges(bad)).toThrow(InvalidIdError);
    }
  });

  it('refuse every character outside the id alphabet (property)', () => {
    const outside = fc.string({ unit: 'grapheme', minLength: 1, maxLength: 1 }).filter((c) => !/^[a-z0-9-]$/.test(c));
    fc.assert(
      fc.property(
        fc.stringMatching(/^[a-z0-9-]{0,20}$/),
        outside,
        fc.stringMatching(/^[a-z0-9-]{0,20}$/),
        (a, c, b) => {
          expect(() => topics.gateEvents(a + c + b)).toThrow(InvalidIdError);
        },
      ),
    );
  });
});

describe('topic parsers', () => {
  it('round-trip every gate topic kind', () => {
    for (const kind of GATE_TOPIC_KINDS) {
      expect(parseGateTopic(`anxin/v1/gates/g-7/${kind}`)).toEqual({ gateId: 'g-7', kind });
    }
    expect(parseTopic('anxin/v1/compounds/c1/changes')).toEqual({
      scope: 'compound',
      compoundId: 'c1',
      kind: 'changes',
    });
  });

  it('refuse topics outside the contract with a typed error', () => {
    for (const bad of [
      'anxin/v2/gates/g1/events',
      'anxin/v1/gates/G1/events',
      'anxin/v1/gates/g1/eventsx',
      'anxin/v1/gates/+/events',
      'anxin/v1/gates/g1',
      'anxin/v1/compounds/c1/events',
      'anxin/v1/other/g1/events',
      '$SYS/broker/uptime',
    ]) {
      expect(() => parseTopic(bad)).toThrow(TopicError);
    }
    expect(() => parseGateTopic('anxin/v1/compounds/c1/changes')).toThrow(TopicError);
  });
});
