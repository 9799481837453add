"""
Reference values for Kiln's LCMScheduler, computed from diffusers 0.38's formulas
(src/diffusers/schedulers/scheduling_lcm.py) transliterated to numpy, since torch is not
available where Kiln is built. Regenerate from the repository root with:

    python3 packages/diffusion/src/schedulers/reference/lcm_reference.py \
        > packages/diffusion/src/schedulers/reference/lcm-reference.json

Where torch's dtype rules differ from numpy's, this script follows torch:
- betas are float32 (`torch.linspace(..., dtype=float32) ** 2`); numpy's linspace rounds from float64,
  which can differ from torch's float32 kernel in the last bit of a beta, far below the tolerances used;
- `torch.cumprod` on a float32 CPU tensor accumulates in double, so the product is taken in float64;
- in the pipeline `t` is a 0-dim int64 tensor, so `t * timestep_scaling` and the boundary scalings
  c_skip and c_out are float32 tensor arithmetic, not Python floats;
- every tensor operation of `step` rounds to float32.
The step noise is not torch's (no torch here): it is drawn with numpy and stored, and the test
replays it through a random source, so the test pins the arithmetic and the order of the draws.
"""

import json
import sys

import numpy as np

F = np.float32

# Stable Diffusion 1.5's scheduler/scheduler_config.json (LCMScheduler.from_config keeps the keys it knows).
SD15_CONFIG = {
    "beta_end": 0.012,
    "beta_schedule": "scaled_linear",
    "beta_start": 0.00085,
    "clip_sample": False,
    "num_train_timesteps": 1000,
    "set_alpha_to_one": False,
    "steps_offset": 1,
    "trained_betas": None,
}

LCM_DEFAULTS = {
    "num_train_timesteps": 1000,
    "beta_start": 0.00085,
    "beta_end": 0.012,
    "beta_schedule": "scaled_linear",
    "trained_betas": None,
    "original_inference_steps": 50,
    "clip_sample": False,
    "clip_sample_range": 1.0,
    "set_alpha_to_one": True,
    "steps_offset": 0,
    "prediction_type": "epsilon",
    "timestep_scaling": 10.0,
}


class LCMScheduler:
    """numpy transliteration of diffusers' LCMScheduler (the options Kiln supports)."""

    def __init__(self, **config):
        c = {**LCM_DEFAULTS, **{k: v for k, v in config.items() if k in LCM_DEFAULTS}}
        self.config = c
        n = c["num_train_timesteps"]
        assert c["beta_schedule"] == "scaled_linear" and c["trained_betas"] is None
        roots = np.linspace(c["beta_start"] ** 0.5, c["beta_end"] ** 0.5, n).astype(F)
        self.betas = (roots * roots).astype(F)
        alphas = (F(1.0) - self.betas).astype(F)
        self.alphas_cumprod = np.cumprod(alphas.astype(np.float64)).astype(F)
        self.final_alpha_cumprod = F(1.0) if c["set_alpha_to_one"] else self.alphas_cumprod[0]
        self.num_inference_steps = None
        self.timesteps = None
        self._step_index = None
        self._begin_index = None

    def set_timesteps(self, num_inference_steps, original_inference_steps=None):
        c = self.config
        original_steps = original_inference_steps or c["original_inference_steps"]
        assert original_steps <= c["num_train_timesteps"]
        k = c["num_train_timesteps"] // original_steps
        lcm_origin_timesteps = np.asarray(list(range(1, int(original_steps * 1.0) + 1))) * k - 1
        skipping_step = len(lcm_origin_timesteps) // num_inference_steps
        assert skipping_step >= 1 and num_inference_steps <= original_steps
        self.num_inference_steps = num_inference_steps
        lcm_origin_timesteps = lcm_origin_timesteps[::-1].copy()
        inference_indices = np.linspace(0, len(lcm_origin_timesteps), num=num_inference_steps, endpoint=False)
        inference_indices = np.floor(inference_indices).astype(np.int64)
        self.timesteps = lcm_origin_timesteps[inference_indices].astype(np.int64)
        self._step_index = None
        self._begin_index = None

    def set_begin_index(self, begin_index):
        self._begin_index = begin_index

    def scalings(self, timestep):
        sigma_data = 0.5
        scaled_timestep = F(timestep) * F(self.config["timestep_scaling"])
        c_skip = F(F(1.0) / F(scaled_timestep * scaled_timestep + F(sigma_data**2))) * F(sigma_data**2)
        c_out = F(scaled_timestep / F(np.sqrt(F(scaled_timestep * scaled_timestep + F(sigma_data**2)))))
        return F(c_skip), F(c_out)

    def step(self, model_output, timestep, sample, draw_noise):
        if self._step_index is None:
            if self._begin_index is None:
                indices = np.nonzero(self.timesteps == timestep)[0]
                self._step_index = int(indices[1 if len(indices) > 1 else 0])
            else:
                self._step_index = self._begin_index
        prev_step_index = self._step_index + 1
        prev_timestep = self.timesteps[prev_step_index] if prev_step_index < len(self.timesteps) else timestep
        alpha_prod_t = self.alphas_cumprod[timestep]
        alpha_prod_t_prev = self.alphas_cumprod[prev_timestep] if prev_timestep >= 0 else self.final_alpha_cumprod
        beta_prod_t = F(1 - alpha_prod_t)
        beta_prod_t_prev = F(1 - alpha_prod_t_prev)
        c_skip, c_out = self.scalings(timestep)
        assert self.config["prediction_type"] == "epsilon"
        pred_x0 = ((sample - F(np.sqrt(beta_prod_t)) * model_output) / F(np.sqrt(alpha_prod_t))).astype(F)
        if self.config["clip_sample"]:
            r = F(self.config["clip_sample_range"])
            pred_x0 = np.clip(pred_x0, -r, r)
        denoised = (c_out * pred_x0 + c_skip * sample).astype(F)
        if self._step_index != self.num_inference_steps - 1:
            noise = draw_noise(model_output.shape)
            prev_sample = (F(np.sqrt(alpha_prod_t_prev)) * denoised + F(np.sqrt(beta_prod_t_prev)) * noise).astype(F)
        else:
            prev_sample = denoised
        self._step_index += 1
        return prev_sample, denoised


