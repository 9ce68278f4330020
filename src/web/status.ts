// The first thing a coca page does: open the tab's GPU and say so in one sentence, or say in one
// sentence what is missing and how to get it (no WebGPU, an insecure page, a blocked adapter);
// never a stack trace. `data-state` on the element tells scripts and tests which it was.
import { NoAdapterError } from '../gpu/errors.ts';
import type { Gpu } from '../gpu/gpu.ts';
import { CocaError } from '../util/errors.ts';

/** The bit of the DOM this needs (the project compiles without the DOM's types). */
export interface StatusElement {
  textContent: string | null;
  setAttribute(name: string, value: string): void;
}

export type StartState = 'ready' | 'no-webgpu' | 'error';

/** The one sentence a visitor sees when the device would not open. */
export function startFailure(e: unknown): { state: StartState; sentence: string } {
  if (e instanceof NoAdapterError) return { state: 'no-webgpu', sentence: e.message };
  if (e instanceof CocaError) return { state: 'error', sentence: e.message };
  const first = (e instanceof Error ? e.message : String(e)).split('\n')[0];
  return { state: 'error', sentence: `coca could not start its GPU device (${first}); reload the page, and if it repeats, update the browser.` };
}

/** Opens the device with `open` and reports on `el`; resolves to the device, or null after saying why not. */
export async function startOn(el: StatusElement, open: () => Promise<Gpu>): Promise<Gpu | null> {
  el.setAttribute('data-state', 'starting');
  el.textContent = 'Opening the GPU…';
  try {
    const gpu = await open();
    const a = gpu.adapter;
    el.textContent = `coca is ready on ${[a.vendor, a.architecture, a.description].filter(Boolean).join(' ') || 'this GPU'} (WebGPU${gpu.software ? ', software' : ''}).`;
    el.setAttribute('data-state', 'ready');
    return gpu;
  } catch (e) {
    const f = startFailure(e);
    el.textContent = f.sentence;
    el.setAttribute('data-state', f.state);
    return null;
  }
}
