export const benchCommand = { command: "bench", describe: "x", handler: () => {} };
