// Moot web bridge app: join page → device check → meeting → ended. No framework, no build step.
import { fetchMe, lookUpMeeting, signIn, signOut } from './api.js';
import { deviceErrorText, errorText, fieldForCode, secondsText } from './messages.js';
import { LevelMeter, LocalMedia } from './media.js';
import { initMeetings, meetingsSignedIn, meetingsSignedOut, meetingsViewChanged } from './meetings.js';
import { qualityLabel, QualityMonitor } from './quality.js';
import { MeetingSession } from './session.js';
import { announce, byId, el, formatClock, icon, paintAvatar, swapIcon } from './ui.js';

const VIEW_OF_STATE = {
  join: 'join-view',
  devices: 'devices-view',
  connecting: 'connecting-view',
  'in-meeting': 'meeting-view',
  ended: 'ended-view',
};
const JOIN_FIELDS = ['meeting-id', 'passcode', 'display-name'];
const HOST_UNMUTE_NOTICE_MS = 6000;
const NOTICE_MS = 8000;

/** Everything the app knows; one object so each flow reads the same truth. */
const app = {
  link: parseLocation(),
  /** @type {{name: string, userJid: string, spaces: object[]}|null} */ user: null,
  /** Join-link secret for `secretMeetingId`; cleared when the user types another meeting ID. */
  secret: null,
  secretMeetingId: '',
  /** Result of POST /api/meeting for the meeting being joined. */ meeting: null,
  /** What the next `join` sends: {meetingId, passcode, secret, name}. */ request: null,
  iceServers: [],
  audioMuted: false,
  videoOff: false,
  /** @type {MediaStreamTrack|null} the screen being shared, if any */
  screenTrack: null,
  media: new LocalMedia(),
  /** @type {LevelMeter|null} */ meter: null,
  /** @type {MeetingSession|null} */ session: null,
  /** @type {QualityMonitor|null} */ quality: null,
  participants: [],
  selfId: null,
  speakerId: null,
  joinedAt: 0,
  clockTimer: 0,
  rateLimitTimer: 0,
  noticeTimer: 0,
  hostNoticeTimer: 0,
  /** Bumped whenever the user moves on, so slow async steps of an abandoned flow stop. */
  attempt: 0,
};

function parseLocation() {
  const match = location.pathname.match(/^\/meeting\/([^/]+)\/?$/);
  const query = new URLSearchParams(location.search);
  return {
    meetingId: match ? decodeURIComponent(match[1]) : (query.get('meetingId') ?? ''),
    secret: query.get('secret') || null,
    name: query.get('name') ?? '',
    audioMuted: query.get('audioMuted') === 'true',
    videoDisabled: query.get('videoDisabled') === 'true',
    skipJoinOptions: query.get('skipJoinOptions') === 'true',
  };
}

function isCurrent(attempt) {
  return attempt === app.attempt;
}

function setState(state) {
  document.body.dataset.state = state;
  for (const [name, viewId] of Object.entries(VIEW_OF_STATE)) byId(viewId).hidden = name !== state;
  window.scrollTo(0, 0);
  meetingsViewChanged(state);
}

function focusHeading(id) {
  // Headings carry tabindex=-1 so moving focus there makes screen readers start at the new view.
  byId(id).focus({ preventScroll: true });
}

// ---------------------------------------------------------------- join page

function setJoinBusy(busy, label = 'Checking…') {
  const button = byId('join-button');
  button.disabled = busy;
  button.setAttribute('aria-busy', String(busy));
  button.textContent = busy ? label : 'Join meeting';
}

function applyLinkMode() {
  const viaLink = Boolean(app.secret);
  byId('passcode-field').hidden = viaLink;
  byId('link-note').hidden = !viaLink;
}

function clearJoinError() {
  clearInterval(app.rateLimitTimer);
  const box = byId('error-message');
  box.hidden = true;
  box.textContent = '';
  delete box.dataset.code;
  for (const id of [...JOIN_FIELDS, 'signin-username']) {
    const input = byId(id);
    input.removeAttribute('aria-invalid');
    if (input.dataset.describedby !== undefined) {
      input.setAttribute('aria-describedby', input.dataset.describedby);
      if (!input.dataset.describedby) input.removeAttribute('aria-describedby');
    }
  }
  byId('form-error-slot').append(box);
}

/**
 * Shows a join error on the join page, next to the field it is about, and moves focus there.
 * @param {string} code protocol code (or "custom" with `text`)
 * @param {{field?: string|null, text?: string, retryAfter?: number|null, serverMessage?: string}} options
 */
function showJoinError(code, options = {}) {
  clearJoinError();
  if (document.body.dataset.state !== 'join') setState('join');
  setJoinBusy(false);
  const text = options.text ?? errorText(code, {
    retryAfter: options.retryAfter, withLink: Boolean(app.secret), serverMessage: options.serverMessage,
  });
  const fieldId = options.field !== undefined ? options.field : fieldForCode(code);
  const box = byId('error-message');
  box.textContent = text;
  box.dataset.code = code;
  box.hidden = false;

  if (fieldId === 'passcode' && app.secret) {
    // The link's secret didn't get us in, so the passcode is needed after all.
    app.secret = null;
    applyLinkMode();
  }
  if (fieldId === 'signin-username' && !app.user) {
    byId('signin-form').prepend(box);
    markInvalid(byId('signin-username'));
    byId('signin-username').focus();
  } else if (fieldId && JOIN_FIELDS.includes(fieldId)) {
    const input = byId(fieldId);
    input.closest('.field').append(box);
    markInvalid(input);
    input.focus();
    input.select();
  } else {
    byId('form-error-slot').append(box);
    box.focus();
  }
  if (code === 'rateLimited') startRateLimitCountdown(options.retryAfter ?? 30);
}

