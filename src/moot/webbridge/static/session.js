// One meeting leg: the WebSocket signalling channel and the RTCPeerConnection behind it.

const ICE_GATHERING_CAP_MS = 5000;
const PING_INTERVAL_MS = 10000;
// The server answers every ping; this long without hearing anything means the link is dead.
const SILENCE_LIMIT_MS = 30000;
const LEAVE_WAIT_MS = 2000;

/**
 * The RTCPeerConnection configuration. ICE servers are empty for now; when the server starts
 * handing out STUN/TURN servers, pass that list here (MeetingSession's `iceServers` option).
 */
export function rtcConfiguration(iceServers = []) {
  return { iceServers, bundlePolicy: 'max-bundle' };
}

export function defaultSocketUrl() {
  const scheme = location.protocol === 'https:' ? 'wss:' : 'ws:';
  return `${scheme}//${location.host}/ws`;
}

/** A join that did not succeed: `code` is a protocol error code, "network" or "connectionLost". */
export class JoinError extends Error {
  constructor(code, message = '', { fatal = false, retryAfter = null } = {}) {
    super(message || code);
    this.code = code;
    this.fatal = fatal;
    this.retryAfter = retryAfter;
  }
}

/** Resolves once every local candidate is in the SDP, or after the cap (we send what we have). */
function waitForIceGathering(pc, capMs) {
  if (pc.iceGatheringState === 'complete') return Promise.resolve();
  return new Promise((resolve) => {
    const done = () => {
      clearTimeout(timer);
      pc.removeEventListener('icegatheringstatechange', check);
      resolve();
    };
    const check = () => { if (pc.iceGatheringState === 'complete') done(); };
    const timer = setTimeout(done, capMs);
    pc.addEventListener('icegatheringstatechange', check);
  });
}

/**
 * Events (CustomEvent, data in `detail`): track {stream, track}, participants {participants},
 * speaker {participantId}, hostMute {audio}, notice {text, seconds}, ended {reason}, error {code, message, fatal},
 * lost {} (socket closed or went silent without an `ended`), connectionstate {state}.
 */
export class MeetingSession extends EventTarget {
  constructor({ iceServers = [], socketUrl = defaultSocketUrl() } = {}) {
    super();
    this.iceServers = iceServers;
    this.socketUrl = socketUrl;
    /** @type {RTCPeerConnection|null} */ this.pc = null;
    /** @type {WebSocket|null} */ this.ws = null;
    this.audioSender = null;
    this.videoSender = null;
    this.pendingJoin = null;
    this.joined = false;
    this.finished = false;
    this.pingTimer = 0;
    this.lastHeard = 0;
  }

  emit(type, detail = {}) {
    this.dispatchEvent(new CustomEvent(type, { detail }));
  }

  /**
   * Builds the offer, sends `join` and resolves with the `joined` message; rejects with JoinError
   * (the session is closed by then).
   */
  async join({ meetingId, passcode, secret, name, audioMuted, videoMuted, audioTrack, videoTrack, withVideo }) {
    try {
      const socketReady = this.openSocket();
      socketReady.catch(() => {}); // observed below; avoid an unhandled rejection meanwhile
      const offerSdp = await this.createOffer(audioTrack, videoTrack, withVideo);
      await socketReady;
      const joined = new Promise((resolve, reject) => { this.pendingJoin = { resolve, reject }; });
      this.send({
        type: 'join', meetingId, passcode: passcode || null, secret: secret || null, name,
        audioMuted: Boolean(audioMuted), videoMuted: Boolean(videoMuted), sdp: offerSdp,
      });
      const message = await joined;
      this.joined = true;
      return message;
    } catch (error) {
      this.close();
      if (error instanceof JoinError) throw error;
      throw new JoinError('setupFailed', String(error?.message ?? error));
    }
  }

  async createOffer(audioTrack, videoTrack, withVideo) {
    const pc = new RTCPeerConnection(rtcConfiguration(this.iceServers));
    this.pc = pc;
    const localStream = new MediaStream([audioTrack, videoTrack].filter(Boolean));
    pc.addEventListener('track', (event) => {
      this.emit('track', { track: event.track, stream: event.streams[0] ?? new MediaStream([event.track]) });
    });
    pc.addEventListener('connectionstatechange', () => this.emit('connectionstate', { state: pc.connectionState }));
    // Audio is always sendrecv (the server requires it), even listen-only: the track can come later.
    this.audioSender = pc.addTransceiver(audioTrack ?? 'audio', { direction: 'sendrecv', streams: [localStream] }).sender;
    // Video is always sendrecv: the meeting's composed picture comes back on it whether or
    // not we have a camera; a track-less sender lets the user start the camera later with
    // replaceTrack instead of renegotiating.
    void withVideo;
    this.videoSender = pc.addTransceiver(videoTrack ?? 'video', { direction: 'sendrecv', streams: [localStream] }).sender;
    const offer = await pc.createOffer();
    await pc.setLocalDescription(offer);
    await waitForIceGathering(pc, ICE_GATHERING_CAP_MS);
    return pc.localDescription.sdp;
  }

