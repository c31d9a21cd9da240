// Connection quality from WebRTC statistics of the audio we receive from the meeting.

const SAMPLE_INTERVAL_MS = 2000;

/** Thresholds follow common VoIP guidance: above ~1% loss, 300 ms RTT or 30 ms jitter, calls degrade. */
export function rate({ lossPercent, rttMs, jitterMs }) {
  if (lossPercent > 5 || rttMs > 500 || jitterMs > 60) return 'poor';
  if (lossPercent > 1 || rttMs > 300 || jitterMs > 30) return 'fair';
  return 'good';
}

const LABELS = {
  good: 'Good connection',
  fair: 'Fair connection: audio may break up',
  poor: 'Poor connection: audio may drop out',
};

export function qualityLabel(level) {
  return LABELS[level] ?? 'Checking connection…';
}

function readSample(report) {
  let inbound = null;
  let rttSeconds = null;
  let selectedPairId = null;
  const pairs = new Map();
  report.forEach((stat) => {
    if (stat.type === 'inbound-rtp' && (stat.kind ?? stat.mediaType) === 'audio') inbound = stat;
    if (stat.type === 'transport' && stat.selectedCandidatePairId) selectedPairId = stat.selectedCandidatePairId;
    if (stat.type === 'candidate-pair') pairs.set(stat.id, stat);
    if (stat.type === 'remote-inbound-rtp' && (stat.kind ?? stat.mediaType) === 'audio' && stat.roundTripTime != null) {
      rttSeconds = stat.roundTripTime;
    }
  });
  const pair = selectedPairId ? pairs.get(selectedPairId)
    : [...pairs.values()].find((p) => p.nominated && p.state === 'succeeded');
  if (pair?.currentRoundTripTime != null) rttSeconds = pair.currentRoundTripTime;
  if (!inbound) return null;
  return {
    received: inbound.packetsReceived ?? 0,
    lost: Math.max(0, inbound.packetsLost ?? 0),
    jitterMs: (inbound.jitter ?? 0) * 1000,
    rttMs: rttSeconds == null ? 0 : rttSeconds * 1000,
  };
}

/** Samples pc.getStats() every 2 s and reports {level, lossPercent, rttMs, jitterMs}. */
export class QualityMonitor {
  /**
   * @param {RTCPeerConnection} pc
   * @param {(q: {level: string, lossPercent: number, rttMs: number, jitterMs: number}) => void} onQuality
   */
  constructor(pc, onQuality) {
    this.pc = pc;
    this.onQuality = onQuality;
    this.previous = null;
    this.timer = setInterval(() => this.sample(), SAMPLE_INTERVAL_MS);
  }

  async sample() {
    let report;
    try {
      report = await this.pc.getStats();
    } catch {
      return; // the connection closed between ticks
    }
    const now = readSample(report);
    if (!now) return;
    const before = this.previous ?? { received: 0, lost: 0 };
    this.previous = now;
    // Loss over the last interval, not since the start, so the indicator recovers.
    const received = now.received - before.received;
    const lost = now.lost - before.lost;
    const expected = received + lost;
    if (expected <= 0 && before.received === 0) return; // nothing has arrived yet
    const lossPercent = expected > 0 ? (100 * lost) / expected : 0;
    const q = { lossPercent, rttMs: now.rttMs, jitterMs: now.jitterMs };
    this.onQuality({ ...q, level: rate(q) });
  }

  stop() {
    clearInterval(this.timer);
  }
}