function markInvalid(input) {
  if (input.dataset.describedby === undefined) input.dataset.describedby = input.getAttribute('aria-describedby') ?? '';
  input.setAttribute('aria-invalid', 'true');
  input.setAttribute('aria-describedby', `${input.dataset.describedby} error-message`.trim());
}

/** Keeps the Join button disabled and the message counting down until the server lets us retry. */
function startRateLimitCountdown(seconds) {
  const box = byId('error-message');
  const until = Date.now() + seconds * 1000;
  const button = byId('join-button');
  button.disabled = true;
  const tick = () => {
    const left = (until - Date.now()) / 1000;
    if (left <= 0) {
      clearInterval(app.rateLimitTimer);
      box.textContent = 'You can try again now.';
      button.disabled = false;
      return;
    }
    box.textContent = `Too many attempts. Try again in ${secondsText(left)}.`;
  };
  clearInterval(app.rateLimitTimer);
  app.rateLimitTimer = setInterval(tick, 1000);
  tick();
}

function currentName() {
  return (app.user?.name || byId('display-name').value).trim();
}

/** Validates the form, looks the meeting up, then opens the device check (or joins directly). */
async function submitJoin({ skipDevices = false } = {}) {
  clearJoinError();
  const meetingId = byId('meeting-id').value.replace(/[\s-]/g, '');
  const passcode = byId('passcode').value.trim();
  const name = currentName();
  if (!meetingId) {
    showJoinError('custom', { field: 'meeting-id', text: 'Enter the meeting ID from your invitation.' });
    return;
  }
  if (!/^\d+$/.test(meetingId)) {
    showJoinError('custom', { field: 'meeting-id', text: 'A meeting ID has only digits. Check the number in your invitation.' });
    return;
  }
  if (!name) {
    showJoinError('custom', { field: 'display-name', text: 'Enter your name so others know who is joining.' });
    return;
  }
  const attempt = ++app.attempt;
  setJoinBusy(true);
  let info;
  try {
    info = await lookUpMeeting(meetingId, app.secret);
  } catch (error) {
    if (isCurrent(attempt)) showJoinError(error.code, { retryAfter: error.retryAfter, serverMessage: error.message });
    return;
  }
  if (!isCurrent(attempt)) return;
  setJoinBusy(false);
  if (info.guestsAllowed === false && !app.user) {
    showJoinError('guestsNotAllowed');
    return;
  }
  if (info.passcodeRequired && !app.secret && !passcode) {
    showJoinError('passcodeRequired');
    return;
  }
  app.meeting = { ...info, meetingId: info.meetingId || meetingId };
  // Forward-compatible: once the server lists STUN/TURN servers here, the call uses them.
  app.iceServers = Array.isArray(info.iceServers) ? info.iceServers : [];
  app.request = { meetingId: app.meeting.meetingId, passcode, secret: app.secret, name };
  if (skipDevices) await startCall();
  else await enterDevices();
}

// ---------------------------------------------------------------- account

async function loadAccount() {
  try {
    showSignedIn(await fetchMe());
  } catch {
    showSignedOut();
  }
}

function showSignedIn(me) {
  app.user = me;
  byId('account-who').hidden = false;
  byId('account-name').textContent = me.name;
  byId('signin-open').hidden = true;
  byId('signout-button').hidden = false;
  byId('signin-panel').hidden = true;
  byId('my-spaces').hidden = false;
  const nameInput = byId('display-name');
  nameInput.value = me.name;
  nameInput.readOnly = true;
  byId('display-name-hint').textContent = `You're signed in, so you join as ${me.name}.`;
  renderSpaces(me.spaces ?? []);
  meetingsSignedIn();
}

function showSignedOut() {
  const wasSignedIn = Boolean(app.user);
  app.user = null;
  byId('account-who').hidden = true;
  byId('signin-open').hidden = false;
  byId('signout-button').hidden = true;
  byId('signin-panel').hidden = false;
  byId('my-spaces').hidden = true;
  byId('spaces-list').replaceChildren();
  const nameInput = byId('display-name');
  nameInput.readOnly = false;
  if (wasSignedIn) nameInput.value = app.link.name;
  byId('display-name-hint').textContent = 'Shown to everyone in the meeting.';
  meetingsSignedOut();
}

function renderSpaces(spaces) {
  byId('my-spaces-empty').hidden = spaces.length > 0;
  byId('spaces-list').replaceChildren(...spaces.map(spaceItem));
}

function fact(label, value) {
  return el('div', {}, el('dt', { text: label }), el('dd', {}, value));
}

