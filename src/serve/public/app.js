// The page: plain modules, no build step. Everything goes through the JSON API (/api/openapi.json).
const $ = (id) => document.getElementById(id);
let picture = null; // the File being worked on
let grid = 0;
let noTextTower = ''; // a served captioner's name when one has no text tower (re-ranking is then refused)

function showError(msg) {
  $('error').textContent = msg || '';
  $('error').hidden = !msg;
}

async function api(url, init) {
  const r = await fetch(url, init);
  const body = await r.json().catch(() => ({ error: `HTTP ${r.status}` }));
  if (!r.ok) throw new Error(body.error || `HTTP ${r.status}`);
  return body;
}

// A multilingual checkpoint's languages, named in their own language.
const LANGUAGE_NAMES = { en: 'English', ru: 'русский', zh: '中文', ms: 'Bahasa Melayu' };
const languageName = (l) => LANGUAGE_NAMES[l] || l;

function option(value, text) {
  const o = document.createElement('option');
  o.value = value;
  o.textContent = text;
  return o;
}

// Captions: the languages every served model has (a request in a language one lacks is refused).
// Search: the first model's, or detected from the query's script. An English-only model shows neither.
function languagePickers(h) {
  const models = h.models && h.models.length ? h.models : [{ languages: h.languages || [] }];
  const shared = (models[0].languages || []).filter((l) => models.every((m) => (m.languages || []).includes(l)));
  $('lang').replaceChildren(...shared.map((l) => option(l, languageName(l))));
  $('lang-pick').hidden = shared.length < 2;
  const own = h.languages || [];
  $('query-lang').replaceChildren(option('', 'language: from the script'), ...own.map((l) => option(l, languageName(l))));
  $('query-lang').hidden = own.length < 2;
}

async function health() {
  try {
    const h = await api('/api/health');
    grid = h.model.grid;
    $('stage').classList.toggle('cover', h.model.fit === 'cover');
    $('status').textContent = `checkpoint ${h.checkpoint.id} · ${h.adapter.device}${h.index ? ` · ${h.index.items} indexed pictures` : ' · no index'}${h.models && h.models.length > 1 ? ` · ${h.models.length} captioning models` : ''}`;
    if (!h.index) $('search-box').querySelector('button').disabled = true;
    languagePickers(h);
    noTextTower = (h.models || []).filter((m) => m.arch !== 'coca').map((m) => m.name).join(', ');
    rerankControls();
  } catch (e) {
    $('status').textContent = `server unreachable: ${e.message}`;
  }
}

// Re-ranking needs several beams' captions to choose among and a text tower in every served model
// (the server refuses it otherwise): off, with the reason said, where it cannot run.
function rerankBlocker() {
  if (noTextTower) return `re-ranking needs a CoCa model: ${noTextTower} has no text tower`;
  if ($('sample').checked) return 're-ranking chooses among beams, not samples';
  if (Number($('beams').value) < 2) return 're-ranking needs 2 or more beams';
  return '';
}

function rerankControls() {
  const why = rerankBlocker();
  $('rerank').disabled = !!why;
  $('rerank-weight').disabled = !!why || !$('rerank').checked;
  $('rerank-note').textContent = why;
  $('rerank-note').hidden = !why;
}

// A perceptual ramp (dark blue → teal → yellow), alpha growing with the weight.
const RAMP = [[48, 18, 59], [40, 110, 200], [30, 190, 160], [160, 220, 60], [250, 230, 40]];
function colour(t) {
  const x = Math.min(Math.max(t, 0), 1) * (RAMP.length - 1);
  const i = Math.min(Math.floor(x), RAMP.length - 2);
  const f = x - i;
  return RAMP[i].map((c, k) => c * (1 - f) + RAMP[i + 1][k] * f);
}

// `g`: the grid of the model whose word it is (served models may differ).
function drawMap(map, g = grid) {
  const c = $('heat');
  if (!map) return c.classList.remove('on');
  c.width = g;
  c.height = g;
  const ctx = c.getContext('2d');
  const img = ctx.createImageData(g, g);
  map.forEach((v, p) => {
    const [r, g, b] = colour(v);
    img.data.set([r, g, b, 60 + 195 * v], p * 4);
  });
  ctx.putImageData(img, 0, 0);
  c.classList.add('on');
}

// Several served checkpoints: one column per model, named with its architecture; one model: as before.
function renderCaptions(res) {
  const box = $('captions');
  box.replaceChildren();
  const models = res.models && res.models.length > 1 ? res.models : null;
  box.classList.toggle('models', !!models);
  if (!models) return renderModel(box, box, res.captions, res.grid);
  for (const m of models) {
    const col = document.createElement('div');
    col.className = 'model';
    const h = document.createElement('h3');
    h.textContent = `${m.name} · ${m.arch}`;
    h.title = m.checkpoint.dir;
    col.append(h);
    renderModel(box, col, m.captions, m.grid);
    if (!m.grid) {
      const note = document.createElement('p');
      note.className = 'note';
      note.textContent = 'no attention over the picture';
      col.append(note);
    }
    box.append(col);
  }
}

