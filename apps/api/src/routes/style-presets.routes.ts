/**
 * `GET /v1/style-presets`: the names `style_preset` takes, each with the two templates it applies
 * (`{prompt}` in `prompt` stands for the request's prompt; `negative_prompt` is appended to the
 * request's). Behind the same authentication as every other read.
 */
import { STYLE_PRESETS } from '@kiln/contracts';
import { Router } from 'express';

export function stylePresetsRoutes(): Router {
  const router = Router();
  // The list is fixed for the life of the process: one body, built once.
  const body = { presets: STYLE_PRESETS };
  router.get('/v1/style-presets', (_req, res) => {
    res.json(body);
  });
  return router;
}
