// Local microphone and camera: acquiring, switching, releasing, and a level meter.

const CAMERA_SHAPE = { width: { ideal: 1280 }, height: { ideal: 720 }, frameRate: { ideal: 30 } };

function constraintFor(deviceId, extra = {}) {
  return deviceId ? { ...extra, deviceId: { exact: deviceId } } : (Object.keys(extra).length ? extra : true);
}

/** Holds at most one microphone track and one camera track, so switching never leaks a device. */
export class LocalMedia {
  constructor() {
    /** @type {MediaStreamTrack|null} */ this.audioTrack = null;
    /** @type {MediaStreamTrack|null} */ this.videoTrack = null;
    this.micId = '';
    this.cameraId = '';
  }

  get hasMediaDevices() {
    return Boolean(navigator.mediaDevices?.getUserMedia);
  }

  /** Starts (or switches to) a microphone; throws the getUserMedia error. */
  async startMic(deviceId = this.micId) {
    const stream = await navigator.mediaDevices.getUserMedia({
      audio: constraintFor(deviceId, { echoCancellation: true, noiseSuppression: true, autoGainControl: true }),
    });
    const track = stream.getAudioTracks()[0];
    this.stopMic();
    this.audioTrack = track;
    this.micId = track.getSettings().deviceId || deviceId || '';
    return track;
  }

  /** Starts (or switches to) a camera; throws the getUserMedia error. */
  async startCamera(deviceId = this.cameraId) {
    const stream = await navigator.mediaDevices.getUserMedia({ video: constraintFor(deviceId, CAMERA_SHAPE) });
    const track = stream.getVideoTracks()[0];
    this.stopCamera();
    this.videoTrack = track;
    this.cameraId = track.getSettings().deviceId || deviceId || '';
    return track;
  }

  stopMic() {
    this.audioTrack?.stop();
    this.audioTrack = null;
  }

  stopCamera() {
    this.videoTrack?.stop();
    this.videoTrack = null;
  }

  stopAll() {
    this.stopMic();
    this.stopCamera();
  }

  /** A stream holding only the camera, for <video> previews (null without a camera). */
  cameraStream() {
    return this.videoTrack ? new MediaStream([this.videoTrack]) : null;
  }

  /** Whether the device has any camera at all (works before permission is granted). */
  async hasCamera() {
    if (!navigator.mediaDevices?.enumerateDevices) return false;
    const devices = await navigator.mediaDevices.enumerateDevices();
    return devices.some((d) => d.kind === 'videoinput');
  }

  /** Lists inputs; labels are only filled in once the user has granted access. */
  async listDevices() {
    if (!navigator.mediaDevices?.enumerateDevices) return { mics: [], cameras: [] };
    const devices = await navigator.mediaDevices.enumerateDevices();
    const pick = (kind, fallback) => devices
      .filter((d) => d.kind === kind && d.deviceId)
      .map((d, i) => ({ id: d.deviceId, label: d.label || `${fallback} ${i + 1}` }));
    return {
      mics: pick('audioinput', 'Microphone'),
      cameras: pick('videoinput', 'Camera'),
      // Before access is granted, devices are listed without IDs: present but not usable yet.
      anyMic: devices.some((d) => d.kind === 'audioinput'),
      anyCamera: devices.some((d) => d.kind === 'videoinput'),
    };
  }
}

/** Reports the loudness (0..1) of an audio track on every animation frame. */
export class LevelMeter {
  /**
   * @param {MediaStreamTrack} track
   * @param {(level: number) => void} onLevel
   */
  constructor(track, onLevel) {
    this.onLevel = onLevel;
    this.context = new AudioContext();
    this.source = this.context.createMediaStreamSource(new MediaStream([track]));
    this.analyser = this.context.createAnalyser();
    this.analyser.fftSize = 1024;
    this.samples = new Float32Array(this.analyser.fftSize);
    this.source.connect(this.analyser);
    this.smoothed = 0;
    this.frame = 0;
    this.context.resume().catch(() => {});
    this.tick = this.tick.bind(this);
    this.frame = requestAnimationFrame(this.tick);
  }

  tick() {
    this.analyser.getFloatTimeDomainData(this.samples);
    let sum = 0;
    for (const s of this.samples) sum += s * s;
    const rms = Math.sqrt(sum / this.samples.length);
    // Speech RMS sits around 0.02..0.3: a square-root curve makes quiet talk visible.
    const level = Math.min(1, Math.sqrt(rms * 4));
    // Rise fast, fall slowly, like a real VU meter, so the bar doesn't flicker.
    this.smoothed = level > this.smoothed ? level : this.smoothed * 0.9 + level * 0.1;
    this.onLevel(this.smoothed);
    this.frame = requestAnimationFrame(this.tick);
  }

  stop() {
    cancelAnimationFrame(this.frame);
    this.source.disconnect();
    this.context.close().catch(() => {});
    this.onLevel(0);
  }
}
