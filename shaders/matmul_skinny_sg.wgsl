// matmul_skinny_sg.wgsl — matmul_skinny.wgsl with SG_A: the A values (layernorm-normalised with
// LN) loaded once per subgroup and shuffled to its lanes. A file of its own because it must start
// with `enable subgroups;` and matmul.wgsl must not (it runs where subgroups are missing).
enable subgroups;

//#include matmul_common
//#include layernorm_row

const SG: u32 = 8u;  // the adapter's (fixed) subgroup size
const SG_A: bool = true;

//#include matmul_skinny