function spaceItem(space) {
  const name = space.name || space.uri || space.callId;
  const copyButton = el('button', {
    type: 'button', class: 'icon-btn copy-btn', 'aria-label': `Copy join link for ${name}`, title: 'Copy join link',
    onclick: () => copyJoinLink(space.joinUrl, copyButton),
  }, icon('copy'));
  const absoluteUrl = space.joinUrl ? new URL(space.joinUrl, location.href).href : '';
  const joinLink = space.joinUrl
    ? el('span', { class: 'link-row' }, el('a', { href: absoluteUrl, class: 'join-link', text: absoluteUrl }), copyButton)
    : el('span', { class: 'muted', text: 'None' });
  return el('li', { class: 'space', 'data-call-id': space.callId },
    el('div', { class: 'space-head' },
      el('h3', { text: name }),
      el('button', {
        type: 'button', class: 'btn btn-primary btn-sm', 'aria-label': `Join ${name}`,
        onclick: () => joinSpace(space),
      }, 'Join')),
    el('dl', { class: 'space-facts' },
      fact('Call ID', el('span', { class: 'mono', text: space.callId })),
      fact('Passcode', space.passcode ? el('span', { class: 'mono', text: space.passcode }) : el('span', { class: 'muted', text: 'None' })),
      fact('URI', el('span', { class: 'mono', text: space.uri ?? '' })),
      fact('Join link', joinLink)));
}

async function copyJoinLink(url, button) {
  const absolute = new URL(url, location.href).href;
  try {
    await navigator.clipboard.writeText(absolute);
    button.classList.add('is-done');
    announce('Join link copied.');
    setTimeout(() => button.classList.remove('is-done'), 1500);
  } catch {
    announce("Couldn't copy the link. Select it and copy it instead.");
  }
}

function joinSpace(space) {
  byId('meeting-id').value = space.callId;
  byId('passcode').value = space.passcode ?? '';
  app.secret = space.secret || null;
  app.secretMeetingId = space.callId;
  applyLinkMode();
  submitJoin();
}

async function onSignIn(event) {
  event.preventDefault();
  const errorBox = byId('signin-error');
  errorBox.hidden = true;
  const username = byId('signin-username').value.trim();
  const password = byId('signin-password').value;
  const fail = (text, focusId) => {
    errorBox.textContent = text;
    errorBox.hidden = false;
    byId(focusId).focus();
  };
  if (!username) return fail('Enter your email or user name.', 'signin-username');
  if (!password) return fail('Enter your password.', 'signin-password');
  const button = byId('signin-button');
  button.disabled = true;
  button.textContent = 'Signing in…';
  try {
    await signIn(username, password);
    byId('signin-password').value = '';
    await loadAccount();
    if (!app.user) return fail("You're signed in, but we couldn't load your account. Reload the page.", 'signin-username');
    if (byId('error-message').dataset.code === 'guestsNotAllowed') clearJoinError();
    announce(`Signed in as ${app.user.name}.`);
    focusHeading('my-spaces-title');
  } catch (error) {
    const text = error.code === 'rateLimited'
      ? errorText('rateLimited', { retryAfter: error.retryAfter })
      : errorText(error.code, { serverMessage: error.message });
    fail(text, error.code === 'badCredentials' ? 'signin-password' : 'signin-username');
  } finally {
    button.disabled = false;
    button.textContent = 'Sign in';
  }
  return undefined;
}

async function onSignOut() {
  try {
    await signOut();
  } catch {
    // Signing out locally still makes sense when the server is unreachable.
  }
  showSignedOut();
  announce('Signed out.');
  byId('signin-open').focus();
}

// ---------------------------------------------------------------- device check

async function enterDevices() {
  const attempt = ++app.attempt;
  setState('devices');
  const meetingName = app.meeting.name || `meeting ${app.meeting.meetingId}`;
  byId('devices-meeting-name').textContent = meetingName;
  byId('devices-user-name').textContent = app.request.name;
  paintAvatar(byId('preview-avatar'), app.request.name);
  byId('device-warning').hidden = true;
  renderPrejoin();
  focusHeading('devices-title');
  const joinNow = byId('devices-join');
  joinNow.disabled = true;
  joinNow.textContent = 'Starting devices…';
  const warnings = [];
  if (!app.media.hasMediaDevices) {
    warnings.push("This browser can't use a microphone or camera here. You can still listen.");
  } else {
    let micError = null;
    let cameraError = null;
    if (!app.media.audioTrack) {
      try { await app.media.startMic(); } catch (error) { micError = error; }
    }
    if (!app.videoOff && !app.media.videoTrack) {
      try { await app.media.startCamera(); } catch (error) { cameraError = error; }
    }
    if (micError && cameraError && micError.name === cameraError.name) {
      warnings.push(deviceErrorText('both', micError));
    } else {
      if (micError) warnings.push(deviceErrorText('audio', micError));
      if (cameraError) warnings.push(deviceErrorText('video', cameraError));
    }
  }
  if (!isCurrent(attempt)) {
    // The user left the page while the browser was still asking for devices.
    if (document.body.dataset.state === 'join') releaseMedia();
    return;
  }
  if (!app.media.videoTrack && !app.videoOff && warnings.length) app.videoOff = true;
  showDeviceWarning(warnings);
  showPreview();
  startMeter();
  await refreshDeviceLists();
  joinNow.disabled = false;
  joinNow.textContent = 'Join now';
  renderPrejoin();
}

function showDeviceWarning(warnings) {
  const box = byId('device-warning');
  box.textContent = warnings.join(' ');
  box.hidden = warnings.length === 0;
}

function showPreview() {
  const video = byId('preview');
  const stream = app.media.cameraStream();
  video.srcObject = stream;
  byId('preview-off').hidden = Boolean(stream);
  byId('preview-off-text').textContent = app.videoOff ? 'Your camera is off' : 'No camera';
}

