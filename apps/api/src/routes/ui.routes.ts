/**
 * The dashboard at /ui (docs/dashboard.md): the files of apps/ui, served as they are. They hold no
 * data and need no key (a browser cannot send one when it opens a page); the page reads everything
 * through the API with the key the user signs in with, so an operator sees the fleet and a tenant
 * its own work because the API answers each key with what it may see. Served before authentication.
 */
import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import express, { Router, type Response } from 'express';

/** Where the dashboard's files are: its page and stylesheet, its compiled modules, and Preact's. */
function uiFolders() {
  const require = createRequire(import.meta.url);
  const root = path.dirname(require.resolve('@kiln/ui/package.json'));
  const preact = path.dirname(createRequire(path.join(root, 'package.json')).resolve('preact/package.json'));
  return {
    page: path.join(root, 'public'),
    modules: path.join(root, 'dist'),
    vendor: {
      'preact.module.js': path.join(preact, 'dist/preact.module.js'),
      'hooks.module.js': path.join(preact, 'hooks/dist/hooks.module.js'),
      'jsxRuntime.module.js': path.join(preact, 'jsx-runtime/dist/jsxRuntime.module.js'),
    } as Record<string, string>,
  };
}

/**
 * The page's Content-Security-Policy: its own files only, the inline import map allowed by its
 * hash, images from blob: URLs (the page fetches them with the key), nothing framed, no forms posted.
 */
function contentSecurityPolicy(indexHtml: string): string {
  const importMap = /<script type="importmap">([\s\S]*?)<\/script>/.exec(indexHtml)?.[1] ?? '';
  const hash = createHash('sha256').update(importMap).digest('base64');
  return [
    "default-src 'none'",
    `script-src 'self' 'sha256-${hash}'`,
    "style-src 'self' 'unsafe-inline'", // progress bars set their width in a style attribute
    "img-src 'self' blob: data:",
    "connect-src 'self'",
    "base-uri 'none'",
    "form-action 'none'",
    "frame-ancestors 'none'",
  ].join('; ');
}

/** What the page needs to know before it has a key: whether the API wants one at all. */
export interface UiOptions {
  /** Local mode (no keys file): the page opens without a sign-in. */
  localMode: boolean;
}

/** The dashboard's routes; when its files are missing (not installed or not built), /ui says so and the API runs on. */
export function uiRoutes(options: UiOptions): Router {
  const router = Router({ strict: true });
  let folders: ReturnType<typeof uiFolders>;
  let indexHtml: string;
  try {
    folders = uiFolders();
    indexHtml = readFileSync(path.join(folders.page, 'index.html'), 'utf8');
  } catch (err) {
    router.use('/ui', (_req, res) => {
      res
        .status(503)
        .type('text/plain')
        .send(`The dashboard is not installed (@kiln/ui): ${(err as Error).message}`);
    });
    return router;
  }
  const built = existsSync(path.join(folders.modules, 'main.js'));
  const csp = contentSecurityPolicy(indexHtml);
  const staticOptions = {
    index: false,
    setHeaders: (res: Response) => res.set('Cache-Control', 'no-cache'),
  };

  router.use('/ui', (_req, res, next) => {
    res.set({ 'Content-Security-Policy': csp, 'Referrer-Policy': 'no-referrer', 'X-Frame-Options': 'DENY' });
    next();
  });
  // Relative links in the page need the trailing slash.
  router.get('/ui', (_req, res) => res.redirect(301, 'ui/'));
  router.get('/ui/', (_req, res) => {
    if (!built) {
      res
        .status(503)
        .type('text/plain')
        .send('The dashboard is not built: run `npm run build` (or `npx tsc -b`) in the Kiln folder.');
      return;
    }
    res.set('Cache-Control', 'no-cache').type('html').send(indexHtml);
  });
  // Asked before sign-in, so that local mode needs no key and a keyed API is not probed with none.
  router.get('/ui/mode.json', (_req, res) => {
    res.json({ local_mode: options.localMode });
  });
  router.get('/ui/vendor/preact/:file', (req, res, next) => {
    const file = folders.vendor[req.params.file];
    if (!file) return next();
    res.set('Cache-Control', 'no-cache').sendFile(file);
  });
  router.use('/ui/app', express.static(folders.modules, staticOptions));
  router.use('/ui', express.static(folders.page, staticOptions));
  router.use('/ui', (req, res) => {
    res.status(404).type('text/plain').send(`no dashboard file ${req.originalUrl}`);
  });
  return router;
}