  openSocket() {
    return new Promise((resolve, reject) => {
      let ws;
      try {
        ws = new WebSocket(this.socketUrl);
      } catch {
        reject(new JoinError('network'));
        return;
      }
      this.ws = ws;
      ws.addEventListener('open', () => {
        this.lastHeard = Date.now();
        this.pingTimer = setInterval(() => this.keepAlive(), PING_INTERVAL_MS);
        resolve();
      });
      ws.addEventListener('message', (event) => this.onMessage(event.data));
      ws.addEventListener('close', () => {
        reject(new JoinError('network')); // no-op once open
        this.onSocketClosed();
      });
    });
  }

  keepAlive() {
    if (Date.now() - this.lastHeard > SILENCE_LIMIT_MS) {
      this.ws?.close();
      return;
    }
    this.send({ type: 'ping' });
  }

  send(message) {
    if (this.ws?.readyState === WebSocket.OPEN) this.ws.send(JSON.stringify(message));
  }

  async onMessage(raw) {
    this.lastHeard = Date.now();
    let message;
    try {
      message = JSON.parse(raw);
    } catch {
      return; // the server only sends JSON; ignore anything else rather than crash
    }
    switch (message.type) {
      case 'joined': return this.onJoined(message);
      case 'error': return this.onError(message);
      case 'participants': return this.emit('participants', { participants: message.participants ?? [] });
      case 'speaker': return this.emit('speaker', { participantId: message.participantId ?? null });
      case 'hostMute': return this.emit('hostMute', { audio: Boolean(message.audio) });
      case 'notice': return this.emit('notice', { text: String(message.text ?? ''), seconds: message.seconds ?? null });
      case 'ended':
        this.finished = true;
        return this.emit('ended', { reason: message.reason ?? '' });
      case 'pong':
      default:
        return undefined;
    }
  }

  async onJoined(message) {
    const pending = this.pendingJoin;
    if (!pending) return;
    try {
      await this.pc.setRemoteDescription({ type: 'answer', sdp: message.sdp });
    } catch (error) {
      this.pendingJoin = null;
      pending.reject(new JoinError('badSdp', String(error?.message ?? error)));
      return;
    }
    this.pendingJoin = null;
    pending.resolve(message);
  }

  onError(message) {
    const error = new JoinError(message.code ?? 'unknown', message.message ?? '', {
      fatal: Boolean(message.fatal), retryAfter: message.retryAfter ?? null,
    });
    if (this.pendingJoin) {
      const pending = this.pendingJoin;
      this.pendingJoin = null;
      pending.reject(error);
      return;
    }
    if (error.fatal) this.finished = true;
    this.emit('error', { code: error.code, message: error.message, fatal: error.fatal });
  }

  onSocketClosed() {
    clearInterval(this.pingTimer);
    if (this.pendingJoin) {
      const pending = this.pendingJoin;
      this.pendingJoin = null;
      pending.reject(new JoinError('network'));
      return;
    }
    if (this.joined && !this.finished) {
      this.finished = true;
      this.emit('lost');
    }
  }

  setMuted(audio, video) {
    this.send({ type: 'mute', audio: Boolean(audio), video: Boolean(video) });
  }

  /** Puts a (new) microphone track on the audio sender (e.g. after a late permission grant). */
  async setMicTrack(track) {
    if (!this.audioSender) return false;
    await this.audioSender.replaceTrack(track);
    return true;
  }

  /** Puts a (new) camera track on the video sender; false when the offer had no video. */
  async setCameraTrack(track) {
    if (!this.videoSender) return false;
    await this.videoSender.replaceTrack(track);
    return true;
  }

  /** Tells the server our video is now our screen (`on`) or the camera again. */
  setSharing(on) {
    this.send({ type: 'share', on: Boolean(on) });
  }

  /** Sends `leave` and waits briefly for the server's `ended`, then closes everything. */
  async leave() {
    if (this.ws?.readyState === WebSocket.OPEN && !this.finished) {
      this.finished = true;
      const ended = new Promise((resolve) => {
        this.addEventListener('ended', resolve, { once: true });
        this.ws.addEventListener('close', resolve, { once: true });
        setTimeout(resolve, LEAVE_WAIT_MS);
      });
      this.send({ type: 'leave' });
      await ended;
    }
    this.close();
  }

  close() {
    this.finished = true;
    clearInterval(this.pingTimer);
    if (this.ws && this.ws.readyState <= WebSocket.OPEN) this.ws.close(1000);
    if (this.pc && this.pc.signalingState !== 'closed') this.pc.close();
  }
}