function startMeter() {
  stopMeter();
  const track = app.media.audioTrack;
  if (!track) return;
  const fill = byId('mic-level');
  try {
    app.meter = new LevelMeter(track, (level) => { fill.style.transform = `scaleX(${level.toFixed(3)})`; });
  } catch {
    app.meter = null; // no WebAudio: the meter stays empty, joining still works
  }
}

function stopMeter() {
  app.meter?.stop();
  app.meter = null;
}

function fillSelect(select, devices, selectedId, emptyText) {
  if (!devices.length) {
    select.replaceChildren(el('option', { value: '', text: emptyText }));
    select.disabled = true;
    return;
  }
  select.disabled = false;
  select.replaceChildren(...devices.map((d) => el('option', { value: d.id, text: d.label, selected: d.id === selectedId })));
}

async function refreshDeviceLists() {
  let lists = { mics: [], cameras: [] };
  try {
    lists = await app.media.listDevices();
  } catch {
    // Lists stay empty; the default devices still work.
  }
  fillSelect(byId('mic-select'), lists.mics, app.media.micId, lists.anyMic ? 'Microphone not allowed' : 'No microphone found');
  fillSelect(byId('camera-select'), lists.cameras, app.media.cameraId, lists.anyCamera ? 'Camera not allowed' : 'No camera found');
  byId('mic-hint').textContent = app.media.audioTrack
    ? 'Say something: the bar moves when we can hear you.'
    : 'Others can\u2019t hear you until a microphone is allowed. You can still listen.';
}

async function onMicChosen() {
  const deviceId = byId('mic-select').value;
  try {
    await app.media.startMic(deviceId);
    showDeviceWarning([]);
  } catch (error) {
    showDeviceWarning([deviceErrorText('audio', error)]);
  }
  startMeter();
}

async function onCameraChosen() {
  const deviceId = byId('camera-select').value;
  app.media.cameraId = deviceId;
  if (app.videoOff) return; // remembered for when the camera is turned on
  try {
    await app.media.startCamera(deviceId);
    showDeviceWarning([]);
  } catch (error) {
    showDeviceWarning([deviceErrorText('video', error)]);
  }
  showPreview();
}

function renderToggle(button, off, onIcon, offIcon, label) {
  button.setAttribute('aria-pressed', String(off));
  button.classList.toggle('is-off', off);
  button.title = label;
  swapIcon(button, off ? offIcon : onIcon);
}

function renderPrejoin() {
  renderToggle(byId('toggle-mic'), app.audioMuted || !app.media.audioTrack, 'mic', 'mic-off', 'Join with microphone off');
  renderToggle(byId('toggle-camera'), app.videoOff, 'camera', 'camera-off', 'Join with camera off');
  const mic = app.media.audioTrack && !app.audioMuted ? 'on' : 'off';
  const camera = app.media.videoTrack && !app.videoOff ? 'on' : 'off';
  byId('join-state-summary').textContent = `You'll join with your microphone ${mic} and your camera ${camera}.`;
}

async function onPrejoinCameraToggle() {
  app.videoOff = !app.videoOff;
  if (app.videoOff) {
    app.media.stopCamera(); // turn the camera light off, not just the picture
  } else {
    try {
      await app.media.startCamera();
      showDeviceWarning([]);
      await refreshDeviceLists();
    } catch (error) {
      app.videoOff = true;
      showDeviceWarning([deviceErrorText('video', error)]);
    }
  }
  showPreview();
  renderPrejoin();
}

async function onPrejoinMicToggle() {
  if (!app.media.audioTrack) {
    // No microphone yet (blocked or unplugged): pressing "on" asks again.
    try {
      await app.media.startMic();
      app.audioMuted = false;
      showDeviceWarning([]);
      startMeter();
      await refreshDeviceLists();
    } catch (error) {
      showDeviceWarning([deviceErrorText('audio', error)]);
    }
  } else {
    app.audioMuted = !app.audioMuted;
  }
  renderPrejoin();
}

function backToJoin() {
  app.attempt++;
  stopMeter();
  releaseMedia();
  setState('join');
  byId('join-button').focus();
}

function releaseMedia() {
  stopMeter();
  app.media.stopAll();
  byId('preview').srcObject = null;
  byId('self-view').srcObject = null;
}

// ---------------------------------------------------------------- connecting

async function startCall() {
  const attempt = ++app.attempt;
  stopMeter();
  byId('preview').srcObject = null;
  const meetingName = app.meeting.name || `meeting ${app.meeting.meetingId}`;
  setState('connecting');
  byId('connecting-title').textContent = `Joining ${meetingName}…`;
  byId('connecting-detail').textContent = 'Connecting audio and video';
  focusHeading('connecting-title');

  // Joining straight from a link skips the device check, so devices start here.
  const notices = [];
  if (app.media.hasMediaDevices) {
    if (!app.media.audioTrack) {
      try { await app.media.startMic(); } catch (error) { notices.push(`${deviceErrorText('audio', error)} You can still listen.`); }
    }
    if (!app.videoOff && !app.media.videoTrack) {
      try { await app.media.startCamera(); } catch { app.videoOff = true; }
    }
  }
  let withVideo = Boolean(app.media.videoTrack);
  if (!withVideo) withVideo = await app.media.hasCamera().catch(() => false);
  if (!isCurrent(attempt)) {
    if (document.body.dataset.state === 'join') releaseMedia();
    return;
  }
  const { audioTrack, videoTrack } = app.media;
  // Without a device the buttons must show "off"; pressing them retries the device.
  if (!audioTrack) app.audioMuted = true;
  if (!videoTrack) app.videoOff = true;
  if (audioTrack) audioTrack.enabled = !app.audioMuted;
  if (videoTrack) videoTrack.enabled = !app.videoOff;

  const session = new MeetingSession({ iceServers: app.iceServers });
  app.session = session;
  app.participants = [];
  app.speakerId = null;
  listenToSession(session);
  let joined;
  try {
    joined = await session.join({
      ...app.request,
      audioMuted: app.audioMuted || !audioTrack,
      videoMuted: app.videoOff || !videoTrack,
      audioTrack,
      videoTrack: app.videoOff ? null : videoTrack,
      withVideo,
    });
  } catch (error) {
    if (!isCurrent(attempt)) return;
    app.session = null;
    releaseMedia();
    showJoinError(error.code, { retryAfter: error.retryAfter, serverMessage: error.message });
    return;
  }
  if (!isCurrent(attempt)) {
    session.close();
    return;
  }
  enterMeeting(joined, notices);
}

