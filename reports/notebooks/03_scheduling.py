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
# # Scheduling: MB, EB and EB+ per device profile
#
# How the reference schedulers do on each device profile: MB (mixed batching, vLLM v1's default), EB
# (exclusive batching with thresholds derived from the profile) and EB+ (switches between them online).
# Numbers come from the scheduler summaries (`phasecal simulate`) found under `results/`, simulated from
# each device's fitted profile unless the panel says executed. Runs on the paper's published H200
# calibration sit under `results/reference/` and are labelled *published reference calibration*.
# Set `PHASECAL_RESULTS` to read another results folder.

# %%
from IPython.display import Markdown

from phasecal.reports import scheduling
from phasecal.reports.data import load_results
from phasecal.reports.style import show

results = load_results()
runs = scheduling.load_scheduler_runs(results)
print(f"results folder: {results.root.name}/")
print(f"{len(runs)} policy runs from {len({r.source for r in runs})} summary files")
for problem in results.problems:
    print("could not read:", problem)

# %% [markdown]
# ## Which scheduler wins where
#
# Per device profile and workload (μ_L/μ_O mix and concurrency c), the policy with the highest throughput
# and its margin over the runner-up, and the policies with the lowest median TTFT and TPOT.

# %%
Markdown(scheduling.winners_markdown(results))

# %% [markdown]
# ## 1. Throughput
#
# Input plus output tokens per second over the run; ★ marks the best policy of each workload.

# %%
show(scheduling.scheduler_throughput(results))

# %% [markdown]
# ## 2. Latency: TTFT and TPOT
#
# Bars are medians, whiskers reach the 90th percentile. EB trades TTFT (requests wait for the next
# prefill phase) for TPOT (decode steps carry no prefill work).

# %%
show(scheduling.scheduler_latency(results))

# %% [markdown]
# ## 3. Against concurrency
#
# The paper's crossover says light load favours MB and heavy load EB: the right side of its inequality
# falls as 1/N. Workloads run at several concurrencies show where that happens on each device.

# %%
show(scheduling.scheduler_concurrency(results))
