// Scheduled meetings on the join page of a signed-in user: the upcoming list and the form
// that schedules a new one. app.js tells this module who is signed in and which view shows.
import { fetchMeetings, scheduleMeeting } from './api.js';
import {
  browserTimeZone, buildRecurrence, describeOccurrence, describeRecurrence, joinDateTime, localPath,
  looksLikeEmail, MAX_OCCURRENCES, nextFullHour, parseInvitees, timeZoneChoices, zonedToInstant,
} from './calendar.js';
import { scheduleErrorText } from './messages.js';
import { announce, byId, el, icon, swapIcon } from './ui.js';

const REFRESH_MS = 60 * 1000;
const COPIED_MS = 2000;
const INVITEES_SHOWN = 3;
/** Where a server `field` of a refused meeting is shown. */
const INPUT_OF_FIELD = {
  name: 'schedule-name',
  start: 'schedule-start',
  end: 'schedule-end',
  timeZone: 'schedule-timezone',
  invitees: 'schedule-invitees',
  recurrence: 'schedule-repeat',
};
const FORM_INPUTS = [
  'schedule-name', 'schedule-date', 'schedule-start', 'schedule-end', 'schedule-timezone',
  'schedule-repeat', 'schedule-count', 'schedule-invitees',
];

const state = {
  signedIn: false,
  /** The join view is showing (the only time the list is refreshed). */
  onJoinView: true,
  /** Bumped on sign-in and sign-out, so an answer for the previous user is dropped. */
  generation: 0,
  /** The last listing rendered, as JSON, so an unchanged refresh leaves the DOM (and focus) alone. */
  shown: '',
  lastLoaded: 0,
  timer: 0,
  busy: false,
  /** @type {() => void} */ onSignedOut: () => {},
};

// ---------------------------------------------------------------- upcoming list

/** Asks the server for the user's meetings and shows them; quiet on a periodic refresh. */
async function refresh() {
  if (!state.signedIn) return;
  const generation = state.generation;
  let answer;
  try {
    answer = await fetchMeetings();
  } catch (error) {
    if (generation !== state.generation) return;
    if (error.code === 'notSignedIn') {
      state.onSignedOut();
      return;
    }
    showListProblem(true);
    return;
  }
  if (generation !== state.generation) return;
  state.lastLoaded = Date.now();
  showListProblem(false);
  if (!answer.available) {
    // No scheduler on this server: nothing about scheduling is offered.
    byId('meetings-section').hidden = true;
    byId('schedule-section').hidden = true;
    return;
  }
  byId('meetings-section').hidden = false;
  byId('schedule-section').hidden = false;
  renderMeetings(Array.isArray(answer.meetings) ? answer.meetings : []);
}

function showListProblem(show) {
  byId('meetings-problem').hidden = !show;
  // A failed first load still shows the section, so the problem (and "Try again") can be seen.
  if (show && !state.shown) byId('meetings-section').hidden = false;
}

function renderMeetings(meetings) {
  const json = JSON.stringify(meetings);
  if (json === state.shown) return;
  state.shown = json;
  const now = Date.now();
  const items = meetings
    .map((meeting) => ({ meeting, when: describeOccurrence(meeting, now) }))
    .sort((a, b) => sortKey(a) - sortKey(b));
  const list = byId('meetings-list');
  // Keep the keyboard where it was if the focused button's meeting is still listed.
  const focused = list.contains(document.activeElement) ? document.activeElement : null;
  const focusedId = focused?.closest('[data-meeting-id]')?.dataset.meetingId;
  const focusedAction = focused?.dataset.action;
  list.replaceChildren(...items.map(({ meeting, when }) => meetingItem(meeting, when)));
  byId('meetings-empty').hidden = items.length > 0;
  if (focusedId) {
    const again = [...list.querySelectorAll('[data-meeting-id]')].find((li) => li.dataset.meetingId === focusedId);
    (again?.querySelector(`[data-action="${focusedAction}"]`) ?? byId('meetings-title')).focus();
  }
}

