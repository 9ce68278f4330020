// What the browser tests share: a static server on 127.0.0.1 (WebGPU needs a secure context, and
// http://127.0.0.1 is one; about:blank and file:// are not) and Debian's chromium with WebGPU on.
import fs from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { chromium, type Browser } from 'playwright-core';

export const CHROMIUM = '/usr/bin/chromium';

/**
 * WebGPU in headless Chromium without a GPU: SwiftShader's Vulkan on the CPU, which Chromium
 * gives WebGPU only when told that unsafe is fine (../shared/research/chromium-webgpu-probe.mjs).
 */
export const WEBGPU_FLAGS = ['--enable-unsafe-webgpu', '--use-webgpu-adapter=swiftshader', '--enable-unsafe-swiftshader'];

const TYPES: Record<string, string> = { '.html': 'text/html', '.js': 'text/javascript', '.json': 'application/json', '.wgsl': 'text/plain' };

export interface Served {
  url: string;
  close(): Promise<void>;
}

/** Serves `root` (files only, nothing outside it) on a free port of 127.0.0.1. */
export async function serveDir(root: string): Promise<Served> {
  const server = http.createServer((req, res) => {
    const rel = decodeURIComponent(new URL(req.url ?? '/', 'http://x').pathname);
    const file = path.join(root, rel.endsWith('/') ? `${rel}index.html` : rel);
    if (!file.startsWith(root + path.sep) || !fs.existsSync(file) || !fs.statSync(file).isFile()) {
      res.writeHead(404).end();
      return;
    }
    res.writeHead(200, { 'content-type': TYPES[path.extname(file)] ?? 'application/octet-stream', 'cache-control': 'no-store' });
    res.end(fs.readFileSync(file));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/`,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

/** Debian's chromium, headless, WebGPU on (`webgpu: false`: as a browser without it would be). */
export function launchChromium(webgpu = true): Promise<Browser> {
  return chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: ['--no-sandbox', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync', ...(webgpu ? WEBGPU_FLAGS : ['--disable-webgpu'])],
  });
}