function cancelConnecting() {
  app.attempt++;
  app.session?.close();
  app.session = null;
  releaseMedia();
  setState('join');
  announce('Joining cancelled.');
  byId('join-button').focus();
}

// ---------------------------------------------------------------- in the meeting

/** The meeting's composed picture (the server's layout) fills the stage once frames arrive. */
function showMeetingVideo(track) {
  const video = byId('meeting-video');
  video.srcObject = new MediaStream([track]);
  const shown = () => { byId('stage-tile').classList.add('has-video'); };
  video.addEventListener('loadeddata', shown, { once: true });
  track.addEventListener('ended', () => { byId('stage-tile').classList.remove('has-video'); });
  video.play().catch(() => {}); // muted: autoplay is allowed
}

function listenToSession(session) {
  const mine = (handler) => (event) => { if (app.session === session) handler(event.detail); };
  session.addEventListener('track', mine(({ track, stream }) => {
    if (track.kind === 'video') {
      showMeetingVideo(track);
      return;
    }
    const audio = byId('remote-audio');
    audio.srcObject = stream;
    audio.play().then(() => { byId('sound-banner').hidden = true; }).catch(() => { byId('sound-banner').hidden = false; });
  }));
  session.addEventListener('participants', mine(({ participants }) => {
    app.participants = participants;
    renderParticipants();
  }));
  session.addEventListener('speaker', mine(({ participantId }) => {
    app.speakerId = participantId;
    renderSpeaker();
  }));
  session.addEventListener('hostMute', mine(({ audio }) => showHostMute(audio)));
  session.addEventListener('notice', mine(({ text, seconds }) => showNotice(text, seconds)));
  session.addEventListener('ended', mine(({ reason }) => finish('ended', reason)));
  session.addEventListener('lost', mine(() => finish('lost')));
  session.addEventListener('error', mine(({ code, message, fatal }) => {
    if (fatal) finish('error', errorText(code, { serverMessage: message }), code);
    else showNotice(errorText(code, { serverMessage: message }));
  }));
  session.addEventListener('connectionstate', mine(({ state }) => {
    if (state === 'disconnected') showQuality({ level: 'poor', text: 'Connection interrupted: reconnecting…' });
    if (state === 'failed') showQuality({ level: 'poor', text: 'Media connection failed' });
  }));
}

function enterMeeting(joined, notices) {
  const meetingName = joined.meeting?.name || app.meeting.name || `Meeting ${app.request.meetingId}`;
  app.meeting.name = meetingName;
  app.selfId = joined.participantId ?? null;
  // The first participants list may arrive while the answer is still being applied.
  if (!app.participants.length) {
    app.participants = [{
      id: app.selfId, name: app.request.name, kind: 'web', audioMuted: app.audioMuted, videoMuted: app.videoOff, self: true,
    }];
  }
  setState('in-meeting');
  document.title = `${meetingName} · Moot`;
  byId('meeting-name').textContent = meetingName;
  byId('stage-meeting-name').textContent = meetingName;
  byId('meeting-number').textContent = `ID ${formatMeetingId(joined.meeting?.meetingId || app.request.meetingId)}`;
  byId('host-mute-banner').hidden = true;
  byId('meeting-notice').hidden = true;
  showQuality({ level: 'unknown' });
  paintAvatar(byId('self-avatar'), app.request.name);
  byId('self-caption').textContent = `${app.request.name} (you)`;
  renderSelfView();
  renderControls();
  renderParticipants();
  setPeoplePanel(window.matchMedia('(min-width: 761px)').matches);
  app.quality = new QualityMonitor(app.session.pc, (q) => showQuality(q));
  app.joinedAt = Date.now();
  clearInterval(app.clockTimer);
  app.clockTimer = setInterval(renderClock, 1000);
  renderClock();
  focusHeading('meeting-name');
  announce(`You joined ${meetingName}.${app.audioMuted ? ' Your microphone is muted.' : ''}`);
  if (notices.length) showNotice(notices.join(' '));
}

function formatMeetingId(id) {
  return String(id).replace(/(\d{3})(?=\d)/g, '$1 ');
}

function renderClock() {
  byId('meeting-clock').textContent = formatClock((Date.now() - app.joinedAt) / 1000);
}

