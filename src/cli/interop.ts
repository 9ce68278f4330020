// `coca import open_clip SRC --out DIR` and `coca export open_clip CHECKPOINT --out DIR`: open_clip's
// CoCa checkpoints in and out (src/interop/openclip.ts).
import type { Argv } from 'yargs';
import { exportOpenClip, importOpenClip, OPENCLIP_CONFIGS } from '../interop/openclip.ts';

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
  describe: 'Write a coca checkpoint as another tool loads it (open_clip: create_model + load_state_dict strict)',
  builder: (y: Argv) =>
    y
      .positional('format', { choices: ['open_clip'] as const, describe: 'the tool to load it' })
      .positional('checkpoint', { type: 'string', describe: 'a coca checkpoint folder (open_clip layout: attentional_pool true)' })
      .option('out', { type: 'string', demandOption: true, describe: 'folder to write open_clip_model.safetensors and open_clip_config.json in (new or empty)' })
      .example('$0 export open_clip runs/b32/best --out to-openclip', 'then open_clip loads it with pretrained=to-openclip/open_clip_model.safetensors'),
  handler: (a: ExportArgs) => {
    const r = exportOpenClip(a.checkpoint!, a.out);
    for (const n of r.notes) console.error(`coca: note: ${n}`);
    console.log(`${a.out}: ${r.tensors} tensors in open_clip_model.safetensors, open_clip_config.json`);
  },
};
