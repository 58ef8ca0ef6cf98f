/// <reference types="vitest/config" />
import react from "@vitejs/plugin-react";
import { defineConfig } from "vite";
import { compression, defineAlgorithm } from "vite-plugin-compression2";

// `make dev-frontend`: Vite serves the app with hot reload and forwards the API to the
// service (`make run`, or API_URL).
const api = process.env.API_URL ?? "http://127.0.0.1:8000";

export default defineConfig({
  plugins: [
    react(),
    // Pre-compressed copies (name.br, name.gz) beside each text asset: the service sends the one
    // the browser accepts without compressing on each request (app/web.py).
    compression({
      algorithms: [
        defineAlgorithm("brotliCompress", { params: { 1: 11 } }),
        defineAlgorithm("gzip", { level: 9 }),
      ],
      threshold: 1024,
      include: [/\.(js|mjs|css|html|svg|json)$/],
    }),
  ],
  server: {
    host: "127.0.0.1",
    port: 5173,
    strictPort: true,
    proxy: {
      "/api": { target: api, changeOrigin: false },
      "/healthz": api,
    },
  },
  build: {
    outDir: "dist",
    emptyOutDir: true,
    sourcemap: false,
    // Vite's inline modulepreload polyfill would need 'unsafe-inline' in the CSP.
    modulePreload: { polyfill: false },
    chunkSizeWarningLimit: 600,
  },
  test: {
    environment: "node",
    include: ["src/**/*.test.ts"],
  },
});