function renderSelfView() {
  const track = app.media.videoTrack;
  const showVideo = Boolean(track) && !app.videoOff;
  const video = byId('self-view');
  if (showVideo && video.srcObject?.getVideoTracks()[0] !== track) video.srcObject = new MediaStream([track]);
  if (!showVideo) video.srcObject = null;
  byId('self-off').hidden = showVideo;
  byId('self-view-box').classList.toggle('is-off', !showVideo);
}

function renderControls() {
  const mic = byId('mute-audio');
  renderToggle(mic, app.audioMuted, 'mic', 'mic-off', app.audioMuted ? 'Unmute microphone' : 'Mute microphone');
  const camera = byId('mute-video');
  renderToggle(camera, app.videoOff, 'camera', 'camera-off', app.videoOff ? 'Start camera' : 'Stop camera');
  renderShareButton();
}

async function toggleAudio() {
  const session = app.session;
  if (!session) return;
  const unmuting = app.audioMuted;
  if (unmuting && !app.media.audioTrack) {
    // Listen-only so far (no permission or no device): try the microphone again.
    try {
      const track = await app.media.startMic();
      await session.setMicTrack(track);
    } catch (error) {
      showNotice(deviceErrorText('audio', error));
      return;
    }
  }
  app.audioMuted = !unmuting;
  if (app.media.audioTrack) app.media.audioTrack.enabled = !app.audioMuted;
  sendMuteState();
  announce(app.audioMuted ? 'Microphone muted.' : 'Microphone on.');
}

async function toggleVideo() {
  const session = app.session;
  if (!session) return;
  const starting = app.videoOff;
  if (starting && !app.media.videoTrack) {
    try {
      const track = await app.media.startCamera();
      if (!(await session.setCameraTrack(track))) {
        app.media.stopCamera();
        showNotice('Your camera can\u2019t be added to this call. Rejoin to share video.');
        return;
      }
    } catch (error) {
      showNotice(deviceErrorText('video', error));
      return;
    }
  }
  if (app.session !== session) return;
  app.videoOff = !starting;
  if (app.media.videoTrack) app.media.videoTrack.enabled = !app.videoOff;
  sendMuteState();
  renderSelfView();
  announce(app.videoOff ? 'Camera off.' : 'Camera on.');
}

/**
 * Screen sharing: the screen replaces the camera on the video we send, and the server shows
 * it big to everyone (SIP systems in their main video). Stopping - the button, or the
 * browser's own "Stop sharing" - puts the camera back.
 */
async function toggleScreenShare() {
  const session = app.session;
  if (!session) return;
  if (app.screenTrack) {
    stopScreenShare();
    return;
  }
  let track;
  try {
    const stream = await navigator.mediaDevices.getDisplayMedia({ video: { frameRate: 15 }, audio: false });
    track = stream.getVideoTracks()[0];
  } catch (error) {
    if (error?.name !== 'NotAllowedError') showNotice('Your screen can\u2019t be shared from this browser.');
    return;
  }
  if (app.session !== session || !(await session.setCameraTrack(track))) {
    track.stop();
    showNotice('Screen sharing isn\u2019t available in this call. Rejoin to share.');
    return;
  }
  app.screenTrack = track;
  track.addEventListener('ended', () => { if (app.screenTrack === track) stopScreenShare(); });
  session.setSharing(true);
  renderShareButton();
  announce('You are sharing your screen.');
}

function stopScreenShare() {
  const track = app.screenTrack;
  if (!track) return;
  app.screenTrack = null;
  track.stop();
  const session = app.session;
  if (session) {
    session.setCameraTrack(app.videoOff ? null : app.media.videoTrack ?? null);
    session.setSharing(false);
  }
  renderShareButton();
  announce('You stopped sharing your screen.');
}

function renderShareButton() {
  const button = byId('share-screen');
  const on = Boolean(app.screenTrack);
  button.setAttribute('aria-pressed', String(on));
  button.classList.toggle('ctl-active', on);
  button.querySelector('.ctl-label').textContent = on ? 'Stop sharing' : 'Share screen';
  button.hidden = !navigator.mediaDevices?.getDisplayMedia;
}

function sendMuteState() {
  renderControls();
  const audioMuted = app.audioMuted || !app.media.audioTrack;
  const videoMuted = app.videoOff || !app.media.videoTrack;
  app.session?.setMuted(audioMuted, videoMuted);
  // Reflect our own change at once; the server's next participants list confirms it.
  const self = app.participants.find((p) => p.self);
  if (self) Object.assign(self, { audioMuted, videoMuted });
  renderParticipants();
}

function participantItem(p) {
  const isSpeaker = p.id != null && p.id === app.speakerId;
  const kindLabel = p.kind === 'sip' ? 'Phone or video system' : 'Web';
  const states = el('span', { class: 'p-states' });
  if (p.audioMuted) states.append(el('span', { class: 'p-state', title: 'Microphone muted' }, icon('mic-off'), el('span', { class: 'visually-hidden', text: ', muted' })));
  if (p.videoMuted && p.kind !== 'sip') states.append(el('span', { class: 'p-state', title: 'Camera off' }, icon('camera-off'), el('span', { class: 'visually-hidden', text: ', camera off' })));
  if (p.presenting) states.prepend(el('span', { class: 'p-state p-presenting', title: 'Sharing their screen' }, icon('screen-share'), el('span', { class: 'visually-hidden', text: ', presenting' })));
  if (isSpeaker) states.prepend(el('span', { class: 'speaking-bars', title: 'Speaking' }, el('i'), el('i'), el('i'), el('span', { class: 'visually-hidden', text: ', speaking' })));
  const avatar = el('span', { class: 'avatar', 'aria-hidden': 'true' });
  paintAvatar(avatar, p.name);
  return el('li', {
    class: `participant${isSpeaker ? ' is-speaking' : ''}${p.self ? ' is-self' : ''}`,
    'data-participant-id': p.id ?? '', 'data-kind': p.kind ?? 'web', 'data-self': p.self ? 'true' : 'false',
    'data-audio-muted': String(Boolean(p.audioMuted)), 'data-video-muted': String(Boolean(p.videoMuted)),
    'data-speaking': String(isSpeaker), 'data-presenting': String(Boolean(p.presenting)),
  },
  avatar,
  el('span', { class: 'p-main' },
    el('span', { class: 'p-name' }, p.name || 'Guest', p.self ? el('span', { class: 'p-you', text: ' (you)' }) : null),
    el('span', { class: 'p-kind' }, icon(p.kind === 'sip' ? 'phone' : 'web'), el('span', { text: kindLabel }))),
  states);
}

