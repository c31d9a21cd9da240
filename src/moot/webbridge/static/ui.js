// Small DOM helpers shared by the views.

const SVG_NS = 'http://www.w3.org/2000/svg';
const ICONS = '/static/icons.svg';

export function byId(id) {
  const node = document.getElementById(id);
  if (!node) throw new Error(`missing element #${id}`);
  return node;
}

/** Creates an element with attributes and children (strings become text, never HTML). */
export function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs)) {
    if (value === false || value == null) continue;
    if (name === 'class') node.className = value;
    else if (name === 'text') node.textContent = value;
    else if (name.startsWith('on')) node.addEventListener(name.slice(2), value);
    else node.setAttribute(name, value === true ? '' : String(value));
  }
  for (const child of children.flat()) {
    if (child == null || child === false) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

/** A decorative sprite icon (hidden from assistive technology; pair it with text). */
export function icon(name, extraClass = '') {
  const svg = document.createElementNS(SVG_NS, 'svg');
  svg.setAttribute('class', `icon ${extraClass}`.trim());
  svg.setAttribute('aria-hidden', 'true');
  const use = document.createElementNS(SVG_NS, 'use');
  use.setAttribute('href', `${ICONS}#${name}`);
  svg.append(use);
  return svg;
}

/** Points an existing sprite icon (the first <use> inside `container`) at another symbol. */
export function swapIcon(container, name) {
  container.querySelector('use')?.setAttribute('href', `${ICONS}#${name}`);
}

export function initials(name) {
  const words = String(name || '?').trim().split(/\s+/).filter(Boolean);
  const letters = words.length > 1 ? words[0][0] + words[words.length - 1][0] : (words[0] ?? '?').slice(0, 2);
  return letters.toUpperCase();
}

// Hues that all keep white initials readable (no yellows), spread round the colour wheel.
const AVATAR_HUES = [226, 262, 292, 330, 352, 12, 168, 192, 206, 244];

/** A stable hue per name so the same person always gets the same avatar colour. */
export function avatarHue(name) {
  let hash = 2166136261;
  for (const ch of String(name)) hash = Math.imul(hash ^ ch.codePointAt(0), 16777619) >>> 0;
  return AVATAR_HUES[hash % AVATAR_HUES.length];
}

export function paintAvatar(node, name) {
  node.textContent = initials(name);
  node.style.setProperty('--hue', String(avatarHue(name)));
}

/** Announces text through the polite live region (clearing first so repeats are read too). */
export function announce(text) {
  const region = byId('status');
  region.textContent = '';
  setTimeout(() => { region.textContent = text; }, 50);
}

export function formatClock(seconds) {
  const h = Math.floor(seconds / 3600);
  const m = Math.floor((seconds % 3600) / 60);
  const s = Math.floor(seconds % 60);
  const mm = h ? String(m).padStart(2, '0') : String(m);
  return `${h ? `${h}:` : ''}${mm}:${String(s).padStart(2, '0')}`;
}
