// embedding.wgsl — token (+ position) embedding gather, and its deterministic backward.
//
// Entry points (kernels/embedding.ts launches them):
//   embedding_fwd      out[n, :] = table[ids[n], :] (+ pos[n % T, :]). One invocation per row and
//                      run of COLS columns, so the id is loaded once per COLS table loads.
//   embedding_bwd      dTable[r, :] (=|+=) Σ dOut[p, :] over the positions p whose id is r, summed
//                      in increasing p. The host sorts positions by token (a counting sort, see
//                      the launcher), so each row has its own contiguous list: no float atomics,
//                      and the sum order, hence every bit of the result, is fixed.
//   embedding_pos_bwd  dPos[t, :] (=|+=) Σ_b dOut[b·T + t, :], b increasing.
//
// Bindings:
//   embedding_fwd      0 Params · 1 ids u32 (read) · 2 table (read) · 3 pos (read) · 4 out (rw)
//   embedding_bwd      0 Params · 1 index u32 (read) · 2 dOut (read) · 3 dTable (rw)
//   embedding_pos_bwd  0 Params · 1 dOut (read) · 2 dPos (rw)
// index holds, at offsets given in Params: start (R+1), rowIds (R, read only without ALL_ROWS)
// and positions (N); the launcher packs it in the ids buffer (see uploadTokenIds).
// Row r of the list is vocabulary row r under ALL_ROWS (every row written, absent ones zeroed),
// else rowIds[r] (only the rows that occur are touched, for accumulation into a shared gradient).
// Invocations are numbered across a 2-D grid of 64-wide workgroups (x·64 + y·nwg.x·64), since
// one dimension holds at most 65535 workgroups.

struct Params {
  rows: u32,      // fwd: N tokens; bwd: R list rows; pos_bwd: T
  D: u32,
  T: u32,         // fwd: sequence length (pos row = n % T); bwd: offset of start; pos_bwd: B
  flags: u32,
  offTable: u32,  // fwd: table offset; bwd: offset of rowIds
  offPos: u32,    // fwd: pos offset; bwd: offset of positions
  offOut: u32,
  pad0: u32,
}

const COLS: u32 = 4u;
const HAS_POS: u32 = 1u;     // fwd
const ACCUMULATE: u32 = 2u;  // bwd, pos_bwd
const ALL_ROWS: u32 = 4u;    // bwd

@group(0) @binding(0) var<uniform> p: Params;

fn invocation(gid: vec3u, nwg: vec3u) -> u32 { return gid.y * nwg.x * 64u + gid.x; }

// ---- forward --------------------------------------------------------------------------------------
@group(0) @binding(1) var<storage, read> ids: array<u32>;
@group(0) @binding(2) var<storage, read> table: array<f32>;
@group(0) @binding(3) var<storage, read> pos: array<f32>;
@group(0) @binding(4) var<storage, read_write> out: array<f32>;

@compute @workgroup_size(64, 1, 1)
fn embedding_fwd(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let groups = (p.D + COLS - 1u) / COLS;
  let i = invocation(gid, nwg);
  if (i >= p.rows * groups) { return; }
  let n = i / groups;
  let d0 = (i % groups) * COLS;
  let src = p.offTable + ids[n] * p.D;
  let dst = p.offOut + n * p.D;
  let prow = p.offPos + (n % p.T) * p.D;
  for (var c = 0u; c < COLS; c++) {
    let d = d0 + c;
    if (d < p.D) {
      var v = table[src + d];
      if ((p.flags & HAS_POS) != 0u) { v += pos[prow + d]; }
      out[dst + d] = v;
    }
  }
}

// ---- backward -------------------------------------------------------------------------------------
@group(0) @binding(1) var<storage, read> index: array<u32>;
@group(0) @binding(2) var<storage, read> dOut: array<f32>;
@group(0) @binding(3) var<storage, read_write> dTable: array<f32>;

@compute @workgroup_size(64, 1, 1)
fn embedding_bwd(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let groups = (p.D + COLS - 1u) / COLS;
  let i = invocation(gid, nwg);
  if (i >= p.rows * groups) { return; }
  let r = i / groups;
  let d0 = (i % groups) * COLS;
  var row = r;
  if ((p.flags & ALL_ROWS) == 0u) { row = index[p.offTable + r]; }
  var acc: array<f32, COLS>;
  for (var k = index[p.T + r]; k < index[p.T + r + 1u]; k++) {
    let src = index[p.offPos + k] * p.D + d0;
    for (var c = 0u; c < COLS; c++) {
      // Clamped rather than branched: the read stays inside the row's buffer and the extra
      // columns are never stored.
      acc[c] += dOut[src + min(c, p.D - 1u - d0)];
    }
  }
  let dst = p.offOut + row * p.D + d0;
  for (var c = 0u; c < COLS; c++) {
    if (d0 + c < p.D) {
      var v = acc[c];
      if ((p.flags & ACCUMULATE) != 0u) { v += dTable[dst + c]; }
      dTable[dst + c] = v;
    }
  }
}

// ---- position backward ----------------------------------------------------------------------------
@group(0) @binding(1) var<storage, read> dOutP: array<f32>;
@group(0) @binding(2) var<storage, read_write> dPos: array<f32>;

@compute @workgroup_size(64, 1, 1)
fn embedding_pos_bwd(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let i = invocation(gid, nwg);
  if (i >= p.rows * p.D) { return; }
  let t = i / p.D;
  let d = i % p.D;
  var acc = 0.0;
  for (var b = 0u; b < p.T; b++) { acc += dOutP[(b * p.rows + t) * p.D + d]; }
  let dst = p.offOut + t * p.D + d;
  if ((p.flags & ACCUMULATE) != 0u) { acc += dPos[dst]; }
  dPos[dst] = acc;
}