def floats(a):
    return [float(v) for v in np.asarray(a, dtype=F).ravel()]


def loop(steps, begin_index, x0, noise_seed):
    """The reference loop: the analytic stand-in model eps = 0.1 * x + 0.01 * t / 1000 (float32)."""
    s = LCMScheduler(**SD15_CONFIG)
    s.set_timesteps(steps)
    timesteps = s.timesteps[begin_index:]
    if begin_index:
        s.set_begin_index(begin_index)
    rng = np.random.default_rng(noise_seed)
    drawn = []

    def draw_noise(shape):
        z = rng.standard_normal(shape).astype(F)
        drawn.append(floats(z))
        return z

    x = x0.copy()
    per_step = []
    for t in timesteps:
        eps = (F(0.1) * x + F(0.01) * F(F(t) / F(1000))).astype(F)
        x, denoised = s.step(eps, int(t), x, draw_noise)
        per_step.append({"timestep": int(t), "denoised": floats(denoised), "prev_sample": floats(x)})
    return {"steps": steps, "begin_index": begin_index, "noise": drawn, "per_step": per_step, "final_x": floats(x)}


def main():
    shape = (1, 4, 4, 4)
    x0 = np.sin(np.arange(np.prod(shape), dtype=np.float64) * 0.37 + 0.1).reshape(shape).astype(F) * F(1.5)
    by_steps = {}
    for steps in [1, 2, 3, 4, 6, 7, 8, 20, 49, 50]:
        s = LCMScheduler(**SD15_CONFIG)
        s.set_timesteps(steps)
        by_steps[str(steps)] = {
            "timesteps": [int(t) for t in s.timesteps],
            "c_skip": [float(s.scalings(int(t))[0]) for t in s.timesteps],
            "c_out": [float(s.scalings(int(t))[1]) for t in s.timesteps],
        }
    original_100 = {}
    for steps in [4, 6]:
        s = LCMScheduler(**{**SD15_CONFIG, "original_inference_steps": 100})
        s.set_timesteps(steps)
        original_100[str(steps)] = [int(t) for t in s.timesteps]
    small_t = LCMScheduler(**SD15_CONFIG)
    out = {
        "source": "diffusers 0.38 LCMScheduler formulas, numpy float32 (lcm_reference.py)",
        "sd15_scheduler_config": SD15_CONFIG,
        "shape": list(shape),
        "x0": floats(x0),
        "model": "eps = float32(0.1 * x + 0.01 * (float32(t) / 1000))",
        "alphas_cumprod_at": {str(t): float(small_t.alphas_cumprod[t]) for t in [0, 19, 259, 499, 759, 999]},
        "scalings_at": {str(t): list(map(float, small_t.scalings(t))) for t in [0, 1, 2, 19, 999]},
        "by_steps": by_steps,
        "original_inference_steps_100": original_100,
        "loops": [loop(4, 0, x0, 11), loop(8, 0, x0, 12), loop(4, 2, x0, 13), loop(1, 0, x0, 14)],
    }
    json.dump(out, sys.stdout)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
