// The root of coca's own errors. Each carries one line meant for a person: what went wrong and
// what to do; the CLI prints `message` alone (no stack) for any CocaError. It lives in util, a
// leaf, so that every layer (data, model, serve, ...) can derive its errors without importing gpu.

export class CocaError extends Error {
  override name = 'CocaError';
}
