#!/usr/bin/env node
// Entry point of the `coca` command: registers tsx so the TypeScript sources run as they are
// (no build step between an edit and a run), then hands over to the yargs program.
import { register } from 'tsx/esm/api';
register();
await import('../src/cli/main.ts');