function renderParticipants() {
  // You first, then everyone else in the server's order (it keeps joins stable).
  const ordered = [...app.participants.filter((p) => p.self), ...app.participants.filter((p) => !p.self)];
  byId('participants').replaceChildren(...ordered.map(participantItem));
  byId('participant-count').textContent = String(ordered.length);
  renderSpeaker();
}

function renderSpeaker() {
  for (const item of byId('participants').children) {
    const speaking = item.dataset.participantId !== '' && item.dataset.participantId === String(app.speakerId);
    item.classList.toggle('is-speaking', speaking);
    item.dataset.speaking = String(speaking);
    const bars = item.querySelector('.speaking-bars');
    if (speaking && !bars) {
      item.querySelector('.p-states').prepend(el('span', { class: 'speaking-bars', title: 'Speaking' }, el('i'), el('i'), el('i'), el('span', { class: 'visually-hidden', text: ', speaking' })));
    } else if (!speaking && bars) {
      bars.remove();
    }
  }
  const speaker = app.participants.find((p) => p.id != null && p.id === app.speakerId);
  const label = byId('stage-speaker');
  label.hidden = !speaker;
  byId('stage-tile').classList.toggle('has-speaker', Boolean(speaker));
  if (speaker) byId('stage-speaker-name').textContent = speaker.self ? 'You are speaking' : `${speaker.name} is speaking`;
  byId('self-view-box').classList.toggle('is-speaking', Boolean(speaker?.self));
}

function showHostMute(audio) {
  const banner = byId('host-mute-banner');
  clearTimeout(app.hostNoticeTimer);
  banner.dataset.kind = audio ? 'muted' : 'unmuted';
  byId('host-mute-text').textContent = audio
    ? "You were muted by the host. Others can't hear you until the host unmutes you."
    : 'The host unmuted you. Others can hear you again.';
  banner.hidden = false;
  swapIcon(banner, audio ? 'mic-off' : 'mic');
  if (!audio) app.hostNoticeTimer = setTimeout(() => { banner.hidden = true; }, HOST_UNMUTE_NOTICE_MS);
}

/** A notice over the meeting; `seconds` null keeps it up until dismissed (a server notice that stays). */
function showNotice(text, seconds = NOTICE_MS / 1000) {
  clearTimeout(app.noticeTimer);
  byId('meeting-notice-text').textContent = text;
  byId('meeting-notice').hidden = false;
  if (seconds !== null) app.noticeTimer = setTimeout(() => { byId('meeting-notice').hidden = true; }, seconds * 1000);
}

function showQuality({ level, text, lossPercent, rttMs, jitterMs }) {
  const node = byId('connection-quality');
  node.dataset.quality = level;
  byId('connection-quality-text').textContent = text ?? qualityLabel(level);
  const detail = lossPercent === undefined ? ''
    : `${lossPercent.toFixed(1)}% loss · ${Math.round(rttMs)} ms RTT · ${Math.round(jitterMs)} ms jitter`;
  byId('connection-quality-detail').textContent = detail;
  node.title = detail;
}

function setPeoplePanel(open) {
  byId('participants-panel').hidden = !open;
  byId('toggle-participants').setAttribute('aria-expanded', String(open));
  byId('toggle-participants').classList.toggle('is-active', open);
}

async function leaveMeeting() {
  const session = app.session;
  if (!session) return;
  app.session = null; // further session events belong to a meeting we are leaving
  byId('leave-button').disabled = true;
  releaseMedia(); // microphone and camera off at once, before the server confirms
  await session.leave();
  byId('leave-button').disabled = false;
  finish('left');
}

function teardownCall() {
  app.quality?.stop();
  app.quality = null;
  clearInterval(app.clockTimer);
  clearTimeout(app.noticeTimer);
  clearTimeout(app.hostNoticeTimer);
  app.session?.close();
  app.session = null;
  releaseMedia();
  byId('remote-audio').srcObject = null;
  byId('meeting-video').srcObject = null;
  if (app.screenTrack) { app.screenTrack.stop(); app.screenTrack = null; renderShareButton(); }
  byId('stage-tile').classList.remove('has-video');
  byId('sound-banner').hidden = true;
  app.participants = [];
  app.speakerId = null;
}

/**
 * Shows the page after a meeting: the user left, the server ended the leg, a fatal error, or
 * the connection was lost. Fatal problems also go in #error-message.
 */
