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
# # Scheduling: MB, EB, EB+ and fair per device profile
#
# How the reference schedulers do on each device profile: MB (mixed batching, vLLM v1's default), EB
# (exclusive batching with thresholds derived from the profile) and EB+ (switches between them online).
# Numbers come from the schedule documents (`phasecal run`, `phasecal simulate --out`) found under
# `results/`, simulated from each device's fitted profile unless the panel says executed. phasecal's runs
# on the paper's published H200 calibration (`results/reference/`) sit under `results/derived/` and are
# labelled *published calibration*.
# Set `PHASECAL_RESULTS` to read another results folder.

# %%
from IPython.display import Markdown

from phasecal.reports import fair_study, load_curves, scheduling
from phasecal.reports.data import load_results
from phasecal.reports.load_files import read_sweeps, read_validation_throughput, read_validations
from phasecal.reports.load_sweep import sweep_profiles
from phasecal.reports.provenance import provenance
from phasecal.reports.style import show

results = load_results()
runs = scheduling.load_scheduler_runs(results)
print(f"results folders: {results.where}")
print(f"{len(runs)} policy runs from {len({r.source for r in runs})} summary files")
for problem in results.problems:
    print("could not read:", problem)

# %% [markdown]
# ## Under load: which policy wins, up to what load
#
# The Azure conversation trace replayed at offered loads ρ, fractions of each profile's capacity (MB's
# saturated throughput on it, in closed form): arrival times compressed or stretched, `azure_conv:load=ρ`.
# Committed sweeps come from `phasecal simulate --sweep load=… --out DIR` (and the CDFs from one run at a
# load with `--out`, which writes every request); a profile without one is simulated here on the trace's
# first 1,000 requests, in a few seconds. Policies: MB, EB, EB+ and fair (SLO-aware, section 4).

# %%
entries = results.profiles()
sweep, sources = read_sweeps(results)
swept = {p.profile for p in sweep.points}
todo = [(label, profile, is_ref) for label, profile, _, is_ref, _ in entries if label not in swept]
if todo:
    sweep = sweep.merged_all([sweep_profiles(todo, requests=1000, loads=(0.25, 0.5, 0.75, 0.9, 1.0, 1.2),
                                              policies=("mb", "eb", "ebplus", "fair"))])
    sources += [e[2] for e in entries if e[0] not in swept] + ["scheduler/traces/azure_llm_2023_conv.csv"]
footer = provenance(e[4] for e in entries)
print(f"{len(sweep.points)} load points on {len({p.profile for p in sweep.points})} profiles; "
      f"from files: {', '.join(sorted(swept)) or 'none'}; simulated here: {', '.join(t[0] for t in todo) or 'none'}")

# %% [markdown]
# Throughput against latency: each point is one offered load, left to right. Up to capacity every policy
# serves what arrives, so the curves differ in latency only; past it throughput flattens and TTFT climbs
# by orders of magnitude (queueing). The dotted line is the SLO.

# %%
show(load_curves.throughput_latency(sweep, sources, footer))

# %% [markdown]
# Capacity: the highest offered load at which at least 90% of requests meet both SLOs (ties within 1%
# named together, none bold).

# %%
Markdown(load_curves.capacity_markdown(sweep))

# %% [markdown]
# TTFT and TPOT distributions of every request, at the load nearest 70% of each profile's capacity that
# has per-request latencies.

# %%
show(load_curves.latency_cdfs(sweep, 0.55, sources, footer))

# %% [markdown]
# Predicted against observed winner per load point: Δ(N)'s verdict for the trace ("too close to call",
# marked ·, when its bootstrap interval spans 0) against the policy among MB, EB and EB+ with the highest
# SLO attainment in the simulation (then throughput; within 1% is a tie, and a tie that includes the
# prediction agrees).

# %%
Markdown(load_curves.validation_markdown(load_curves.sweep_validation(sweep), "simulated winner"))

# %% [markdown]
# The same question executed: `phasecal validate` runs MB, EB and EB+ on the device over a closed-loop
# load sweep, with repeats, and sets Δ(N)'s verdict against the executed winner of MB and EB; a point whose
# executed gap (the mean of each repeat's EB − MB gap, the two run back to back) is within the noise (the
# spread of those gaps) is not counted.

# %%
validated, validation_sources = read_validations(results)
Markdown(load_curves.validation_markdown(validated, "executed winner", "load point") if validated else
         "*Executed validation: not run yet; run `phasecal validate` to fill it.*")

# %% [markdown]
# Executed against simulated throughput at the same load points: each policy's mean over the repeats
# against its simulation under the profile, and the executed MB/EB gap against its noise, which decides
# whether a point is counted above.

# %%
Markdown(load_curves.validation_throughput_markdown(read_validation_throughput(results)))

# %% [markdown]
# ## Which scheduler wins where, per workload
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
# The load-dependent decision Δ(N) (notebook 2 separates it from the two crossover shares) says light
# load favours MB and heavy load EB: the right side of its inequality falls as 1/N. Workloads run at
# several concurrencies show where that happens on each device.

# %%
show(scheduling.scheduler_concurrency(results))

# %% [markdown]
# ## 4. fair against MB under SLO
#
# `fair` (scheduler/fair.py, after FairBatching, arXiv 2510.14392) sizes each step with the profile's
# step model to the tightest decode deadline and shares a TPOT's worth of time with queued prefills by
# deadline slack. Capacity is the highest offered load ρ (the `:load=` above) at which ≥ 90% of requests
# meet both SLOs (bisection); TTFT p99 and TPOT SLO attainment are compared at MB's capacity and half of it
# (`benchmarks/fair_vs_mb.py`, simulated). fair holds the TPOT envelope per token, which is stricter than
# the per-request mean TPOT the SLO scores: where MB's fixed budget already keeps the mean within the
# SLO, fair gives prefills less than MB does near capacity, and its TTFT tail is longer. It gains where
# MB's budget breaks TPOT (a large budget against a tight TPOT SLO). The executed check below compares the
# step times fair planned with what the CPU took (`benchmarks/fair_executed.py`), under a calibration of
# the same machine, and splits the gap by re-timing probe-style after each run: the step model against
# the executed batches' own compositions, the engine's single steps against those medians, and the
# machine's drift since it was profiled. It also compares TPOT SLO attainment at an SLO that fair's
# simulation meets for about half of the requests, where a few percent of step-time error moves many
# requests across the SLO (at a loose SLO every request meets it whatever the step times).

# %%
Markdown(fair_study.fair_vs_mb_markdown(results))
