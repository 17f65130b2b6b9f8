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
# ## 1. Attained bandwidth against working-set size
#
# BabelStream kernels (copy, scale, add, triad, read, write) counted as BabelStream counts bytes. Small
# working sets fit in the last-level cache (vertical line) and run faster; the plateau to the right is
# the memory bandwidth. The dashed black line is the datasheet figure.

# %%
show(devices.bandwidth_sweep(results))

# %% [markdown]
# ## 2. Launch overhead, eager against CUDA Graph
#
# An empty kernel launched eagerly (per launch) against the same kernels replayed from a CUDA Graph (per
# node, the slope of replay time over graph size). CUDA only: a CPU has no kernel launches to measure.

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
# Decode attention is a KV-cache read: its rate is bytes of K and V over time (TB/s), to set beside the
# bandwidth plateau. Prefill attention is arithmetic: causal FLOPs over time (TFLOP/s). Hollow squares are
# the paper's FlashAttention times on an H200 (Qwen3-8B heads), converted to the same rates.

# %%
show(devices.attention_rates(results))
