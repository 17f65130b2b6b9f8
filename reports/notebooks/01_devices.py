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
# What each device in `results/` really delivers, from the probes' raw records: memory bandwidth over a
# working-set sweep, kernel launch overhead (eager and CUDA Graph), GEMM rates over the model's linear
# shapes, and attention rates. Each device folder `results/<device>/<model>/` is a panel; a new folder
# shows up here without a code change. Datasheet peaks and the paper's H200 FlashAttention times are drawn
# in black (hatched or hollow) and labelled *published reference*: they were measured or printed
# elsewhere, not by this suite. Set `PHASECAL_RESULTS` to read another results folder.

# %%
from IPython.display import Markdown

from phasecal.reports import devices
from phasecal.reports.data import load_results
from phasecal.reports.style import show

results = load_results()
print(f"results folder: {results.root.name}/")
print(results.summary())
for problem in results.problems:
    print("could not read:", problem)

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
show(devices.bandwidth_sweep(results))

# %% [markdown]
# ## 2. Launch overhead, eager against CUDA Graph
#
# An empty kernel launched eagerly through Triton's launcher, a CuPy RawKernel and a torch op: the host's
# enqueue cost and the launch + sync round trip, each per launch. Beside them CUDA-Graph replay, fitted as
# a + b·nodes over graphs of 1 to 256 launches: b is what each launch costs once captured. On a CPU only
# the torch op's call cost is measured; graphs are CUDA only.

# %%
show(devices.launch_overhead(results))

# %% [markdown]
# ## 3. GEMM rates against the ceiling
#
# The model's linear layers (M = tokens in the step) through torch and Triton. At small M a GEMM reads its
# weights and does little arithmetic (memory-bound); the rate climbs towards the dense bf16 datasheet
# peak as M grows.

# %%
show(devices.gemm_rates(results))

# %% [markdown]
# ## 4. Attention rates
#
# Decode attention is a KV-cache read: its rate is bytes of K and V over time (TB/s), set beside the
# bandwidth plateau measured above (dashed) and the datasheet (dotted). Prefill attention is arithmetic:
# causal FLOPs over time (TFLOP/s). Hollow squares are the paper's FlashAttention times on an H200
# (Qwen3-8B heads), converted to the same rates. The right panel holds mixed batches at one token budget
# against their decode share: on a GPU as one unified launch and as two launches.

# %%
show(devices.attention_rates(results))
