// Dates, time zones and repetition rules for scheduled meetings. Pure functions, no DOM.
//
// The server speaks wall-clock times ("2031-03-03T09:00:00") that belong to the meeting's own
// time zone. To format one as written we treat it as if it were UTC and format in UTC: the
// digits come out unchanged, whatever zone the browser is in.

const WALL_CLOCK = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2})(?::(\d{2}))?$/;
const FREQ_WORDS = { DAILY: ['day', 'days'], WEEKLY: ['week', 'weeks'], MONTHLY: ['month', 'months'] };
/** What the form's "Repeats" choices mean as RRULE frequencies. */
export const REPEAT_FREQ = { daily: 'DAILY', weekly: 'WEEKLY', monthly: 'MONTHLY' };
/** The scheduler refuses COUNT above this. */
export const MAX_OCCURRENCES = 1000;

/** Milliseconds of a wall-clock text read as UTC, or null when it isn't one. */
export function wallClockMs(text) {
  const m = WALL_CLOCK.exec(String(text ?? ''));
  if (!m) return null;
  const [, y, mo, d, h, mi, s] = m.map(Number);
  return Date.UTC(y, mo - 1, d, h, mi, s || 0);
}

function wallClockText(ms) {
  return new Date(ms).toISOString().slice(0, 16);
}

export function browserTimeZone() {
  try {
    return Intl.DateTimeFormat().resolvedOptions().timeZone || 'UTC';
  } catch {
    return 'UTC';
  }
}

/** Every time zone the browser knows (empty where it can't list them). */
export function timeZoneChoices() {
  try {
    return typeof Intl.supportedValuesOf === 'function' ? Intl.supportedValuesOf('timeZone') : [];
  } catch {
    return [];
  }
}

const offsetFormats = new Map();

/** How far `timeZone` is ahead of UTC at `instantMs`, in ms; throws RangeError for an unknown zone. */
function zoneOffsetMs(instantMs, timeZone) {
  let format = offsetFormats.get(timeZone);
  if (!format) {
    format = new Intl.DateTimeFormat('en-US', {
      timeZone, hourCycle: 'h23', year: 'numeric', month: 'numeric', day: 'numeric',
      hour: 'numeric', minute: 'numeric', second: 'numeric',
    });
    offsetFormats.set(timeZone, format);
  }
  const parts = Object.fromEntries(format.formatToParts(new Date(instantMs)).map((p) => [p.type, p.value]));
  const asUtc = Date.UTC(+parts.year, +parts.month - 1, +parts.day, +parts.hour, +parts.minute, +parts.second);
  return asUtc - (instantMs - (((instantMs % 1000) + 1000) % 1000));
}

/** The instant (ms since the epoch) of a wall-clock time in `timeZone`; null if either is unknown. */
export function zonedToInstant(text, timeZone) {
  const wall = wallClockMs(text);
  if (wall == null) return null;
  try {
    // Twice: the first guess may sit on the other side of a daylight-saving change.
    const first = wall - zoneOffsetMs(wall, timeZone);
    return wall - zoneOffsetMs(first, timeZone);
  } catch {
    return null;
  }
}

export function isKnownTimeZone(timeZone) {
  try {
    new Intl.DateTimeFormat('en-US', { timeZone });
    return true;
  } catch {
    return false;
  }
}

function sameYear(ms, now) {
  return new Date(ms).getUTCFullYear() === new Date(now).getFullYear();
}

function rangeText(startMs, endMs, options) {
  const format = new Intl.DateTimeFormat(undefined, options);
  if (endMs == null || endMs <= startMs) return format.format(startMs);
  return typeof format.formatRange === 'function'
    ? format.formatRange(startMs, endMs)
    : `${format.format(startMs)} – ${format.format(endMs)}`;
}

/**
 * When a meeting happens next, for people: the occurrence as written in the meeting's zone,
 * plus the same time in the browser's zone when that differs.
 * @returns {{text: string, timeZone: string, localText: string|null, instant: number|null, iso: string}|null}
 */
export function describeOccurrence(meeting, now = Date.now()) {
  const startText = meeting.nextOccurrence || meeting.start;
  const startMs = wallClockMs(startText);
  if (startMs == null) return null;
  const firstStart = wallClockMs(meeting.start);
  const firstEnd = wallClockMs(meeting.end);
  // Every occurrence lasts as long as the first one.
  const endMs = firstStart != null && firstEnd != null ? startMs + (firstEnd - firstStart) : null;
  const timeZone = meeting.timeZone || 'UTC';
  const options = {
    weekday: 'short', day: 'numeric', month: 'short', year: sameYear(startMs, now) ? undefined : 'numeric',
    hour: 'numeric', minute: '2-digit', timeZone: 'UTC',
  };
  const text = rangeText(startMs, endMs, options);
  const instant = zonedToInstant(startText, timeZone);
  let localText = null;
  const here = browserTimeZone();
  if (instant != null && here !== timeZone) {
    const endInstant = endMs == null ? null : instant + (endMs - startMs);
    const local = rangeText(instant, endInstant, { ...options, timeZone: undefined });
    if (local !== text) localText = local;
  }
  const iso = instant != null ? new Date(instant).toISOString() : wallClockText(startMs);
  return { text, timeZone, localText, instant, iso };
}

