# ---
# jupyter:
#   jupytext:
#     formats: ipynb,py:percent
#     text_representation:
#       extension: .py
#       format_name: percent
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # Devices side by side
#
# Which device is faster, and at what? Every device folder `results/<device>/<model>/` is one line on
# shared axes (a new folder joins without a code change, also through a symlink), beside the published
# H200 calibration and datasheet figures, drawn in black and labelled *published reference*: those were
# measured or printed elsewhere, not by this suite. Then a roofline per device, and the probes' detail.
# `PHASECAL_RESULTS` (several folders joined by `:`) reads other results folders; `phasecal report
# --results A --results B` does the same.

# %%
from IPython.display import Markdown

from phasecal.reports import (
    compare,
    device_attention,
    device_bandwidth,
    device_gemm,
    device_launch,
    devices,
    ratios,
    roofline,
)
from phasecal.reports.data import load_results
from phasecal.reports.style import show

results = load_results()
print(f"results folders: {results.where}")
print(results.summary())
for problem in results.problems:
    print("could not read:", problem)

# %% [markdown]
# ## How many times faster than the baseline
#
# Each device's headline numbers, and in brackets how many times faster than the baseline device (the
# first measured one; pass `baseline="..."` to choose another). A published reference has step costs only
# (the paper's calibration): its device's rates were not measured, so they show as —.

# %%
Markdown(ratios.ratio_markdown(results))

# %% [markdown]
# ## Devices on shared axes
#
# Copy bandwidth against working-set size: the cache plateau on the left, memory on the right. The
# black dotted lines are the datasheet bandwidths of the devices shown (`probes/peaks.json`).

# %%
show(compare.bandwidth_by_device(results))

# %% [markdown]
# Step time against tokens: pure-prefill steps of one fresh prompt, and pure-decode steps at one KV
# context, each device's measured medians beside the H200 calibration's α + β·n fit. The models differ
# (`tiny` on the CPU, Qwen3-8B on the H200), so the gap is device and model together.

# %%
show(compare.step_cost_by_device(results))

# %% [markdown]
# β_MB(r), the marginal cost per token of a mixed step at decode share r, and the decode cost of one
# more sequence against its KV context (the slope of decode step time over batch size at each context;
# the H200 calibration gives one β_d over its contexts).

# %%
show(compare.beta_mb_by_device(results))

# %%
show(compare.decode_cost_by_context(results))

# %% [markdown]
# ## Roofline per device
#
# Attained TFLOP/s against arithmetic intensity. The coloured roof is this suite's measured ceilings
# (copy plateau, best GEMM), the dotted black one the datasheet's; where they cross is the ridge point.
# Each GEMM, attention kernel and whole step sits at its own intensity: below the sloped part it is bound
# by memory, below the flat part by arithmetic. The H200 panel holds the paper's FlashAttention times.

# %%
show(roofline.roofline(results))

# %% [markdown]
# ## Headline: which device is faster at what
#
# Bandwidth at the largest working set (the memory plateau, best kernel), the cheapest eager launch, the
# CUDA-Graph cost per node, and the best GEMM rate, per device; hatched bars are datasheet peaks.

# %%
Markdown(devices.headline_markdown(results))

# %%
show(devices.device_summary(results))

# %% [markdown]
# Not every probe runs everywhere; the suite records what it skipped on each device and why:

# %%
Markdown(devices.skipped_markdown(results))

# %% [markdown]
# ## 1. Attained bandwidth against working-set size
#
# BabelStream kernels (copy, scale, add, triad, read, write), bytes counted as BabelStream counts them
# (arrays read plus written, once each), one panel per implementation (Triton and CuPy kernels on a GPU,
# torch's own ops everywhere). Solid lines reuse warm buffers, so small working sets run from the cache
# (its size is the vertical line); dashed lines flush the cache before every sample. The plateau to the
# right is the memory bandwidth; the dotted black line is the datasheet figure.

# %%
show(device_bandwidth.bandwidth_sweep(results))

# %% [markdown]
# ## 2. Launch overhead, eager against CUDA Graph
#
# An empty kernel launched eagerly through Triton's launcher, a CuPy RawKernel and a torch op: the host's
# enqueue cost and the launch + sync round trip, each per launch. Beside them CUDA-Graph replay, fitted as
# a + b·nodes over graphs of 1 to 256 launches: b is what each launch costs once captured. On a CPU only
# the torch op's call cost is measured; graphs are CUDA only.

# %%
show(device_launch.launch_overhead(results))

# %% [markdown]
# ## 3. GEMM rates against the ceiling
#
# The model's linear layers (M = tokens in the step) through torch and Triton. At small M a GEMM reads its
# weights and does little arithmetic (memory-bound); the rate climbs towards the dense bf16 datasheet
# peak as M grows.

# %%
show(device_gemm.gemm_rates(results))

# %% [markdown]
# ## 4. Attention rates
#
# Decode attention is a KV-cache read: its rate is bytes of K and V over time (TB/s), set beside the
# bandwidth plateau measured above (dashed) and the datasheet (dotted). Prefill attention is arithmetic:
# causal FLOPs over time (TFLOP/s). Hollow squares are the paper's FlashAttention times on an H200
# (Qwen3-8B heads), converted to the same rates. The right panel holds mixed batches at one token budget
# against their decode share: on a GPU as one unified launch and as two launches.

# %%
show(device_attention.attention_rates(results))
