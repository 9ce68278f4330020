// `coca import open_clip SRC --out DIR` and `coca export open_clip CHECKPOINT --out DIR`: open_clip's
// CoCa checkpoints in and out (src/interop/openclip.ts); `coca export web CHECKPOINT --out SITE`:
// a static site captioning on the visitor's GPU (src/web/export.node.ts).
import type { Argv } from 'yargs';
import { resolveCheckpointDir } from '../infer/load.ts';
import { InteropError } from '../interop/errors.ts';
import { exportOpenClip, importOpenClip, OPENCLIP_CONFIGS } from '../interop/openclip.ts';
import { exportWeb, WEB_WEIGHTS, type WebWeights } from '../web/export.node.ts';

interface ImportArgs {
  format?: string;
  src?: string;
  out: string;
  config?: string;
}

interface ExportArgs {
  format?: string;
  checkpoint?: string;
  out: string;
  index?: string;
  weights?: WebWeights;
}

export const importCommand = {
  command: 'import <format> <src>',
  describe: "Make a coca checkpoint of another tool's checkpoint (open_clip's CoCa)",
  builder: (y: Argv) =>
    y
      .positional('format', { choices: ['open_clip'] as const, describe: 'the tool that wrote SRC' })
      .positional('src', { type: 'string', describe: 'open_clip_model.safetensors, open_clip_pytorch_model.bin, an epoch_N.pt, or the folder a download made' })
      .option('out', { type: 'string', demandOption: true, describe: 'the coca checkpoint folder to write (new or empty)' })
      .option('config', { type: 'string', describe: `the model: ${OPENCLIP_CONFIGS.join(' | ')} | an open_clip config file.json [default: open_clip_config.json beside SRC, else the known config its tensors fit]` })
      .example('$0 import open_clip ~/Downloads/coca_ViT-B-32 --out ckpt/coca-b32', 'a hub download (open_clip_model.safetensors + open_clip_config.json)')
      .example('$0 import open_clip logs/run/checkpoints/epoch_10.pt --config coca_ViT-B-32 --out ckpt/mine', 'a run of open_clip training'),
  handler: (a: ImportArgs) => {
    const r = importOpenClip(a.src!, a.out, a.config);
    for (const n of r.notes) console.error(`coca: note: ${n}`);
    console.log(`${a.out}: ${r.tensors} tensors (${(r.params / 1e6).toFixed(2)} M parameters, ${r.dtypes.join('/')} → F32) from ${r.file}, model ${r.configFrom}, ${r.tokenizer === 'clip' ? "CLIP's tokenizer" : 'no tokenizer'}`);
  },
};

export const exportCommand = {
  command: 'export <format> <checkpoint>',
  describe: 'Write a coca checkpoint as another tool loads it (open_clip: create_model + load_state_dict strict; web: a static site that captions on the visitor\'s GPU)',
  builder: (y: Argv) =>
    y
      .positional('format', { choices: ['open_clip', 'web'] as const, describe: 'the tool to load it, or web for a static site' })
      .positional('checkpoint', { type: 'string', describe: 'a coca checkpoint folder (open_clip: layout attentional_pool true); web: also a run folder (its last checkpoint)' })
      .option('out', { type: 'string', demandOption: true, describe: 'folder to write in (new or empty): open_clip_model.safetensors and open_clip_config.json, or the site' })
      .option('index', { type: 'string', describe: "web only: a retrieval index made with this checkpoint ('coca index build'), searched by text on the page [default: none]" })
      .option('weights', { choices: WEB_WEIGHTS, describe: 'web only: how model/ stores the weights: f16 (half precision: half the download, widened to float32 on load; the captions of the test pictures are unchanged) or f32 (as trained) [default: f16]' })
      .example('$0 export open_clip runs/b32/best --out to-openclip', 'then open_clip loads it with pretrained=to-openclip/open_clip_model.safetensors')
      .example('$0 export web runs/nano --out site', 'then serve site/ over https or from localhost (python3 -m http.server -d site)'),
  handler: async (a: ExportArgs) => {
    if (a.format === 'web') {
      const r = await exportWeb(resolveCheckpointDir(a.checkpoint), a.out, a.index, a.weights ?? 'f16');
      const mb = (n: number) => `${(n / 2 ** 20).toFixed(2)} MiB`;
      const stored = r.tensors ? `weights f16${r.tensors.f32 ? `, ${r.tensors.f32} tensors f32 (too large for a half)` : ''}` : 'weights f32';
      console.log(`${a.out}: index.html, site.js (${mb(r.bundle)}), shaders/ (${mb(r.shaders)}), model/ (${mb(r.model)}, ${stored})${a.index ? `, index/ (${mb(r.index)})` : ''}; ${mb(r.total)} in all`);
      return;
    }
    if (a.index !== undefined) throw new InteropError('--index is for coca export web only; open_clip has no retrieval index');
    if (a.weights !== undefined) throw new InteropError('--weights is for coca export web only; open_clip loads the float32 weights as trained');
    const r = exportOpenClip(a.checkpoint!, a.out);
    for (const n of r.notes) console.error(`coca: note: ${n}`);
    console.log(`${a.out}: ${r.tensors} tensors in open_clip_model.safetensors, open_clip_config.json`);
  },
};