function finish(kind, reason = '', code = '') {
  app.attempt++;
  teardownCall();
  clearJoinError();
  setState('ended');
  document.title = 'Moot Meetings';
  let title = 'You left the meeting';
  let detail = '';
  let errorMessage = '';
  if (kind === 'ended') {
    const selfLeft = /^you left/i.test(reason);
    title = selfLeft ? reason : 'You are no longer in the meeting';
    detail = selfLeft ? '' : (reason || 'The meeting ended.');
  } else if (kind === 'error') {
    title = 'You were disconnected';
    errorMessage = reason;
  } else if (kind === 'lost') {
    title = 'Connection lost';
    errorMessage = errorText('connectionLost');
  }
  byId('ended-title').textContent = title;
  byId('ended-reason').textContent = detail;
  byId('ended-reason').hidden = !detail;
  byId('ended-view').dataset.kind = kind;
  if (errorMessage) {
    const box = byId('error-message');
    box.textContent = errorMessage;
    box.dataset.code = code || kind;
    box.hidden = false;
    byId('ended-error-slot').append(box);
  }
  focusHeading('ended-title');
  announce([title, detail, errorMessage].filter(Boolean).join('. '));
}

function rejoin() {
  if (!app.request || !app.meeting) {
    goHome();
    return;
  }
  clearJoinError();
  startCall();
}

function goHome() {
  app.attempt++;
  clearJoinError();
  setJoinBusy(false);
  setState('join');
  focusHeading('join-title');
}

// ---------------------------------------------------------------- start-up

function prefillFromLink() {
  const { link } = app;
  byId('meeting-id').value = link.meetingId;
  byId('display-name').value = link.name;
  app.secret = link.secret;
  app.secretMeetingId = link.meetingId;
  app.audioMuted = link.audioMuted;
  app.videoOff = link.videoDisabled;
  applyLinkMode();
  if (link.meetingId) byId('join-lead').textContent = "You've been invited to a meeting. Check your name, then join.";
}

function wireEvents() {
  initMeetings({
    onSignedOut: () => {
      showSignedOut();
      announce('You were signed out. Sign in again to see your meetings.');
    },
  });
  byId('join-form').addEventListener('submit', (event) => {
    event.preventDefault();
    submitJoin();
  });
  byId('meeting-id').addEventListener('input', () => {
    // A join link's secret only belongs to its own meeting.
    if (app.secret && byId('meeting-id').value.replace(/[\s-]/g, '') !== app.secretMeetingId) {
      app.secret = null;
      applyLinkMode();
    }
  });
  byId('signin-form').addEventListener('submit', onSignIn);
  byId('signin-open').addEventListener('click', () => {
    if (document.body.dataset.state !== 'join') goHome();
    byId('signin-username').focus();
  });
  byId('signout-button').addEventListener('click', onSignOut);

  byId('toggle-mic').addEventListener('click', onPrejoinMicToggle);
  byId('toggle-camera').addEventListener('click', onPrejoinCameraToggle);
  byId('mic-select').addEventListener('change', onMicChosen);
  byId('camera-select').addEventListener('change', onCameraChosen);
  byId('devices-join').addEventListener('click', () => startCall());
  byId('devices-back').addEventListener('click', backToJoin);
  byId('connecting-cancel').addEventListener('click', cancelConnecting);

  byId('mute-audio').addEventListener('click', toggleAudio);
  byId('mute-video').addEventListener('click', toggleVideo);
  byId('share-screen').addEventListener('click', toggleScreenShare);
  byId('leave-button').addEventListener('click', leaveMeeting);
  byId('toggle-participants').addEventListener('click', () => {
    setPeoplePanel(byId('participants-panel').hidden);
  });
  byId('participants-close').addEventListener('click', () => {
    setPeoplePanel(false);
    byId('toggle-participants').focus();
  });
  byId('host-mute-dismiss').addEventListener('click', () => {
    byId('host-mute-banner').hidden = true;
    byId('mute-audio').focus();
  });
  byId('meeting-notice-dismiss').addEventListener('click', () => { byId('meeting-notice').hidden = true; });
  byId('sound-enable').addEventListener('click', () => {
    byId('remote-audio').play().then(() => { byId('sound-banner').hidden = true; }).catch(() => {});
  });
  byId('rejoin-button').addEventListener('click', rejoin);
  byId('home-button').addEventListener('click', goHome);

  document.addEventListener('keydown', (event) => {
    const narrow = !window.matchMedia('(min-width: 761px)').matches;
    if (event.key === 'Escape' && narrow && !byId('participants-panel').hidden) {
      setPeoplePanel(false);
      byId('toggle-participants').focus();
    }
  });
  navigator.mediaDevices?.addEventListener?.('devicechange', () => {
    if (document.body.dataset.state === 'devices') refreshDeviceLists();
  });
  // Closing the tab: tell the server now rather than letting it time the leg out.
  window.addEventListener('pagehide', () => {
    app.session?.send({ type: 'leave' });
    app.session?.close();
  });
}

async function boot() {
  wireEvents();
  prefillFromLink();
  setState('join');
  await loadAccount(); // a signed-in user needs no name, which decides whether a link can auto-join
  const { link } = app;
  if (link.skipJoinOptions && link.meetingId && (link.name || app.user)) {
    await submitJoin({ skipDevices: true });
    return;
  }
  if (!byId('meeting-id').value) byId('meeting-id').focus();
  else if (!currentName()) byId('display-name').focus();
}

boot();