function ruleParts(rule) {
  const parts = {};
  for (const piece of String(rule).toUpperCase().replace(/^RRULE:/, '').split(';')) {
    if (!piece) continue;
    const [key, value] = piece.split('=');
    if (!key || value === undefined) return null;
    parts[key] = value;
  }
  return parts;
}

/** An RFC 5545 UNTIL (UTC "20310407T073000Z", or a date) as a date in the meeting's zone. */
function untilText(value, timeZone) {
  const m = /^(\d{4})(\d{2})(\d{2})(?:T(\d{2})(\d{2})(\d{2})(Z?))?$/.exec(value);
  if (!m) return null;
  const [, y, mo, d, h = '0', mi = '0', s = '0', utc] = m;
  const ms = Date.UTC(+y, +mo - 1, +d, +h, +mi, +s);
  const options = { day: 'numeric', month: 'short', year: 'numeric' };
  try {
    return new Intl.DateTimeFormat(undefined, { ...options, timeZone: utc ? timeZone : 'UTC' }).format(ms);
  } catch {
    return new Intl.DateTimeFormat(undefined, { ...options, timeZone: 'UTC' }).format(ms);
  }
}

/**
 * A repetition rule in words: "Every week, 6 times", "Every 2 days until 7 Apr 2031".
 * Rules beyond a plain daily/weekly/monthly repetition are shown as written.
 */
export function describeRecurrence(rule, timeZone = 'UTC') {
  if (!rule) return 'Does not repeat';
  const parts = ruleParts(rule);
  const words = parts && FREQ_WORDS[parts.FREQ];
  const known = new Set(['FREQ', 'COUNT', 'UNTIL', 'INTERVAL']);
  if (!words || Object.keys(parts).some((key) => !known.has(key)) || (parts.COUNT && parts.UNTIL)) return rule;
  const interval = parts.INTERVAL === undefined ? 1 : Number(parts.INTERVAL);
  if (!Number.isInteger(interval) || interval < 1) return rule;
  const every = interval === 1 ? `Every ${words[0]}` : `Every ${interval} ${words[1]}`;
  if (parts.COUNT !== undefined) {
    const count = Number(parts.COUNT);
    if (!Number.isInteger(count) || count < 1) return rule;
    return count === 1 ? 'Once' : `${every}, ${count} times`;
  }
  if (parts.UNTIL !== undefined) {
    const until = untilText(parts.UNTIL, timeZone);
    return until ? `${every} until ${until}` : rule;
  }
  return every;
}

/** The rule the form asks for: null for a one-off meeting. */
export function buildRecurrence(repeat, count) {
  const freq = REPEAT_FREQ[repeat];
  return freq ? `FREQ=${freq};COUNT=${count}` : null;
}

/** Addresses typed into a box, split on commas, semicolons, spaces and new lines. */
export function parseInvitees(text) {
  return String(text ?? '').split(/[\s,;]+/).filter(Boolean);
}

/** A rough shape check; the server has the last word on what counts as an address. */
export function looksLikeEmail(address) {
  return /^[^@\s]+@[^@\s]+$/.test(address);
}

/** "YYYY-MM-DD" and "HH:MM" as the server's wall-clock text. */
export function joinDateTime(date, time) {
  return `${date}T${time}`;
}

/** Date and time inputs' values for the next full hour (a sensible default meeting slot). */
export function nextFullHour(now = new Date()) {
  const start = new Date(now);
  start.setMinutes(0, 0, 0);
  start.setHours(start.getHours() + 1);
  const end = new Date(start.getTime() + 30 * 60 * 1000);
  const pad = (n) => String(n).padStart(2, '0');
  const date = `${start.getFullYear()}-${pad(start.getMonth() + 1)}-${pad(start.getDate())}`;
  const time = (d) => `${pad(d.getHours())}:${pad(d.getMinutes())}`;
  return { date, start: time(start), end: time(end) };
}

/** Path and query of a join link, so it opens on this server whatever host name the link carries. */
export function localPath(url) {
  try {
    const parsed = new URL(url, location.href);
    return parsed.pathname + parsed.search;
  } catch {
    return null;
  }
}