function renderModel(box, into, captions, g) {
  for (const cap of captions) {
    const p = document.createElement('p');
    p.className = 'caption';
    for (const t of cap.tokens) {
      if (t.text === '[EOT]') continue;
      const s = document.createElement('span');
      s.className = 'tok';
      s.textContent = t.text;
      s.title = `log p = ${t.logprob.toFixed(2)}`;
      const on = () => {
        box.querySelectorAll('.tok.active').forEach((x) => x.classList.remove('active'));
        s.classList.add('active');
        drawMap(t.map, g);
      };
      s.addEventListener('mouseenter', on);
      s.addEventListener('click', on);
      s.addEventListener('mouseleave', () => (s.classList.remove('active'), drawMap(null)));
      p.append(s);
    }
    const sc = document.createElement('span');
    sc.className = 'score';
    sc.textContent = `score ${cap.score.toFixed(2)}`;
    p.append(sc);
    if (cap.rerank) {
      const sim = document.createElement('span');
      sim.className = 'score sim';
      sim.textContent = `similarity ${cap.rerank.similarity.toFixed(3)}`;
      sim.title = `beam ${cap.rerank.beamRank + 1} of the search`;
      p.append(sim);
    }
    into.append(p);
  }
}

async function caption() {
  if (!picture) return;
  showError('');
  const fd = new FormData();
  fd.append('image', picture);
  const sample = $('sample').checked;
  if (sample) fd.append('sample', 'true'), fd.append('n', '3'), fd.append('seed', String(Date.now() % 1e6));
  else fd.append('beams', $('beams').value);
  fd.append('maxLen', $('max-len').value);
  if (!$('lang-pick').hidden) fd.append('lang', $('lang').value);
  if ($('rerank').checked && !$('rerank').disabled) fd.append('rerank', 'true'), fd.append('rerankWeight', $('rerank-weight').value);
  $('captions').classList.add('busy');
  try {
    renderCaptions(await api('/api/caption', { method: 'POST', body: fd }));
  } catch (e) {
    $('captions').replaceChildren();
    showError(e.message);
  } finally {
    $('captions').classList.remove('busy');
  }
}

function pick(file) {
  if (!file) return;
  picture = file;
  const img = $('picture');
  if (img.src) URL.revokeObjectURL(img.src);
  img.src = URL.createObjectURL(file);
  $('stage').hidden = false;
  $('drop-hint').hidden = true;
  drawMap(null);
  caption();
}

$('file').addEventListener('change', (e) => pick(e.target.files[0]));
const drop = $('drop');
drop.addEventListener('dragover', (e) => (e.preventDefault(), drop.classList.add('over')));
drop.addEventListener('dragleave', () => drop.classList.remove('over'));
drop.addEventListener('drop', (e) => {
  e.preventDefault();
  drop.classList.remove('over');
  pick(e.dataTransfer.files[0]);
});
$('caption-options').addEventListener('change', () => (rerankControls(), caption()));

$('search').addEventListener('submit', async (e) => {
  e.preventDefault();
  const q = $('query').value.trim();
  if (!q) return;
  showError('');
  const box = $('results');
  box.classList.add('busy');
  try {
    const lang = $('query-lang').hidden ? '' : $('query-lang').value;
    const res = await api(`/api/retrieve?text=${encodeURIComponent(q)}&k=12${lang ? `&lang=${lang}` : ''}`);
    // Say which language the query was read in and why (Latin script cannot tell English from Malay).
    const why = { picked: 'as picked', script: 'detected from its script', default: `the default for Latin script${[...$('query-lang').options].some((o) => o.value === 'ms') ? ', which cannot tell English from Malay: pick Bahasa Melayu for Malay' : ''}` };
    $('query-lang-note').textContent = res.lang ? `read as ${languageName(res.lang)} (${why[res.langFrom] || res.langFrom})` : '';
    $('query-lang-note').hidden = !res.lang || $('query-lang').hidden;
    box.replaceChildren(
      ...res.results.map((r) => {
        const f = document.createElement('figure');
        const img = document.createElement('img');
        img.alt = r.captions[0] || r.name;
        if (r.thumbnail) img.src = r.thumbnail;
        // A dataset index knows each picture's caption: show it, the file id only as a small note.
        const cap = document.createElement('figcaption');
        if (r.captions[0]) {
          const said = document.createElement('span');
          said.className = 'said';
          said.textContent = r.captions[0];
          cap.append(said, document.createElement('br'));
        }
        const note = document.createElement('span');
        note.className = 'note';
        note.textContent = `${r.rank}. ${r.name} · ${r.score.toFixed(3)}`;
        cap.append(note);
        f.title = r.name;
        f.append(img, cap);
        return f;
      }),
    );
  } catch (err) {
    showError(err.message);
  } finally {
    box.classList.remove('busy');
  }
});

$('classify').addEventListener('submit', async (e) => {
  e.preventDefault();
  showError('');
  if (!picture) return showError('choose a picture first (above)');
  const fd = new FormData();
  fd.append('image', picture);
  fd.append('labels', $('labels').value);
  try {
    const res = await api('/api/classify', { method: 'POST', body: fd });
    $('classes').replaceChildren(
      ...res.results.map((r) => {
        const row = document.createElement('div');
        row.className = 'bar';
        const name = document.createElement('span');
        name.textContent = r.label;
        const bar = document.createElement('div');
        bar.style.width = `${Math.max(1, 100 * r.p)}%`;
        const pct = document.createElement('span');
        pct.textContent = `${(100 * r.p).toFixed(1)}%`;
        row.append(name, bar, pct);
        return row;
      }),
    );
  } catch (err) {
    showError(err.message);
  }
});

health();