/** Soonest next occurrence first (the server sorts by first start, which a series keeps). */
function sortKey({ meeting, when }) {
  if (when?.instant != null) return when.instant;
  const first = Date.parse(meeting.firstStart ?? '');
  return Number.isNaN(first) ? Number.MAX_SAFE_INTEGER : first;
}

function fact(label, ...value) {
  return el('div', {}, el('dt', { text: label }), el('dd', {}, ...value));
}

function inviteeList(invitees) {
  const all = Array.isArray(invitees) ? invitees : parseInvitees(invitees);
  if (!all.length) return null;
  const shown = all.slice(0, INVITEES_SHOWN).join(', ');
  const more = all.length - INVITEES_SHOWN;
  return more > 0 ? el('span', { title: all.join(', ') }, `${shown} and ${more} more`) : shown;
}

function meetingItem(meeting, when) {
  const name = meeting.name || `Meeting ${meeting.callId ?? ''}`.trim();
  const organizer = meeting.role === 'organizer';
  const repeating = Boolean(meeting.recurrence);
  const whenValue = when
    ? [
      el('time', { datetime: when.iso, class: 'meeting-time', text: when.text }),
      el('span', { class: 'meeting-zone', text: when.timeZone }),
      when.localText ? el('span', { class: 'meeting-local', text: `${when.localText} your time` }) : null,
    ]
    : [el('span', { class: 'muted', text: 'Time not known' })];
  const path = meeting.joinUrl ? localPath(meeting.joinUrl) : null;
  const invitees = organizer ? inviteeList(meeting.invitees) : null;
  return el('li', { class: 'space meeting', 'data-meeting-id': meeting.id, 'data-role': meeting.role ?? '' },
    el('div', { class: 'space-head' },
      el('h3', { text: name }),
      el('span', { class: `badge ${organizer ? 'badge-organizer' : 'badge-invited'}`, text: organizer ? 'Organizer' : 'Invited' })),
    el('dl', { class: 'space-facts meeting-facts' },
      fact(repeating ? 'Next' : 'When', ...whenValue),
      fact('Repeats', describeRecurrence(meeting.recurrence, meeting.timeZone)),
      invitees ? fact('Invited', invitees) : null),
    el('div', { class: 'meeting-actions' },
      path
        ? el('a', { class: 'btn btn-primary btn-sm', href: path, 'data-action': 'join', 'aria-label': `Join ${name}` }, 'Join')
        : null,
      meeting.joinUrl ? copyButton(meeting.joinUrl, `Copy join link for ${name}`) : null));
}

function copyButton(url, label) {
  const button = el('button', {
    type: 'button', class: 'btn btn-plain btn-sm copy-link', 'data-action': 'copy', 'aria-label': label,
  }, icon('copy'), el('span', { class: 'copy-label', text: 'Copy link' }));
  button.addEventListener('click', () => copyLink(url, button));
  return button;
}

/** Copies a join link as the server wrote it (the host name invitees are told about). */
async function copyLink(url, button) {
  const label = button.querySelector('.copy-label');
  try {
    await navigator.clipboard.writeText(new URL(url, location.href).href);
  } catch {
    announce("Couldn't copy the link. Select it and copy it instead.");
    return;
  }
  clearTimeout(Number(button.dataset.timer));
  button.classList.add('is-done');
  swapIcon(button, 'check');
  label.textContent = 'Copied';
  announce('Join link copied.');
  button.dataset.timer = String(setTimeout(() => {
    button.classList.remove('is-done');
    swapIcon(button, 'copy');
    label.textContent = 'Copy link';
  }, COPIED_MS));
}

// ---------------------------------------------------------------- schedule form

function fillTimeZones() {
  const zones = timeZoneChoices();
  byId('schedule-timezones').replaceChildren(...zones.map((zone) => el('option', { value: zone })));
}

