// Every message a person can see about a failure, in one place, keyed by protocol error code.

/** Which join-page field an error belongs to; null means the form as a whole. */
const FIELD_OF_CODE = {
  unknownMeeting: 'meeting-id',
  meetingNotStarted: 'meeting-id',
  badRequest: 'meeting-id',
  passcodeRequired: 'passcode',
  wrongPasscode: 'passcode',
  guestsNotAllowed: 'signin-username',
};

export function fieldForCode(code) {
  return FIELD_OF_CODE[code] ?? null;
}

export function secondsText(seconds) {
  const s = Math.max(1, Math.ceil(seconds));
  if (s < 60) return s === 1 ? '1 second' : `${s} seconds`;
  const m = Math.ceil(s / 60);
  return m === 1 ? '1 minute' : `${m} minutes`;
}

/**
 * The text shown for an error code.
 * @param {string} code
 * @param {{retryAfter?: number|null, withLink?: boolean, serverMessage?: string}} details
 */
export function errorText(code, details = {}) {
  switch (code) {
    case 'unknownMeeting':
      return details.withLink
        ? "We couldn't find that meeting. The link may be out of date: ask the organiser for a new one."
        : "We couldn't find a meeting with that ID. Check the number in your invitation.";
    case 'passcodeRequired':
      return 'This meeting needs a passcode. Enter it to join.';
    case 'wrongPasscode':
      return "That passcode isn't right. Check it and try again.";
    case 'meetingLocked':
      return 'This meeting is locked. Ask the organiser to unlock it, then try again.';
    case 'meetingFull':
      return 'This meeting is full. Try again when someone leaves.';
    case 'guestsNotAllowed':
      return 'Only signed-in users can join this meeting. Sign in to continue.';
    case 'rateLimited':
      return details.retryAfter
        ? `Too many attempts. Try again in ${secondsText(details.retryAfter)}.`
        : 'Too many attempts. Wait a moment, then try again.';
    case 'badSdp':
      return "Your browser couldn't set up audio for this meeting. Reload the page, or try another browser.";
    case 'mediaFailed':
      return "We couldn't connect the meeting audio. A firewall or VPN may be blocking it: try another network.";
    case 'badMessage':
    case 'messageTooLarge':
      return `Something went wrong between your browser and the meeting (${code}). Reload the page and try again.`;
    case 'badRequest':
      return 'That meeting ID doesn\u2019t look right. Check the number in your invitation.';
    case 'badCredentials':
      return "That email or password isn't right.";
    case 'setupFailed':
      return "Your browser couldn't start the call. Reload the page, or try another browser.";
    case 'network':
      return "We can't reach the meeting service. Check your internet connection and try again.";
    case 'connectionLost':
      return 'The connection to the meeting was lost. Check your internet connection, then rejoin.';
    default:
      return details.serverMessage || `Something went wrong (${code}). Try again.`;
  }
}

/** Messages about local devices, from getUserMedia errors. */
export function deviceErrorText(kind, error) {
  const thing = { audio: 'microphone', video: 'camera', both: 'microphone and camera' }[kind];
  switch (error?.name) {
    case 'NotAllowedError':
    case 'SecurityError':
      return `Your browser blocked the ${thing}. Allow access in the address bar, then try again.`;
    case 'NotFoundError':
    case 'OverconstrainedError':
      return `No ${thing} found.`;
    case 'NotReadableError':
    case 'AbortError':
      return `Your ${thing} ${kind === 'both' ? 'are' : 'is'} in use by another app, or not working.`;
    default:
      return `We couldn't start your ${thing}.`;
  }
}

/** Server reasons that come back as a bare code in parentheses, in words. */
const SCHEDULE_REASONS = {
  endBeforeStart: 'The meeting must end after it starts.',
  tooMany: 'That is too many.',
};

/**
 * The text for a refused schedule request. The server says "Check 'timeZone': That time zone
 * is not known."; shown next to the time zone box the "Check '...':" part only repeats itself.
 */
export function scheduleErrorText(code, message = '', onField = false) {
  if (code === 'schedulerUnavailable') return 'Scheduling is not available on this server.';
  if (code === 'notSignedIn') return 'You were signed out. Sign in again to schedule a meeting.';
  if (code !== 'invalidMeeting') return errorText(code, { serverMessage: message });
  let text = String(message || '').trim();
  if (onField) text = text.replace(/^Check '[^']*':\s*/, '');
  const bare = /^\((\w+)\)$/.exec(text);
  if (bare) text = SCHEDULE_REASONS[bare[1]] ?? '';
  return text || 'Check the meeting details and try again.';
}
