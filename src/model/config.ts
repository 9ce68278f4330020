// Model configs from files: the presets in ./configs/ and JSON config files on disk. What a
// config is, its defaults and its rules: config-schema.ts.
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseConfig, PRESETS, type CocaConfig } from './config-schema.ts';
import { ConfigError } from './errors.ts';

export * from './config-schema.ts';

export const CONFIG_DIR = path.join(path.dirname(fileURLToPath(import.meta.url)), 'configs');

/** Configs in ./configs/ beside the presets, loadable by name too (not sizes of the one ViT CoCa). */
export const BUNDLED_CONFIGS = ['nano-cnn'] as const;

/** A preset name (nano, tiny, small, b32), a bundled config's name (nano-cnn) or a path to a JSON config file. */
export function loadConfig(presetOrPath: string): CocaConfig {
  const isPreset = ([...PRESETS, ...BUNDLED_CONFIGS] as readonly string[]).includes(presetOrPath);
  const file = isPreset ? path.join(CONFIG_DIR, `${presetOrPath}.json`) : presetOrPath;
  if (!isPreset && !fs.existsSync(file)) {
    throw new ConfigError(`config ${presetOrPath}: no such preset or file (presets: ${PRESETS.join(', ')}; bundled configs: ${BUNDLED_CONFIGS.join(', ')})`);
  }
  const where = isPreset ? `preset ${presetOrPath}` : `config ${file}`;
  let raw: unknown;
  try {
    raw = JSON.parse(fs.readFileSync(file, 'utf8'));
  } catch (e) {
    throw new ConfigError(`${where}: not readable JSON (${(e as Error).message})`);
  }
  return parseConfig(raw, where);
}