/** The form's starting values: the next full hour today, in the browser's time zone. */
function resetForm() {
  byId('schedule-form').reset();
  const slot = nextFullHour();
  byId('schedule-date').value = slot.date;
  byId('schedule-start').value = slot.start;
  byId('schedule-end').value = slot.end;
  byId('schedule-timezone').value = browserTimeZone();
  byId('schedule-count').value = '10';
  showCountField();
}

function showCountField() {
  byId('schedule-count-field').hidden = byId('schedule-repeat').value === 'none';
}

function clearScheduleError() {
  const box = byId('schedule-error');
  box.hidden = true;
  box.textContent = '';
  delete box.dataset.code;
  delete box.dataset.field;
  for (const id of FORM_INPUTS) {
    const input = byId(id);
    input.removeAttribute('aria-invalid');
    if (input.dataset.describedby !== undefined) {
      if (input.dataset.describedby) input.setAttribute('aria-describedby', input.dataset.describedby);
      else input.removeAttribute('aria-describedby');
      delete input.dataset.describedby;
    }
  }
  byId('schedule-error-slot').append(box);
}

/**
 * Shows why the meeting can't be scheduled next to the input it is about (or above the button
 * when it is about the whole form) and moves focus there.
 */
function showScheduleError(code, text, inputId = null) {
  clearScheduleError();
  const box = byId('schedule-error');
  box.textContent = text;
  box.dataset.code = code;
  if (inputId) box.dataset.field = inputId;
  box.hidden = false;
  if (!inputId) {
    box.focus();
    return;
  }
  const input = byId(inputId);
  input.closest('.field').append(box);
  input.dataset.describedby = input.getAttribute('aria-describedby') ?? '';
  input.setAttribute('aria-invalid', 'true');
  input.setAttribute('aria-describedby', `${input.dataset.describedby} schedule-error`.trim());
  input.focus();
}

/** What the form says, checked; either {meeting} to send or {problem: [text, inputId]}. */
function readForm() {
  const name = byId('schedule-name').value.trim();
  const date = byId('schedule-date').value;
  const start = byId('schedule-start').value;
  const end = byId('schedule-end').value;
  const timeZone = byId('schedule-timezone').value.trim();
  const repeat = byId('schedule-repeat').value;
  const countText = byId('schedule-count').value.trim();
  const invitees = parseInvitees(byId('schedule-invitees').value);
  if (!name) return { problem: ['Give the meeting a name.', 'schedule-name'] };
  if (!date) return { problem: ['Choose the date of the meeting.', 'schedule-date'] };
  if (!start) return { problem: ['Choose when the meeting starts.', 'schedule-start'] };
  if (!end) return { problem: ['Choose when the meeting ends.', 'schedule-end'] };
  // Same day, so "HH:MM" texts compare in time order.
  if (end <= start) return { problem: ['The meeting must end after it starts.', 'schedule-end'] };
  if (!timeZone) return { problem: ['Choose the time zone of the meeting.', 'schedule-timezone'] };
  const count = Number(countText);
  if (repeat !== 'none' && !(Number.isInteger(count) && count >= 2 && count <= MAX_OCCURRENCES)) {
    return { problem: [`Enter how many times the meeting happens: 2 to ${MAX_OCCURRENCES}.`, 'schedule-count'] };
  }
  const notAddress = invitees.find((address) => !looksLikeEmail(address));
  if (notAddress) return { problem: [`\u201c${notAddress}\u201d isn't an email address.`, 'schedule-invitees'] };
  const endText = joinDateTime(date, end);
  const endsAt = zonedToInstant(endText, timeZone); // null for a zone only the server may know
  if (repeat === 'none' && endsAt != null && endsAt <= Date.now()) {
    return { problem: ['That time has already passed. Choose a later date or time.', 'schedule-date'] };
  }
  const meeting = { name, start: joinDateTime(date, start), end: endText, timeZone };
  const recurrence = buildRecurrence(repeat, count);
  if (recurrence) meeting.recurrence = recurrence;
  if (invitees.length) meeting.invitees = invitees;
  return { meeting };
}

