// Reads WGSL files of shaders/ (through the host: files on disk in Node, fetched once in a
// browser) and specialises them.
//
// WGSL `override` constants cannot size function-scope arrays and cannot be subgroup lane
// indices, so register-block sizes and similar are plain module-scope consts that the caller may
// replace: `const TM: u32 = 8u;` becomes `const TM: u32 = 16u;` for defines {TM: 16}. A file stays
// valid WGSL on its own, with its default values. One directive repeats a block with a constant
// index, for builtins that need a const argument (subgroupBroadcast's lane):
//   //#unroll J SG        (SG: a define or a number)
//   ...J...               (J replaced by 0u, 1u, ... SG-1u)
//   //#end
// one shares declarations between files (a file that must start with `enable subgroups;`
// and one that must not):
//   //#include matmul_common   (the lines of shaders/matmul_common.wgsl, defines applying to them)
// and one keeps the lines of one branch, so that twins differing in a few lines (vec4 and scalar
// loads) are written once:
//   //#if VEC4              (VEC4: a bool const of the file, or a define)
//   ...                     (kept when VEC4 is true)
//   //#else                 (optional)
//   ...                     (kept when it is false)
//   //#end
// An #if may hold an #unroll; an #unroll may not hold an #if (its first #end closes it).
import { host } from '#gpu-host';

export type Defines = Record<string, number | boolean>;

export interface ShaderSource {
  /** Path shown in messages, relative to the repository root (shaders/x.wgsl). */
  path: string;
  code: string;
  /** For each generated line (0-based), where it came from: "shaders/x.wgsl:12". */
  lineMap: string[];
}

const fileCache = new Map<string, string>();

function readShader(file: string): string {
  let text = fileCache.get(file);
  if (text === undefined) {
    text = host.shaderText(file);
    fileCache.set(file, text);
  }
  return text;
}

function wgslLiteral(v: number | boolean, declared: string): string {
  if (typeof v === 'boolean') return String(v);
  if (/:\s*f32/.test(declared)) return Number.isInteger(v) ? `${v}.0` : String(v);
  if (/:\s*i32/.test(declared)) return `${v}i`;
  return `${v}u`;
}

/** Specialises `shaders/<file>.wgsl` (or `source`, when given, under that name). */
export function specialise(file: string, defines: Defines = {}, source?: string): ShaderSource {
  const path = `shaders/${file}.wgsl`;
  // Includes first, so that defines and unrolls apply to included lines as well; an included
  // file may include others (each file once along a chain: a cycle is an error).
  const lines: string[] = [];
  const origin: string[] = [];
  const expand = (text: string, at: string, chain: string[]) => {
    text.split('\n').forEach((line, i) => {
      const inc = /^\s*\/\/#include\s+(\w+)\s*$/.exec(line);
      if (!inc) {
        lines.push(line);
        origin.push(`${at}:${i + 1}`);
        return;
      }
      if (chain.includes(inc[1]!)) throw new Error(`${at}:${i + 1}: //#include ${inc[1]} includes itself (${[...chain, inc[1]].join(' → ')})`);
      expand(readShader(inc[1]!), `shaders/${inc[1]}.wgsl`, [...chain, inc[1]!]);
    });
  };
  expand(source ?? readShader(file), path, [file]);
  const used = new Set<string>();
  const values: Record<string, number | boolean> = {};
  const out: string[] = [];
  const lineMap: string[] = [];
  // Open #if blocks: `taken` while the current branch is kept, `outer` whether the enclosing ones are.
  const ifs: { taken: boolean; outer: boolean; inElse: boolean; at: string }[] = [];
  const keeping = () => ifs.every((b) => b.taken);
  let skippedUnrolls = 0; // #unroll blocks in a dropped branch: their #end is not an #if's
  for (let i = 0; i < lines.length; i++) {
    let line = lines[i]!;
    const d = /^\s*\/\/#(if|else|end|unroll)\b\s*(\w*)/.exec(line);
    if (d?.[1] === 'if') {
      const v = values[d[2]!];
      if (keeping() && typeof v !== 'boolean') throw new Error(`${origin[i]}: #if ${d[2]} names no bool const`);
      ifs.push({ taken: keeping() && v === true, outer: keeping(), inElse: false, at: origin[i]! });
      continue;
    }
    if (d?.[1] === 'else') {
      const top = ifs.at(-1);
      if (!top || top.inElse) throw new Error(`${origin[i]}: #else without #if`);
      top.inElse = true;
      top.taken = top.outer && !top.taken;
      continue;
    }
    if (!keeping()) {
      if (d?.[1] === 'unroll') skippedUnrolls++;
      else if (d?.[1] === 'end' && skippedUnrolls) skippedUnrolls--;
      else if (d?.[1] === 'end') ifs.pop();
      continue;
    }
    if (d?.[1] === 'end') {
      if (!ifs.pop()) throw new Error(`${origin[i]}: #end without #if or #unroll`);
      continue;
    }
    const m = /^const\s+([A-Za-z_]\w*)\s*(:\s*\w+)?\s*=\s*([^;]+);/.exec(line);
    if (m) {
      const name = m[1]!;
      if (name in defines) {
        line = `const ${name}${m[2] ?? ''} = ${wgslLiteral(defines[name]!, m[2] ?? '')};`;
        used.add(name);
        values[name] = defines[name]!;
      } else if (/^\s*(true|false)\s*$/.test(m[3]!)) {
        values[name] = m[3]!.trim() === 'true';
      } else {
        const n = Number(m[3]!.replace(/[uif]$/, ''));
        if (Number.isFinite(n)) values[name] = n;
      }
    }
    const u = /^\s*\/\/#unroll\s+(\w+)\s+(\w+)\s*$/.exec(line);
    if (u) {
      const [, index, countName] = u as unknown as [string, string, string];
      const count = /^\d+$/.test(countName) ? Number(countName) : Number(values[countName]);
      if (!Number.isInteger(count) || count < 1) throw new Error(`${origin[i]}: #unroll count ${countName} is not known`);
      let end = i + 1;
      while (end < lines.length && !/^\s*\/\/#end\s*$/.test(lines[end]!)) end++;
      if (end === lines.length) throw new Error(`${origin[i]}: #unroll without #end`);
      const re = new RegExp(`\\b${index}\\b`, 'g');
      for (let k = 0; k < count; k++) {
        for (let j = i + 1; j < end; j++) {
          out.push(lines[j]!.replace(re, `${k}u`));
          lineMap.push(origin[j]!);
        }
      }
      i = end;
      continue;
    }
    out.push(line);
    lineMap.push(origin[i]!);
  }
  if (ifs.length) throw new Error(`${ifs.at(-1)!.at}: #if without #end`);
  for (const name of Object.keys(defines)) {
    if (!used.has(name)) throw new Error(`${path}: define ${name} matches no module-scope const`);
  }
  return { path, code: out.join('\n'), lineMap };
}
