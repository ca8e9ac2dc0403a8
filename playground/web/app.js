// The page: inputs -> the policies (playground.js, built by wasm-bindgen) -> the verdict.
// State lives in the URL's fragment, so a link shows the same case to someone else.
import init, { policies, examples, validate_settings, evaluate } from './playground.js';

const $ = (id) => document.getElementById(id);
const fields = ['policy', 'settings', 'manifest', 'namespace', 'digests', 'cluster'];

function state() {
  return Object.fromEntries(fields.map((f) => [f, $(f).value]));
}

function restore(saved) {
  for (const f of fields) {
    if (typeof saved[f] === 'string') $(f).value = saved[f];
  }
  $('host').open = Boolean(saved.digests || saved.cluster);
}

// UTF-8 safe base64url of the state.
function encode(value) {
  const bytes = new TextEncoder().encode(JSON.stringify(value));
  let binary = '';
  for (const b of bytes) binary += String.fromCharCode(b);
  return btoa(binary).replaceAll('+', '-').replaceAll('/', '_').replace(/=+$/, '');
}

function decode(text) {
  const binary = atob(text.replaceAll('-', '+').replaceAll('_', '/'));
  return JSON.parse(new TextDecoder().decode(Uint8Array.from(binary, (c) => c.charCodeAt(0))));
}

function element(tag, className, text) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined) node.textContent = text;
  return node;
}

function showSettings() {
  const answer = JSON.parse(validate_settings($('policy').value, $('settings').value));
  const status = $('settings-status');
  status.textContent = answer.valid ? 'settings are valid' : answer.message;
  status.className = 'status ' + (answer.valid ? 'good' : 'bad');
  status.dataset.valid = answer.valid;
}

function render(answer) {
  const verdict = $('verdict');
  verdict.replaceChildren();
  const summary = $('verdict-summary');
  $('mutation').hidden = true;
  if (answer.error) {
    summary.textContent = answer.error;
    summary.className = 'status bad';
    summary.dataset.state = 'error';
    return;
  }
  if (!answer.settings.valid) {
    summary.textContent = 'fix the settings first';
    summary.className = 'status bad';
    summary.dataset.state = 'settings';
    return;
  }
  const rejected = answer.objects.filter((o) => !o.accepted).length;
  const mutated = answer.objects.filter((o) => o.accepted && o.mutated).length;
  const count = answer.objects.length;
  summary.textContent = `${count} object${count === 1 ? '' : 's'}: ${rejected} rejected, ${mutated} mutated`;
  summary.className = 'status ' + (rejected ? 'bad' : 'good');
  summary.dataset.state = rejected ? 'rejected' : 'accepted';
  for (const object of answer.objects) {
    const card = element('article', 'object');
    card.dataset.accepted = object.accepted;
    card.dataset.mutated = object.mutated;
    const state = object.accepted ? (object.mutated ? 'mutated' : 'accepted') : 'rejected';
    const title = element('h3', '', `${object.object}`);
    title.append(element('span', `badge ${state}`, state));
    card.append(title);
    card.append(element('p', 'where', `document ${object.document}` +
      (object.namespace ? `, namespace ${object.namespace}` : '')));
    const list = element('ul', 'violations');
    for (const v of object.violations) {
      const item = element('li', 'violation');
      const where = [v.container, v.image && `image '${v.image}'`, v.line && `line ${v.line}`]
        .filter(Boolean).join(', ');
      if (where) item.append(element('span', 'container', where));
      item.append(element('span', 'reason', v.reason));
      list.append(item);
    }
    card.append(list);
    for (const warning of object.warnings || []) card.append(element('p', 'warning', warning));
    verdict.append(card);
  }
  if (answer.diff) {
    const diff = $('diff');
    diff.replaceChildren();
    for (const line of answer.diff.split('\n')) {
      const kind = line.startsWith('+') && !line.startsWith('+++') ? 'add'
        : line.startsWith('-') && !line.startsWith('---') ? 'del' : 'ctx';
      diff.append(element('span', kind, line + '\n'));
    }
    $('mutation').hidden = false;
  }
  const problems = $('fix-problems');
  problems.replaceChildren(...(answer.fixProblems || []).map((p) => element('li', 'warning', p)));
  if ((answer.fixProblems || []).length) $('mutation').hidden = false;
}

function update() {
  showSettings();
  render(JSON.parse(evaluate(JSON.stringify(state()))));
  // Cluster objects stay out of the link: they may hold Secrets.
  const { cluster, ...shared } = state();
  const link = '#' + encode(shared);
  $('share').href = link;
  history.replaceState(null, '', link);
  // For whoever measures the page (the browser test): time from navigation to first verdict,
  // and how many verdicts were shown.
  if (window.firstVerdictMs === undefined) window.firstVerdictMs = performance.now();
  window.verdicts = (window.verdicts || 0) + 1;
}

let timer;
function later() {
  clearTimeout(timer);
  timer = setTimeout(update, 120);
}

async function main() {
  await init();
  for (const name of JSON.parse(policies())) $('policy').append(new Option(name, name));
  const ready = JSON.parse(examples());
  ready.forEach((example, index) => $('example').append(new Option(example.title, index)));
  $('example').addEventListener('change', () => {
    const example = ready[$('example').value];
    if (example) {
      restore({ namespace: '', ...example });
      update();
    }
  });
  let saved = null;
  try {
    if (location.hash.length > 1) saved = decode(location.hash.slice(1));
  } catch (e) {
    $('verdict-summary').textContent = 'the link is damaged: ' + e;
  }
  restore(saved || { namespace: '', ...ready[0] });
  for (const f of fields) $(f).addEventListener('input', later);
  $('policy').addEventListener('change', update);
  update();
}

main().catch((e) => {
  $('verdict-summary').textContent = 'the policies could not load: ' + e;
  $('verdict-summary').dataset.state = 'error';
});