function setScheduleBusy(busy) {
  const button = byId('schedule-submit');
  button.disabled = busy;
  button.setAttribute('aria-busy', String(busy));
  button.textContent = busy ? 'Scheduling…' : 'Schedule meeting';
}

async function onSchedule(event) {
  event.preventDefault();
  if (state.busy) return;
  clearScheduleError();
  byId('schedule-done').hidden = true;
  const { meeting, problem } = readForm();
  if (problem) {
    showScheduleError('invalidMeeting', ...problem);
    return;
  }
  const generation = state.generation;
  state.busy = true;
  setScheduleBusy(true);
  let made;
  try {
    made = await scheduleMeeting(meeting);
  } catch (error) {
    if (generation !== state.generation) return;
    if (error.code === 'notSignedIn') {
      state.onSignedOut();
      return;
    }
    const inputId = error.code === 'invalidMeeting' ? (INPUT_OF_FIELD[error.field] ?? null) : null;
    showScheduleError(error.code, scheduleErrorText(error.code, error.message, Boolean(inputId)), inputId);
    return;
  } finally {
    state.busy = false;
    setScheduleBusy(false);
  }
  if (generation !== state.generation) return;
  showScheduled(made, Boolean(meeting.invitees));
  resetForm();
  await refresh();
}

function showScheduled(made, invited) {
  byId('schedule-done-text').textContent = invited
    ? 'Meeting scheduled. Invitations are on their way.'
    : 'Meeting scheduled. Share the join link to invite people.';
  const link = byId('schedule-done-link');
  const copy = byId('schedule-done-copy');
  link.hidden = !made.joinUrl;
  copy.hidden = !made.joinUrl;
  if (made.joinUrl) {
    link.textContent = made.joinUrl;
    link.href = localPath(made.joinUrl) ?? '/';
    copy.dataset.url = made.joinUrl;
  }
  const done = byId('schedule-done');
  done.hidden = false;
  done.focus();
}

// ---------------------------------------------------------------- timing

function stopTimer() {
  clearInterval(state.timer);
  state.timer = 0;
}

/** Refreshes every minute, but only while a signed-in user looks at the join page. */
function syncTimer() {
  const wanted = state.signedIn && state.onJoinView;
  if (!wanted) {
    stopTimer();
    return;
  }
  if (state.timer) return;
  if (Date.now() - state.lastLoaded >= REFRESH_MS) refresh();
  state.timer = setInterval(refresh, REFRESH_MS);
}

// ---------------------------------------------------------------- what app.js calls

/** Wires the form once; `onSignedOut` runs when the server says the sign-in is gone. */
export function initMeetings({ onSignedOut }) {
  state.onSignedOut = onSignedOut;
  fillTimeZones();
  resetForm();
  byId('schedule-form').addEventListener('submit', onSchedule);
  byId('schedule-repeat').addEventListener('change', showCountField);
  byId('meetings-retry').addEventListener('click', () => refresh());
  const copy = byId('schedule-done-copy');
  copy.addEventListener('click', () => copyLink(copy.dataset.url, copy));
}

/** A user signed in (or the page loaded signed in): load their meetings now, then every minute. */
export function meetingsSignedIn() {
  state.generation++;
  state.signedIn = true;
  state.shown = '';
  state.lastLoaded = 0;
  stopTimer();
  syncTimer();
}

export function meetingsSignedOut() {
  state.generation++;
  state.signedIn = false;
  state.shown = '';
  stopTimer();
  byId('meetings-section').hidden = true;
  byId('schedule-section').hidden = true;
  byId('meetings-problem').hidden = true;
  byId('meetings-list').replaceChildren();
  byId('schedule-done').hidden = true;
  clearScheduleError();
  resetForm();
}

/** The app changed view: the list is only kept fresh on the join page. */
export function meetingsViewChanged(view) {
  state.onJoinView = view === 'join';
  syncTimer();
}
