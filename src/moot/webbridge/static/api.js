// HTTP API of the web bridge (see the protocol notes): small JSON calls, one error type.

export class ApiError extends Error {
  /**
   * @param {string} code protocol error code, or "network" when the server was unreachable
   * @param {string} message server text for a person (may be empty)
   * @param {number} status HTTP status (0 when unreachable)
   * @param {number|null} retryAfter seconds to wait, for rateLimited
   * @param {string|null} field the request field the error is about (invalidMeeting), if any
   */
  constructor(code, message, status, retryAfter = null, field = null) {
    super(message || code);
    this.code = code;
    this.status = status;
    this.retryAfter = retryAfter;
    this.field = field;
  }
}

async function request(method, path, body) {
  const init = { method, credentials: 'same-origin', headers: { Accept: 'application/json' } };
  if (body !== undefined) {
    init.headers['Content-Type'] = 'application/json';
    init.body = JSON.stringify(body);
  }
  let response;
  try {
    response = await fetch(path, init);
  } catch {
    throw new ApiError('network', '', 0);
  }
  let data = {};
  try {
    data = await response.json();
  } catch {
    // A proxy error page or an empty body: fall back to the status code below.
  }
  if (!response.ok) {
    const retryAfter = Number(data.retryAfter ?? response.headers.get('Retry-After')) || null;
    throw new ApiError(data.error || `http${response.status}`, data.message || '', response.status, retryAfter,
      typeof data.field === 'string' ? data.field : null);
  }
  return data;
}

/** Look a meeting up before joining: {meetingId, name, passcodeRequired, guestsAllowed}. */
export function lookUpMeeting(meetingId, secret) {
  const body = { meetingId };
  if (secret) body.secret = secret;
  return request('POST', '/api/meeting', body);
}

export function signIn(username, password) {
  return request('POST', '/api/signin', { username, password });
}

export function signOut() {
  return request('POST', '/api/signout', {});
}

/** The signed-in user and their spaces; rejects with code "notSignedIn" otherwise. */
export async function fetchMe() {
  // 200 either way (a 401 would be logged as an error by the browser on every visit).
  const me = await request('GET', '/api/me');
  if (!me.signedIn) throw new ApiError('notSignedIn', '', 200);
  return me;
}

/**
 * The signed-in user's upcoming meetings: {available: true, meetings: [...]}, or
 * {available: false} when this server has no scheduler. Rejects with "notSignedIn" (401).
 */
export function fetchMeetings() {
  return request('GET', '/api/meetings');
}

/**
 * Schedules a meeting organized by the signed-in user; resolves with the new meeting.
 * Rejects with "invalidMeeting" (ApiError.field names the wrong input) or "schedulerUnavailable".
 */
export function scheduleMeeting(meeting) {
  return request('POST', '/api/meetings', meeting);
}
