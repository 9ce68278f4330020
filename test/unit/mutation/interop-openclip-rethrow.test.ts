// src/interop/openclip.ts, cocaConfigOf: only parseConfig's ConfigError (what is wrong with the
// user's config) becomes the one-line InteropError; anything else parseConfig throws is a fault of
// coca's and must surface as itself, not disguised as a config problem. parseConfig throws only
// ConfigError on what JSON can hold, so a stand-in that throws a TypeError for one config name
// stands for such a fault (vi.mock: the rest of config.ts is the real one).
import { describe, expect, it, vi } from 'vitest';
import { cocaConfigOf } from '../../../src/interop/openclip.ts';
import { HUB } from './interop-st.ts';

vi.mock('../../../src/model/config.ts', async (importOriginal) => {
  const real = await importOriginal<typeof import('../../../src/model/config.ts')>();
  return {
    ...real,
    parseConfig: (raw: unknown, where?: string) => {
      if (where === 'fault.json') throw new TypeError('a fault inside parseConfig');
      return real.parseConfig(raw, where);
    },
  };
});

describe('cocaConfigOf: what parseConfig throws', () => {
  it('a TypeError passes through unchanged; the same config under another name parses', () => {
    const oc = (where: string) => ({ model: structuredClone(HUB.model_cfg), where });
    expect(cocaConfigOf(oc('fine.json'), []).embed_dim).toBe(16);
    let err: unknown;
    try {
      cocaConfigOf(oc('fault.json'), []);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(TypeError);
    expect((err as Error).message).toBe('a fault inside parseConfig');
  });
});
